// SPDX-License-Identifier: Apache-2.0
/*
 * tcfg.c: Kafka's topic configs as the control plane knows them: their names, types and
 * validators (CreateTopics rejects anything else with INVALID_CONFIG), the broker configs
 * each one falls back to (synonyms, for DescribeConfigs), Kafka's defaults, and how a value
 * lands in struct sl_plog_cfg (the storage engine's view of a topic).
 *
 * Control thread only (or tests). Pure functions over a constant table; no allocation.
 *
 * Configs that storage does not act on yet (compression.type, min.insync.replicas,
 * message.timestamp.type, ...) are accepted, validated, persisted and described, so
 * admin tools that set them keep working; they have no effect (see the table's "plog"
 * column: PF_NONE).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/ctrl_int.h"

enum plog_field {
	PF_NONE = 0,
	PF_SEGMENT_BYTES,
	PF_SEGMENT_MS,
	PF_RETENTION_MS,
	PF_RETENTION_BYTES,
	PF_FLUSH_MESSAGES,
	PF_FLUSH_MS,
	PF_CLEANUP_POLICY,
	PF_DELETE_RETENTION_MS,
	PF_MIN_COMPACTION_LAG_MS,
	PF_MAX_MESSAGE_BYTES,
	PF_INDEX_INTERVAL_BYTES,
	PF_SEGMENT_INDEX_BYTES,
};

enum tcfg_type { TT_LONG, TT_INT, TT_DOUBLE, TT_BOOL, TT_STRING, TT_LIST, TT_REPLICAS };

static const char *const cleanup_choices[] = {"compact", "delete", NULL};
static const char *const compression_choices[] = {"uncompressed", "zstd",     "lz4", "snappy",
                                                  "gzip",         "producer", NULL};
static const char *const ts_type_choices[] = {"CreateTime", "LogAppendTime", NULL};

#define LMAX INT64_MAX
#define IMAX INT32_MAX

/*
 * Sorted by name (DescribeConfigs lists them in this order). broker[0] is the broker
 * config Kafka derives the topic default from; broker[1..] are further synonyms in
 * Kafka's order of precedence (log.retention.ms > .minutes > .hours).
 */
/* clang-format off */
static const struct sl_tcfg_def defs[] = {
	{"cleanup.policy", {"log.cleanup.policy"}, TT_LIST, 0, 0, cleanup_choices, "delete",
	 PF_CLEANUP_POLICY},
	{"compression.type", {"compression.type"}, TT_STRING, 0, 0, compression_choices,
	 "producer", PF_NONE},
	{"delete.retention.ms", {"log.cleaner.delete.retention.ms"}, TT_LONG, 0, LMAX, NULL,
	 "86400000", PF_DELETE_RETENTION_MS},
	{"file.delete.delay.ms", {"log.segment.delete.delay.ms"}, TT_LONG, 0, LMAX, NULL, "60000",
	 PF_NONE},
	{"flush.messages", {"log.flush.interval.messages"}, TT_LONG, 1, LMAX, NULL,
	 "9223372036854775807", PF_FLUSH_MESSAGES},
	{"flush.ms", {"log.flush.interval.ms"}, TT_LONG, 0, LMAX, NULL, "9223372036854775807",
	 PF_FLUSH_MS},
	{"follower.replication.throttled.replicas", {NULL}, TT_REPLICAS, 0, 0, NULL, "",
	 PF_NONE},
	{"index.interval.bytes", {"log.index.interval.bytes"}, TT_INT, 0, IMAX, NULL, "4096",
	 PF_INDEX_INTERVAL_BYTES},
	{"leader.replication.throttled.replicas", {NULL}, TT_REPLICAS, 0, 0, NULL, "", PF_NONE},
	{"local.retention.bytes", {"log.local.retention.bytes"}, TT_LONG, -2, LMAX, NULL, "-2",
	 PF_NONE},
	{"local.retention.ms", {"log.local.retention.ms"}, TT_LONG, -2, LMAX, NULL, "-2",
	 PF_NONE},
	{"max.compaction.lag.ms", {"log.cleaner.max.compaction.lag.ms"}, TT_LONG, 1, LMAX, NULL,
	 "9223372036854775807", PF_NONE},
	{"max.message.bytes", {"message.max.bytes"}, TT_INT, 0, IMAX, NULL, "1048588",
	 PF_MAX_MESSAGE_BYTES},
	{"message.downconversion.enable", {"log.message.downconversion.enable"}, TT_BOOL, 0, 0,
	 NULL, "true", PF_NONE},
	{"message.format.version", {"log.message.format.version"}, TT_STRING, 0, 0, NULL,
	 "3.0-IV1", PF_NONE},
	{"message.timestamp.after.max.ms", {"log.message.timestamp.after.max.ms"}, TT_LONG, 0,
	 LMAX, NULL, "9223372036854775807", PF_NONE},
	{"message.timestamp.before.max.ms", {"log.message.timestamp.before.max.ms"}, TT_LONG, 0,
	 LMAX, NULL, "9223372036854775807", PF_NONE},
	{"message.timestamp.difference.max.ms", {"log.message.timestamp.difference.max.ms"},
	 TT_LONG, 0, LMAX, NULL, "9223372036854775807", PF_NONE},
	{"message.timestamp.type", {"log.message.timestamp.type"}, TT_STRING, 0, 0,
	 ts_type_choices, "CreateTime", PF_NONE},
	{"min.cleanable.dirty.ratio", {"log.cleaner.min.cleanable.ratio"}, TT_DOUBLE, 0, 1, NULL,
	 "0.5", PF_NONE},
	{"min.compaction.lag.ms", {"log.cleaner.min.compaction.lag.ms"}, TT_LONG, 0, LMAX, NULL,
	 "0", PF_MIN_COMPACTION_LAG_MS},
	{"min.insync.replicas", {"min.insync.replicas"}, TT_INT, 1, IMAX, NULL, "1", PF_NONE},
	{"preallocate", {"log.preallocate"}, TT_BOOL, 0, 0, NULL, "false", PF_NONE},
	{"remote.storage.enable", {NULL}, TT_BOOL, 0, 0, NULL, "false", PF_NONE},
	{"retention.bytes", {"log.retention.bytes"}, TT_LONG, INT64_MIN, LMAX, NULL, "-1",
	 PF_RETENTION_BYTES},
	{"retention.ms", {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	 TT_LONG, -1, LMAX, NULL, "604800000", PF_RETENTION_MS},
	{"segment.bytes", {"log.segment.bytes"}, TT_INT, 14, IMAX, NULL, "1073741824",
	 PF_SEGMENT_BYTES},
	{"segment.index.bytes", {"log.index.size.max.bytes"}, TT_INT, 4, IMAX, NULL, "10485760",
	 PF_SEGMENT_INDEX_BYTES},
	{"segment.jitter.ms", {"log.roll.jitter.ms", "log.roll.jitter.hours"}, TT_LONG, 0, LMAX,
	 NULL, "0", PF_NONE},
	{"segment.ms", {"log.roll.ms", "log.roll.hours"}, TT_LONG, 1, LMAX, NULL, "604800000",
	 PF_SEGMENT_MS},
	{"unclean.leader.election.enable", {"unclean.leader.election.enable"}, TT_BOOL, 0, 0,
	 NULL, "false", PF_NONE},
};
/* clang-format on */

_Static_assert(SL_ARRAY_SIZE(defs) <= SL_TCFG_MAX, "overrides bitmask is 64 bits");

unsigned
sl_tcfg_count(void)
{
	return SL_ARRAY_SIZE(defs);
}

const struct sl_tcfg_def *
sl_tcfg_def(unsigned i)
{
	return i < SL_ARRAY_SIZE(defs) ? &defs[i] : NULL;
}

int
sl_tcfg_find(const char *name, size_t len)
{
	for (unsigned i = 0; i < SL_ARRAY_SIZE(defs); i++)
		if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Kafka trims config values before parsing them (ConfigDef.parseType). */
static void
trim(const char **p, size_t *len)
{
	while (*len && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) {
		(*p)++;
		(*len)--;
	}
	while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t' || (*p)[*len - 1] == '\n' ||
	                (*p)[*len - 1] == '\r'))
		(*len)--;
}

/* Java's Long.parseLong: optional sign, decimal digits, no overflow. */
static int
parse_long(const char *p, size_t len, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	if (len && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == len)
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		d = (unsigned)(p[i] - '0');
		if (v > (lim - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static bool
in_choices(const char *const *choices, const char *p, size_t len)
{
	for (; *choices; choices++)
		if (strlen(*choices) == len && memcmp(*choices, p, len) == 0)
			return true;
	return false;
}

/* "" or "*" or "partition:broker[,partition:broker...]" (Kafka's ThrottledReplicaListValidator). */
static bool
valid_replicas(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || (len == 1 && p[0] == '*'))
		return true;
	while (i < len) {
		size_t d1 = 0, d2 = 0;

		while (i < len && p[i] == ' ')
			i++;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++, d1++;
		if (!d1 || i >= len || p[i++] != ':')
			return false;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++, d2++;
		if (!d2)
			return false;
		while (i < len && p[i] == ' ')
			i++;
		if (i < len && p[i++] != ',')
			return false;
		if (i == len && p[len - 1] == ',')
			return false;
	}
	return true;
}

/* A comma-separated list of "compact" / "delete" (Kafka's ValidList; empty is allowed). */
static int
parse_cleanup(const char *p, size_t len, unsigned *out)
{
	unsigned pol = 0;
	size_t start = 0;

	if (len == 0) {
		*out = 0;
		return 0;
	}
	for (size_t i = 0; i <= len; i++) {
		const char *w = p + start;
		size_t n = i - start;

		if (i < len && p[i] != ',')
			continue;
		trim(&w, &n);
		if (n == 7 && memcmp(w, "compact", 7) == 0)
			pol |= SL_CLEANUP_COMPACT;
		else if (n == 6 && memcmp(w, "delete", 6) == 0)
			pol |= SL_CLEANUP_DELETE;
		else
			return -EINVAL;
		start = i + 1;
	}
	*out = pol;
	return 0;
}

int
sl_tcfg_validate(unsigned idx, const char *val, size_t len, char *err, size_t errlen)
{
	const struct sl_tcfg_def *d = sl_tcfg_def(idx);
	int64_t v;
	unsigned pol;

	if (!d)
		return -EINVAL;
	if (!val) {
		snprintf(err, errlen, "Null value not supported for topic configs: %s", d->name);
		return -EINVAL;
	}
	trim(&val, &len);
	switch (d->type) {
	case TT_LONG:
	case TT_INT:
		if (parse_long(val, len, &v) < 0 ||
		    (d->type == TT_INT && (v < INT32_MIN || v > INT32_MAX))) {
			snprintf(err, errlen,
			         "Invalid value %.*s for configuration %s: Not a number "
			         "of type %s",
			         (int)SL_MIN(len, 64), val, d->name,
			         d->type == TT_INT ? "INT" : "LONG");
			return -EINVAL;
		}
		if (v < d->min || v > d->max) {
			snprintf(err, errlen,
			         "Invalid value %" PRId64 " for configuration %s: Value "
			         "must be at least %" PRId64,
			         v, d->name, d->min);
			return -EINVAL;
		}
		return 0;
	case TT_DOUBLE: {
		char buf[64], *end;
		double x;

		if (len == 0 || len >= sizeof(buf))
			goto bad;
		memcpy(buf, val, len);
		buf[len] = 0;
		x = strtod(buf, &end);
		if (*end || isnan(x) || x < (double)d->min || x > (double)d->max)
			goto bad;
		return 0;
	}
	case TT_BOOL:
		if ((len == 4 && strncasecmp(val, "true", 4) == 0) ||
		    (len == 5 && strncasecmp(val, "false", 5) == 0))
			return 0;
		goto bad;
	case TT_STRING:
		if (d->choices ? in_choices(d->choices, val, len) : len > 0)
			return 0;
		goto bad;
	case TT_LIST:
		if (parse_cleanup(val, len, &pol) == 0)
			return 0;
		goto bad;
	case TT_REPLICAS:
		if (valid_replicas(val, len))
			return 0;
		goto bad;
	}
bad:
	snprintf(err, errlen, "Invalid value %.*s for configuration %s", (int)SL_MIN(len, 64), val,
	         d->name);
	return -EINVAL;
}

void
sl_tcfg_apply(struct sl_plog_cfg *cfg, unsigned idx, const char *val)
{
	const struct sl_tcfg_def *d = sl_tcfg_def(idx);
	size_t len = strlen(val);
	int64_t v = 0;
	unsigned pol;

	if (!d || d->plog == PF_NONE)
		return;
	trim(&val, &len);
	if (d->plog == PF_CLEANUP_POLICY) {
		if (parse_cleanup(val, len, &pol) == 0)
			cfg->cleanup_policy = pol;
		return;
	}
	if (parse_long(val, len, &v) < 0)
		return; /* validated before; a hand-edited file may still hold junk */
	switch ((enum plog_field)d->plog) {
	case PF_SEGMENT_BYTES:
		cfg->segment_bytes = (uint64_t)v;
		break;
	case PF_SEGMENT_MS:
		cfg->segment_ms = v;
		break;
	case PF_RETENTION_MS:
		cfg->retention_ms = v;
		break;
	case PF_RETENTION_BYTES:
		cfg->retention_bytes = v;
		break;
	case PF_FLUSH_MESSAGES:
		cfg->flush_messages = v;
		break;
	case PF_FLUSH_MS:
		cfg->flush_ms = v;
		break;
	case PF_DELETE_RETENTION_MS:
		cfg->delete_retention_ms = v;
		break;
	case PF_MIN_COMPACTION_LAG_MS:
		cfg->min_compaction_lag_ms = v;
		break;
	case PF_MAX_MESSAGE_BYTES:
		cfg->max_message_bytes = (uint32_t)v;
		break;
	case PF_INDEX_INTERVAL_BYTES:
		cfg->index_interval_bytes = (uint32_t)v;
		break;
	case PF_SEGMENT_INDEX_BYTES:
		cfg->segment_index_bytes = (uint64_t)v;
		break;
	case PF_NONE:
	case PF_CLEANUP_POLICY:
		break;
	}
}

/*
 * The value a topic without an override has: the storage default the broker computed
 * (struct sl_plog_cfg, from its log.* settings) for the configs storage acts on, else the
 * broker's setting of broker[0] if it has one, else Kafka's default.
 */
const char *
sl_tcfg_default_value(unsigned idx, const struct sl_plog_cfg *dflt,
                      const char *(*broker_get)(void *arg, const char *name), void *arg, char *buf,
                      size_t buflen)
{
	const struct sl_tcfg_def *d = sl_tcfg_def(idx);
	int64_t v;

	if (!d)
		return NULL;
	switch ((enum plog_field)d->plog) {
	case PF_NONE:
		break;
	case PF_CLEANUP_POLICY:
		if ((dflt->cleanup_policy & (SL_CLEANUP_COMPACT | SL_CLEANUP_DELETE)) ==
		    (SL_CLEANUP_COMPACT | SL_CLEANUP_DELETE))
			return "compact,delete";
		if (dflt->cleanup_policy & SL_CLEANUP_COMPACT)
			return "compact";
		if (dflt->cleanup_policy & SL_CLEANUP_DELETE)
			return "delete";
		return "";
	case PF_SEGMENT_BYTES:
		v = (int64_t)dflt->segment_bytes;
		goto num;
	case PF_SEGMENT_MS:
		v = dflt->segment_ms;
		goto num;
	case PF_RETENTION_MS:
		v = dflt->retention_ms;
		goto num;
	case PF_RETENTION_BYTES:
		v = dflt->retention_bytes;
		goto num;
	case PF_FLUSH_MESSAGES:
		v = dflt->flush_messages;
		goto num;
	case PF_FLUSH_MS:
		v = dflt->flush_ms;
		goto num;
	case PF_DELETE_RETENTION_MS:
		v = dflt->delete_retention_ms;
		goto num;
	case PF_MIN_COMPACTION_LAG_MS:
		v = dflt->min_compaction_lag_ms;
		goto num;
	case PF_MAX_MESSAGE_BYTES:
		v = dflt->max_message_bytes;
		goto num;
	case PF_INDEX_INTERVAL_BYTES:
		v = dflt->index_interval_bytes;
		goto num;
	case PF_SEGMENT_INDEX_BYTES:
		v = (int64_t)dflt->segment_index_bytes;
		goto num;
	}
	if (broker_get && d->broker[0]) {
		const char *b = broker_get(arg, d->broker[0]);

		if (b)
			return b;
	}
	return d->kafka_default;
num:
	snprintf(buf, buflen, "%" PRId64, v);
	return buf;
}
