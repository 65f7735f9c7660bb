// SPDX-License-Identifier: Apache-2.0
/*
 * describe.c: DescribeConfigs 0-2 for topics (resource type 2) and for this broker
 * (resource type 4).
 *
 * Topic configs carry Kafka's names. Each reports its value and where it comes from:
 * TOPIC_CONFIG (1) when the topic overrides it, STATIC_BROKER_CONFIG (4) when the broker's
 * configuration sets the broker config it falls back to (retention.ms <- log.retention.ms,
 * .minutes, .hours ...), else DEFAULT_CONFIG (5). v0 says the same with is_default. With
 * include_synonyms (v1+), the chain behind the value follows in precedence order: the
 * topic override, the broker settings, the default.
 *
 * Broker configs are read-only (no dynamic configs yet): the settings the broker knows,
 * with their effective values, plus every other key of its configuration file as given.
 *
 * Control thread only. Everything is built in the control plane's arena; answers at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kproto/api.h"
#include "common/kproto/describe_configs.h"
#include "control/ctrl_int.h"

enum {
	RT_TOPIC = 2,
	RT_BROKER = 4,
	SRC_TOPIC = 1,
	SRC_STATIC_BROKER = 4,
	SRC_DEFAULT = 5,
};

typedef struct sl_describe_configs_resp_resource_result entry_t;
typedef struct sl_describe_configs_resp_synonym syn_t;

/* Builds entries in the arena; any allocation failure is sticky. */
struct ebuild {
	struct sl_ctrl *c;
	const struct sl_describe_configs_req_resource *rs;
	bool synonyms;
	entry_t *v;
	int32_t n, cap;
	int err;
};

static struct sl_str
str_of(const char *s)
{
	struct sl_str r = {s, s ? (int32_t)strlen(s) : -1};

	return r;
}

static char *arena_printf(struct sl_arena *a, const char *fmt, ...) SL_PRINTF(2, 3);

static char *
arena_printf(struct sl_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = sl_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static char *
arena_strdup(struct sl_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = sl_arena_alloc(a, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* Is key asked for (configuration_keys null = all)? */
static bool
wanted(const struct sl_describe_configs_req_resource *rs, const char *key)
{
	if (rs->configuration_keys_cnt < 0)
		return true;
	for (int32_t i = 0; i < rs->configuration_keys_cnt; i++)
		if (sl_kp_str_is(&rs->configuration_keys[i], key))
			return true;
	return false;
}

static entry_t *
add_entry(struct ebuild *b, const char *name, const char *value, int8_t source, bool read_only)
{
	entry_t *e;
	bool sensitive =
	        strstr(name, "password") || strstr(name, "secret") || strstr(name, "sasl.jaas");

	if (b->err || !wanted(b->rs, name))
		return NULL;
	if (b->n == b->cap) {
		int32_t cap = b->cap ? b->cap * 2 : 64;
		entry_t *v = sl_arena_alloc(&b->c->arena, (size_t)cap * sizeof(*v));

		if (!v) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->n)
			memcpy(v, b->v, (size_t)b->n * sizeof(*v));
		b->v = v;
		b->cap = cap;
	}
	e = &b->v[b->n++];
	sl_describe_configs_resp_resource_result_init(e);
	e->name = str_of(name);
	e->value = str_of(sensitive ? NULL : value);
	e->read_only = read_only;
	e->is_default = source == SRC_DEFAULT;
	e->config_source = source;
	e->is_sensitive = sensitive;
	e->synonyms_cnt = 0;
	return e;
}

static void
add_synonym(struct ebuild *b, entry_t *e, const char *name, const char *value, int8_t source)
{
	syn_t *v;

	if (!e || !b->synonyms || b->err)
		return;
	/* At most 5 synonyms per entry: reserve them on the first. */
	if (e->synonyms_cnt == 0) {
		e->synonyms = sl_arena_alloc(&b->c->arena, 5 * sizeof(syn_t));
		if (!e->synonyms) {
			b->err = -ENOMEM;
			return;
		}
	}
	if (e->synonyms_cnt >= 5)
		return;
	v = &e->synonyms[e->synonyms_cnt++];
	sl_describe_configs_resp_synonym_init(v);
	v->name = str_of(name);
	v->value = str_of(e->is_sensitive ? NULL : value);
	v->source = source;
}

static void
describe_topic(struct ebuild *b, const struct ctl_topic *t)
{
	struct sl_ctrl *c = b->c;

	for (unsigned i = 0; i < sl_tcfg_count(); i++) {
		const struct sl_tcfg_def *d = sl_tcfg_def(i);
		char buf[32];
		const char *dflt, *bset = NULL, *bval = NULL;
		bool ovr = t->overrides & (1ULL << i);
		entry_t *e;

		if (!wanted(b->rs, d->name))
			continue;
		for (unsigned k = 0; k < SL_ARRAY_SIZE(d->broker) && d->broker[k] && !bset; k++)
			if ((bval = ctl_bprop(c, d->broker[k])))
				bset = d->broker[k];
		dflt = sl_tcfg_default_value(i, &c->o.topic_defaults, ctl_bprop, c, buf,
		                             sizeof(buf));
		dflt = arena_strdup(&c->arena, dflt);
		if (!dflt) {
			b->err = -ENOMEM;
			return;
		}
		e = add_entry(b, d->name, ovr ? t->ovr[i] : dflt,
		              ovr    ? SRC_TOPIC
		              : bset ? SRC_STATIC_BROKER
		                     : SRC_DEFAULT,
		              false);
		if (ovr)
			add_synonym(b, e, d->name, t->ovr[i], SRC_TOPIC);
		for (unsigned k = 0; k < SL_ARRAY_SIZE(d->broker) && d->broker[k]; k++) {
			const char *v = ctl_bprop(c, d->broker[k]);

			if (v)
				add_synonym(b, e, d->broker[k], v, SRC_STATIC_BROKER);
		}
		add_synonym(b, e, d->broker[0] ? d->broker[0] : d->name, d->kafka_default,
		            SRC_DEFAULT);
	}
}

static const char *
bool_str(bool v)
{
	return v ? "true" : "false";
}

/* One broker setting: the props value when set (source 4), else dflt (source 5). */
static void
broker_kv(struct ebuild *b, const char *name, const char *dflt)
{
	const char *v = ctl_bprop(b->c, name);
	entry_t *e;

	if (!dflt && !v)
		return;
	e = add_entry(b, name, v ? v : dflt, v ? SRC_STATIC_BROKER : SRC_DEFAULT, true);
	add_synonym(b, e, name, v ? v : dflt, v ? SRC_STATIC_BROKER : SRC_DEFAULT);
}

/* Broker settings backed by a computed value: source 4 when any of its keys is set. */
static void
broker_eff(struct ebuild *b, const char *name, const char *value, const char *const *keys,
           unsigned nkeys)
{
	bool set = false;
	entry_t *e;

	for (unsigned k = 0; k < nkeys && keys[k]; k++)
		set = set || ctl_bprop(b->c, keys[k]);
	e = add_entry(b, name, value, set ? SRC_STATIC_BROKER : SRC_DEFAULT, true);
	add_synonym(b, e, name, value, set ? SRC_STATIC_BROKER : SRC_DEFAULT);
}

static bool
is_known_broker_key(const char *key)
{
	static const char *const known[] = {
	        "advertised.listeners",
	        "auto.create.topics.enable",
	        "broker.id",
	        "default.replication.factor",
	        "log.dirs",
	        "log.flush.durable",
	        "node.id",
	        "num.partitions",
	        "num.shards",
	};

	for (unsigned i = 0; i < SL_ARRAY_SIZE(known); i++)
		if (strcmp(known[i], key) == 0)
			return true;
	for (unsigned i = 0; i < sl_tcfg_count(); i++)
		if (sl_tcfg_def(i)->broker[0] && strcmp(sl_tcfg_def(i)->broker[0], key) == 0)
			return true;
	return false;
}

static void
describe_broker(struct ebuild *b)
{
	struct sl_ctrl *c = b->c;
	struct sl_arena *a = &c->arena;
	const char *node = arena_printf(a, "%" PRId32, c->o.node_id);
	const char *const adv_keys[] = {"advertised.listeners", "listeners"};
	const char *const id_keys[] = {"broker.id", "node.id"};

	if (!node) {
		b->err = -ENOMEM;
		return;
	}
	broker_eff(
	        b, "advertised.listeners",
	        ctl_bprop(c, "advertised.listeners")
	                ?: arena_printf(a, "PLAINTEXT://%s:%" PRId32, c->adv_host, c->o.adv_port),
	        adv_keys, 2);
	broker_eff(b, "auto.create.topics.enable", bool_str(c->o.auto_create_topics),
	           (const char *const[]){"auto.create.topics.enable"}, 1);
	broker_eff(b, "broker.id", node, id_keys, 2);
	broker_eff(b, "default.replication.factor",
	           arena_printf(a, "%d", c->o.default_replication_factor),
	           (const char *const[]){"default.replication.factor"}, 1);
	broker_eff(b, "log.dirs", c->log_dir, (const char *const[]){"log.dirs", "log.dir"}, 2);
	broker_eff(b, "log.flush.durable", bool_str(c->o.topic_defaults.durable),
	           (const char *const[]){"log.flush.durable"}, 1);
	broker_eff(b, "node.id", node, id_keys, 2);
	broker_eff(b, "num.partitions", arena_printf(a, "%" PRId32, c->o.num_partitions),
	           (const char *const[]){"num.partitions"}, 1);
	broker_eff(b, "num.shards", arena_printf(a, "%u", c->o.nshards),
	           (const char *const[]){"num.shards"}, 1);
	/* The broker side of every topic config. */
	for (unsigned i = 0; i < sl_tcfg_count() && !b->err; i++) {
		const struct sl_tcfg_def *d = sl_tcfg_def(i);
		char buf[32];
		const char *v;

		if (!d->broker[0])
			continue;
		v = sl_tcfg_default_value(i, &c->o.topic_defaults, ctl_bprop, c, buf, sizeof(buf));
		v = arena_strdup(a, v);
		if (!v) {
			b->err = -ENOMEM;
			return;
		}
		broker_eff(b, d->broker[0], v, d->broker, SL_ARRAY_SIZE(d->broker));
	}
	/* Whatever else the configuration file says, as given. */
	for (size_t i = 0; i < c->nbprops && !b->err; i++) {
		bool later = false;

		if (is_known_broker_key(c->bprops[i].key))
			continue;
		for (size_t j = i + 1; j < c->nbprops && !later; j++)
			later = strcmp(c->bprops[i].key, c->bprops[j].key) == 0;
		if (!later)
			broker_kv(b, c->bprops[i].key, NULL);
	}
}

int
ctl_describe_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_describe_configs_req in;
	struct sl_describe_configs_resp out;
	struct sl_describe_configs_resp_result *res;

	sl_describe_configs_req_init(&in);
	if (sl_describe_configs_req_decode(rd, req->api_version, &in) < 0 || in.resources_cnt < 0)
		return -EBADMSG;
	res = sl_arena_alloc(&c->arena,
	                     (size_t)(in.resources_cnt ? in.resources_cnt : 1) * sizeof(*res));
	if (!res)
		return -ENOMEM;
	sl_describe_configs_resp_init(&out);
	for (int32_t i = 0; i < in.resources_cnt; i++) {
		const struct sl_describe_configs_req_resource *rs = &in.resources[i];
		struct sl_describe_configs_resp_result *r = &res[i];
		struct ebuild b = {.c = c, .rs = rs, .synonyms = in.include_synonyms};
		const struct sl_str *nm = &rs->resource_name;
		size_t nlen = nm->len > 0 ? (size_t)nm->len : 0;

		sl_describe_configs_resp_result_init(r);
		r->resource_type = rs->resource_type;
		r->resource_name = *nm;
		r->error_code = KERR_NONE;
		r->configs_cnt = 0;
		if (rs->resource_type == RT_TOPIC) {
			const struct ctl_topic *t;

			if (!ctl_topic_name_valid(nm->p, nlen)) {
				r->error_code = KERR_INVALID_TOPIC_EXCEPTION;
				r->error_message = str_of("Topic name is invalid");
				continue;
			}
			t = ctl_topic_find(c, nm->p, nlen);
			if (!t || t->state == TS_CREATING || t->state == TS_DELETING) {
				r->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				r->error_message = str_of(
				        arena_printf(&c->arena, "The topic '%.*s' does not exist.",
				                     (int)nlen, nm->p));
				continue;
			}
			describe_topic(&b, t);
		} else if (rs->resource_type == RT_BROKER) {
			char id[16];

			snprintf(id, sizeof(id), "%" PRId32, c->o.node_id);
			if (nlen == 0) {
				/* the cluster-wide dynamic defaults: there are none */
			} else if (sl_kp_str_is(nm, id)) {
				describe_broker(&b);
			} else {
				r->error_code = KERR_INVALID_REQUEST;
				r->error_message = str_of(arena_printf(
				        &c->arena,
				        "Unexpected broker id, expected %s or empty string, but "
				        "received %.*s",
				        id, (int)SL_MIN(nlen, 64), nm->p));
				continue;
			}
		} else {
			r->error_code = KERR_INVALID_REQUEST;
			r->error_message = str_of("Unsupported resource type");
			continue;
		}
		if (b.err)
			return -ENOMEM;
		r->configs = b.v;
		r->configs_cnt = b.n;
	}
	out.results = res;
	out.results_cnt = in.resources_cnt;
	ctl_answer_req(c, shard, req, &out);
	return 0;
}
