// SPDX-License-Identifier: Apache-2.0
/*
 * topic.c: the control plane's topic table, the topic state machine (see ctrl_int.h for
 * the diagram and invariants), and the on-disk state that brings topics back after a
 * restart.
 *
 * Control thread only, except ctl_load / ctl_cluster_id_load, which sl_ctrl_start runs on
 * the main thread before the control thread exists. Allocates topics with malloc. Blocks
 * on small file writes with fsync (metadata files are written once per admin operation,
 * never per request).
 *
 * On disk, besides the partition directories the shards' storage engines own:
 *
 *   <log_dir>/meta.properties            version=1, cluster.id=..., node.id=N (Kafka's names)
 *   <log_dir>/.sluice-topics/<topic>.meta one per topic, written atomically (write
 *                                         <topic>.tmp, fsync, rename, fsync the directory):
 *        # sluice topic metadata
 *        version=1
 *        id=<32 hex digits>
 *        partitions=<N>
 *        config.<name>=<value>            one per override; '\\', '\n', '\r' escaped
 *   <log_dir>/.sluice-topics/<topic>.del  the .meta renamed when deletion starts: at start-up
 *                                         the topic's leftover directories are removed
 *
 * A topic is the union of its .meta file and the <topic>-<partition> directories: a
 * directory without a .meta file gets a fresh topic id and no overrides (and a .meta
 * file); the partition count is max(partitions=, highest directory + 1).
 * With opts.metadata_log (sluiced) these files are replaced by the metadata log (mlog.c):
 * existing .meta files are migrated into it at start-up and removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "control/ctrl_int.h"
#include "control/offsets.h"

#define META_SUFFIX ".meta"
#define DEL_SUFFIX ".del"
#define TMP_SUFFIX ".tmp"

bool
ctl_topic_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > SL_TOPIC_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	if (len == strlen(SL_MLOG_TOPIC) && memcmp(name, SL_MLOG_TOPIC, len) == 0)
		return false; /* the metadata log's directory (H3) */
	if (len == strlen(SL_OFFS_TOPIC) && memcmp(name, SL_OFFS_TOPIC, len) == 0)
		return false; /* the committed offsets' log (O: offsets.c) */
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, SL_MIN(alen, blen));

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* Index of name in the sorted table, or of where it would go (*found false). */
static uint32_t
topic_pos(struct sl_ctrl *c, const char *name, size_t len, bool *found)
{
	uint32_t lo = 0, hi = c->ntopics;

	*found = false;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ctl_topic *t = c->topics[mid];
		int r = name_cmp(name, len, t->name, t->name_len);

		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct ctl_topic *
ctl_topic_find(struct sl_ctrl *c, const char *name, size_t len)
{
	bool found;
	uint32_t i;

	if (!name || len > SL_TOPIC_NAME_MAX)
		return NULL;
	i = topic_pos(c, name, len, &found);
	return found ? c->topics[i] : NULL;
}

int
ctl_topic_insert(struct sl_ctrl *c, struct ctl_topic *t)
{
	bool found;
	uint32_t i = topic_pos(c, t->name, t->name_len, &found);

	if (found)
		return -EEXIST;
	if (c->ntopics == c->topics_cap) {
		uint32_t cap = c->topics_cap ? c->topics_cap * 2 : 16;
		struct ctl_topic **v = realloc(c->topics, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->topics = v;
		c->topics_cap = cap;
	}
	memmove(&c->topics[i + 1], &c->topics[i], (c->ntopics - i) * sizeof(*c->topics));
	c->topics[i] = t;
	c->ntopics++;
	return 0;
}

void
ctl_topic_unlink(struct sl_ctrl *c, struct ctl_topic *t)
{
	bool found;
	uint32_t i = topic_pos(c, t->name, t->name_len, &found);

	if (!found || c->topics[i] != t)
		return;
	memmove(&c->topics[i], &c->topics[i + 1], (c->ntopics - i - 1) * sizeof(*c->topics));
	c->ntopics--;
}

static void
random_id(uint8_t id[16])
{
	static const uint8_t zero[16];

	do {
		size_t got = 0;

		while (got < 16) {
			ssize_t n = getrandom(id + got, 16 - got, 0);

			if (n > 0)
				got += (size_t)n;
		}
		id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
		id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* IETF variant */
	} while (memcmp(id, zero, 16) == 0);
}

struct ctl_topic *
ctl_topic_new(struct sl_ctrl *c, const char *name, size_t len, int32_t nparts)
{
	struct ctl_topic *t;

	if (len > SL_TOPIC_NAME_MAX)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	memcpy(t->name, name, len);
	t->name_len = (uint16_t)len;
	t->state = TS_CREATING;
	t->nparts = nparts;
	t->cfg = c->o.topic_defaults;
	t->internal = (len == 18 && memcmp(name, "__consumer_offsets", 18) == 0) ||
	              (len == 19 && memcmp(name, "__transaction_state", 19) == 0);
	random_id(t->id);
	return t;
}

int
ctl_topic_set_override(struct ctl_topic *t, unsigned idx, const char *val, size_t len)
{
	char *v;

	if (idx >= sl_tcfg_count())
		return -EINVAL;
	v = strndup(val, len);
	if (!v)
		return -ENOMEM;
	free(t->ovr[idx]);
	t->ovr[idx] = v;
	t->overrides |= 1ULL << idx;
	sl_tcfg_apply(&t->cfg, idx, v);
	return 0;
}

void
ctl_topic_free(struct ctl_topic *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < SL_TCFG_MAX; i++)
		free(t->ovr[i]);
	free(t);
}

/* ---- files ---- */

static int
path_of(char *buf, size_t len, const char *dir, const char *name, size_t name_len,
        const char *suffix)
{
	int n = snprintf(buf, len, "%s/%.*s%s", dir, (int)name_len, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void
put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\r')
			fputs("\\r", f);
		else
			fputc(*s, f);
	}
}

static void
meta_format(FILE *f, const struct ctl_topic *t, int32_t nparts)
{
	fprintf(f, "# sluice topic metadata\nversion=1\nid=");
	for (int i = 0; i < 16; i++)
		fprintf(f, "%02x", t->id[i]);
	fprintf(f, "\npartitions=%" PRId32 "\n", nparts);
	for (unsigned i = 0; i < sl_tcfg_count(); i++) {
		if (!(t->overrides & (1ULL << i)))
			continue;
		fprintf(f, "config.%s=", sl_tcfg_def(i)->name);
		put_escaped(f, t->ovr[i]);
		fputc('\n', f);
	}
}

/* The metadata log (H3): the topic's whole state as one record. */
static int
mlog_write(struct sl_ctrl *c, const struct ctl_topic *t, int32_t nparts)
{
	const char *op = t->state == TS_CREATING || t->loading ? "create"
	                 : nparts != t->nparts                  ? "partitions"
	                                                        : "config";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	meta_format(f, t, nparts);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = ctl_mlog_append(c, op, t->name, t->name_len, buf, len);
	free(buf);
	return r;
}

int
ctl_meta_write(struct sl_ctrl *c, const struct ctl_topic *t, int32_t nparts)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	FILE *f;
	int fd, r;

	if (ctl_mlog_on(c))
		return mlog_write(c, t, nparts);

	r = path_of(tmp, sizeof(tmp), c->topics_dir, t->name, t->name_len, TMP_SUFFIX);
	if (!r)
		r = path_of(dst, sizeof(dst), c->topics_dir, t->name, t->name_len, META_SUFFIX);
	if (r)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		goto out_unlink;
	}
	meta_format(f, t, nparts);
	if (fflush(f) != 0 || fsync(fd) < 0) {
		r = -errno;
		fclose(f);
		goto out_unlink;
	}
	if (fclose(f) != 0) {
		r = -errno;
		goto out_unlink;
	}
	if (rename(tmp, dst) < 0) {
		r = -errno;
		goto out_unlink;
	}
	return fsync_dir(c->topics_dir);
out_unlink:
	unlink(tmp);
	return r;
}

/* DeleteTopics: the .meta becomes a .del marker, so a crash finishes the deletion. */
static int
meta_mark_deleted(struct sl_ctrl *c, const struct ctl_topic *t)
{
	char src[PATH_MAX], dst[PATH_MAX];
	int r;

	if (ctl_mlog_on(c)) /* a tombstone: a crash finishes the deletion at start-up */
		return ctl_mlog_append(c, "delete", t->name, t->name_len, NULL, 0);
	r = path_of(src, sizeof(src), c->topics_dir, t->name, t->name_len, META_SUFFIX);
	if (!r)
		r = path_of(dst, sizeof(dst), c->topics_dir, t->name, t->name_len, DEL_SUFFIX);
	if (r)
		return r;
	if (rename(src, dst) < 0) {
		int fd;

		if (errno != ENOENT)
			return -errno;
		fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	return fsync_dir(c->topics_dir);
}

static void
meta_forget(struct sl_ctrl *c, const char *name, size_t len)
{
	char p[PATH_MAX];

	if (path_of(p, sizeof(p), c->topics_dir, name, len, DEL_SUFFIX) == 0 && unlink(p) == 0)
		(void)fsync_dir(c->topics_dir);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		SL_WARN("control: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Removes <log_dir>/<topic>-<p> for p in [from, to) if present. */
static void
rm_partition_dirs(struct sl_ctrl *c, const char *name, size_t len, int32_t from, int32_t to)
{
	char p[PATH_MAX];
	struct stat sb;

	for (int32_t i = from; i < to; i++) {
		int n = snprintf(p, sizeof(p), "%s/%.*s-%" PRId32, c->log_dir, (int)len, name, i);

		if (n < 0 || (size_t)n >= sizeof(p) || lstat(p, &sb) < 0)
			continue;
		(void)nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
}

/* "<topic>-<partition>": the partition, or -1 if name is not a partition directory. */
static int32_t
parse_part_dir(const char *name, size_t *topic_len)
{
	const char *dash = strrchr(name, '-');
	const char *d;
	int64_t p = 0;

	if (!dash || dash == name || !dash[1] || strlen(dash + 1) > 9)
		return -1;
	if (dash[1] == '0' && dash[2]) /* no leading zeros: "t-01" is not ours */
		return -1;
	for (d = dash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		p = p * 10 + (*d - '0');
	}
	if (p >= NPARTS_MAX)
		return -1;
	*topic_len = (size_t)(dash - name);
	if (!ctl_topic_name_valid(name, *topic_len))
		return -1;
	return (int32_t)p;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void
unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*w++ = *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

/* Reads one .meta file into a new topic (state CREATING, loading). */
/* Parses the .meta text format from f (path: for messages); does not close f. */
static struct ctl_topic *
meta_parse(struct sl_ctrl *c, FILE *f, const char *path, const char *name, size_t len)
{
	struct ctl_topic *t;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	char err[256];

	t = ctl_topic_new(c, name, len, 0);
	if (!t)
		goto out;
	t->loading = true;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *eq, *val;

		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (!n || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		val = eq + 1;
		if (strcmp(line, "id") == 0 && strlen(val) == 32) {
			uint8_t id[16];
			bool ok = true;

			for (int i = 0; i < 16; i++) {
				int hi = hexval(val[2 * i]), lo = hexval(val[2 * i + 1]);

				ok = ok && hi >= 0 && lo >= 0;
				id[i] = (uint8_t)((hi << 4) | (lo & 0xf));
			}
			if (ok)
				memcpy(t->id, id, 16);
		} else if (strcmp(line, "partitions") == 0) {
			long v = strtol(val, NULL, 10);

			if (v > 0 && v <= NPARTS_MAX)
				t->nparts = (int32_t)v;
		} else if (strncmp(line, "config.", 7) == 0) {
			int idx = sl_tcfg_find(line + 7, strlen(line + 7));

			unescape(val);
			if (idx < 0 || sl_tcfg_validate((unsigned)idx, val, strlen(val), err,
			                                sizeof(err)) < 0) {
				SL_WARN("control: %s: ignoring config %s=%s", path, line + 7, val);
				continue;
			}
			if (ctl_topic_set_override(t, (unsigned)idx, val, strlen(val)) < 0) {
				ctl_topic_free(t);
				t = NULL;
				break;
			}
		}
	}
out:
	free(line);
	return t;
}

static struct ctl_topic *
meta_read(struct sl_ctrl *c, const char *path, const char *name, size_t len)
{
	struct ctl_topic *t;
	FILE *f = fopen(path, "re");

	if (!f) {
		SL_WARN("control: cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	t = meta_parse(c, f, path, name, len);
	fclose(f);
	return t;
}

/* A stale deletion: remove every <topic>-<N> directory, then the marker. */
static void
finish_deletion(struct sl_ctrl *c, const char *name, size_t len)
{
	DIR *d = opendir(c->log_dir);
	struct dirent *e;
	int32_t max = -1;

	if (d) {
		while ((e = readdir(d))) {
			size_t tl;
			int32_t p = parse_part_dir(e->d_name, &tl);

			if (p >= 0 && tl == len && memcmp(e->d_name, name, len) == 0 && p > max)
				max = p;
		}
		closedir(d);
	}
	if (max >= 0)
		SL_INFO("control: finishing the deletion of topic %.*s", (int)len, name);
	rm_partition_dirs(c, name, len, 0, max + 1);
	meta_forget(c, name, len);
}

/* ---- the metadata log at start-up (H3) ---- */

/* The last record of each topic name in the metadata log. */
struct mlog_state {
	struct mlog_ent {
		char *name;
		size_t len;
		char *val; /* NULL: deleted */
		size_t vlen;
	} *v;
	size_t n, cap;
	int err;
};

static void
mlog_collect(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct mlog_state *s = arg;
	struct mlog_ent *e = NULL;
	char *nv = NULL;

	if (s->err)
		return;
	for (size_t i = 0; i < s->n && !e; i++)
		if (s->v[i].len == klen && memcmp(s->v[i].name, key, klen) == 0)
			e = &s->v[i];
	if (val && !(nv = strndup(val, vlen)))
		goto out_nomem;
	if (!e) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct mlog_ent *v = realloc(s->v, cap * sizeof(*v));

			if (!v)
				goto out_nomem;
			s->v = v;
			s->cap = cap;
		}
		e = &s->v[s->n];
		e->name = strndup(key, klen);
		if (!e->name)
			goto out_nomem;
		e->len = klen;
		e->val = NULL;
		s->n++;
	}
	free(e->val);
	e->val = nv;
	e->vlen = vlen;
	return;
out_nomem:
	free(nv);
	s->err = -ENOMEM;
}

static bool
mlog_knows(const struct mlog_state *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].len == len && memcmp(s->v[i].name, name, len) == 0)
			return true;
	return false;
}

static void
mlog_state_free(struct mlog_state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].val);
	}
	free(s->v);
}

/* Replays the metadata log into the topic table; tombstoned topics get their leftover
 * directories removed. */
static int
mlog_load(struct sl_ctrl *c, struct mlog_state *s)
{
	int r = ctl_mlog_open(c, mlog_collect, s);

	if (r < 0)
		return r;
	if (s->err)
		return s->err;
	for (size_t i = 0; i < s->n; i++) {
		struct mlog_ent *e = &s->v[i];
		struct ctl_topic *t;
		FILE *f;

		if (!ctl_topic_name_valid(e->name, e->len))
			continue;
		if (!e->val) {
			finish_deletion(c, e->name, e->len);
			continue;
		}
		f = fmemopen(e->val, e->vlen, "r");
		if (!f)
			return -ENOMEM;
		t = meta_parse(c, f, SL_MLOG_TOPIC, e->name, e->len);
		fclose(f);
		if (!t)
			return -ENOMEM;
		if (ctl_topic_insert(c, t) < 0) {
			ctl_topic_free(t);
			return -ENOMEM;
		}
	}
	return 0;
}

static int
mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		p[i] = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		p[i] = i < len ? '/' : 0;
	}
	return 0;
}

int
ctl_load(struct sl_ctrl *c)
{
	struct mlog_state ms = {0};
	struct dirent *e;
	DIR *d;
	int r;

	r = mkdir_p(c->log_dir);
	if (!r)
		r = mkdir_p(c->topics_dir);
	if (r) {
		SL_ERR("control: cannot create %s: %s", c->topics_dir, strerror(-r));
		return r;
	}
	/* 0. the metadata log, if enabled: its topics win over legacy files */
	if (c->o.metadata_log) {
		r = mlog_load(c, &ms);
		if (r) {
			mlog_state_free(&ms);
			return r;
		}
	}
	/* 1. metadata files: finish interrupted deletions, drop temp files, read topics;
	 *    with the metadata log, migrate them into it (or drop them when it knows the
	 *    topic already) */
	d = opendir(c->topics_dir);
	if (!d) {
		mlog_state_free(&ms);
		return -errno;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), sl;
		char path[PATH_MAX];

		if (e->d_name[0] == '.' && (n == 1 || (n == 2 && e->d_name[1] == '.')))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", c->topics_dir, e->d_name) >=
		    (int)sizeof(path))
			continue;
		if (n > (sl = strlen(TMP_SUFFIX)) && strcmp(e->d_name + n - sl, TMP_SUFFIX) == 0) {
			unlink(path);
		} else if (n > (sl = strlen(DEL_SUFFIX)) &&
		           strcmp(e->d_name + n - sl, DEL_SUFFIX) == 0) {
			if (ctl_topic_name_valid(e->d_name, n - sl))
				finish_deletion(c, e->d_name, n - sl);
		} else if (n > (sl = strlen(META_SUFFIX)) &&
		           strcmp(e->d_name + n - sl, META_SUFFIX) == 0 &&
		           ctl_topic_name_valid(e->d_name, n - sl)) {
			struct ctl_topic *t;

			if (ctl_mlog_on(c) && mlog_knows(&ms, e->d_name, n - sl)) {
				unlink(path); /* migrated earlier; the log is newer */
				continue;
			}
			t = meta_read(c, path, e->d_name, n - sl);
			if (!t) {
				r = -ENOMEM;
				break;
			}
			if (ctl_topic_insert(c, t) < 0) {
				ctl_topic_free(t);
				r = -ENOMEM;
				break;
			}
			if (ctl_mlog_on(c)) {
				r = ctl_meta_write(c, t, t->nparts);
				if (r < 0)
					break;
				SL_INFO("control: topic %s migrated to the metadata log", t->name);
				unlink(path);
			}
		}
	}
	closedir(d);
	mlog_state_free(&ms);
	if (r)
		return r;
	/* 2. partition directories */
	d = opendir(c->log_dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct ctl_topic *t;
		struct stat sb;
		char path[PATH_MAX];
		size_t tl;
		int32_t p = parse_part_dir(e->d_name, &tl);

		if (p < 0 || (tl == strlen(SL_MLOG_TOPIC) &&
		              memcmp(e->d_name, SL_MLOG_TOPIC, tl) == 0) ||
		    (tl == strlen(SL_OFFS_TOPIC) && memcmp(e->d_name, SL_OFFS_TOPIC, tl) == 0))
			continue; /* internal logs of the control thread */
		if (snprintf(path, sizeof(path), "%s/%s", c->log_dir, e->d_name) >=
		            (int)sizeof(path) ||
		    stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		t = ctl_topic_find(c, e->d_name, tl);
		if (!t) {
			t = ctl_topic_new(c, e->d_name, tl, 0);
			if (!t || ctl_topic_insert(c, t) < 0) {
				ctl_topic_free(t);
				r = -ENOMEM;
				break;
			}
			t->loading = true;
			t->no_meta = true;
		}
		if (p + 1 > t->nparts)
			t->nparts = p + 1;
	}
	closedir(d);
	if (r)
		return r;
	/* 3. every topic: a .meta file for the new ones, then open all partitions */
	for (uint32_t i = 0; i < c->ntopics; i++) {
		struct ctl_topic *t = c->topics[i];

		if (t->nparts <= 0) /* a .meta without partitions= nor directories */
			t->nparts = 1;
		if (t->no_meta) {
			t->no_meta = false;
			r = ctl_meta_write(c, t, t->nparts);
			if (r < 0)
				SL_WARN("control: cannot write metadata of topic %s: %s", t->name,
				        strerror(-r));
		}
		c->loading++;
		for (int32_t p = 0; p < t->nparts; p++)
			if (ctl_send_partop(c, t, SL_MSG_PART_OPEN, p) < 0)
				return -ENOMEM;
	}
	if (c->ntopics)
		SL_INFO("control: %u topic(s) found in %s", c->ntopics, c->log_dir);
	return 0;
}

static void
base64url(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = tab[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	out[o] = 0;
}

int
ctl_cluster_id_load(struct sl_ctrl *c)
{
	char path[PATH_MAX], tmp[PATH_MAX], *line = NULL, *found = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int r = 0;

	if (snprintf(path, sizeof(path), "%s/meta.properties", c->log_dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/meta.properties.tmp", c->log_dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (f) {
		while ((n = getline(&line, &cap, f)) >= 0) {
			while (n &&
			       (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
				line[--n] = 0;
			if (strncmp(line, "cluster.id=", 11) == 0 && line[11]) {
				free(found);
				found = strdup(line + 11);
			} else if (strncmp(line, "node.id=", 8) == 0 &&
			           strtol(line + 8, NULL, 10) != c->o.node_id) {
				SL_WARN("control: %s says node.id=%s but this broker is node "
				        "%" PRId32,
				        path, line + 8, c->o.node_id);
			}
		}
		free(line);
		fclose(f);
	}
	if (c->cluster_id) { /* configured: it wins */
		if (found && strcmp(found, c->cluster_id) != 0)
			SL_WARN("control: cluster id %s replaces %s from %s", c->cluster_id, found,
			        path);
		if (found && strcmp(found, c->cluster_id) == 0) {
			free(found);
			return 0;
		}
		free(found);
	} else if (found) {
		c->cluster_id = found;
		return 0;
	} else {
		uint8_t raw[16];

		random_id(raw);
		c->cluster_id = malloc(23);
		if (!c->cluster_id)
			return -ENOMEM;
		base64url(raw, 16, c->cluster_id);
	}
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "#\n# written by sluice\nversion=1\ncluster.id=%s\nnode.id=%" PRId32 "\n",
	        c->cluster_id, c->o.node_id);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	return fsync_dir(c->log_dir);
}

/* ---- transitions ---- */

static void topic_settle(struct sl_ctrl *c, struct ctl_topic *t);

static void
send_range(struct sl_ctrl *c, struct ctl_topic *t, uint32_t type, int32_t from, int32_t to)
{
	for (int32_t p = from; p < to; p++) {
		if (ctl_send_partop(c, t, type, p) < 0) {
			if (!t->op_err)
				t->op_err = -ENOMEM;
			break;
		}
	}
	if (t->outstanding == 0)
		topic_settle(c, t);
}

int
ctl_topic_create(struct sl_ctrl *c, struct ctl_topic *t)
{
	int r;

	if (t->nparts <= 0 || t->nparts > NPARTS_MAX)
		return -EINVAL;
	r = ctl_meta_write(c, t, t->nparts);
	if (r < 0) {
		SL_ERR("control: cannot write metadata of topic %s: %s", t->name, strerror(-r));
		return r;
	}
	r = ctl_topic_insert(c, t);
	if (r < 0)
		return r;
	/* Directories a failed deletion left behind must not become this topic's data. */
	rm_partition_dirs(c, t->name, t->name_len, 0, t->nparts);
	t->state = TS_CREATING;
	t->op_err = 0;
	SL_INFO("control: creating topic %s with %" PRId32 " partition(s)", t->name, t->nparts);
	send_range(c, t, SL_MSG_PART_OPEN, 0, t->nparts);
	return 0;
}

int
ctl_topic_delete(struct sl_ctrl *c, struct ctl_topic *t)
{
	int r;

	if (t->state != TS_LIVE)
		return -EBUSY;
	r = meta_mark_deleted(c, t);
	if (r < 0) {
		SL_ERR("control: cannot mark topic %s deleted: %s", t->name, strerror(-r));
		return r;
	}
	SL_INFO("control: deleting topic %s", t->name);
	t->state = TS_DELETING;
	t->op_err = 0;
	c->dirty = true; /* out of the snapshot before the logs go */
	send_range(c, t, SL_MSG_PART_REMOVE, 0, t->nparts);
	return 0;
}

int
ctl_topic_grow(struct sl_ctrl *c, struct ctl_topic *t, int32_t count)
{
	int r;

	if (t->state != TS_LIVE || count <= t->nparts || count > NPARTS_MAX)
		return -EINVAL;
	r = ctl_meta_write(c, t, count);
	if (r < 0)
		return r;
	rm_partition_dirs(c, t->name, t->name_len, t->nparts, count);
	SL_INFO("control: topic %s: %" PRId32 " -> %" PRId32 " partitions", t->name, t->nparts,
	        count);
	t->state = TS_GROWING;
	t->nparts_new = count;
	t->op_err = 0;
	send_range(c, t, SL_MSG_PART_OPEN, t->nparts, count);
	return 0;
}

static void
fail_msg(char *buf, size_t len, const char *what, int err)
{
	snprintf(buf, len, "%s: %s", what, strerror(-err));
}

/* outstanding reached 0: finish the transition (ctrl_int.h diagram). */
static void
topic_settle(struct sl_ctrl *c, struct ctl_topic *t)
{
	char msg[160];

	c->retry = true;
	switch ((enum ctl_tstate)t->state) {
	case TS_CREATING:
		if (t->loading) {
			if (t->op_err)
				SL_ERR("control: topic %s: a partition log failed to open: %s",
				       t->name, strerror(-t->op_err));
			t->loading = false;
			c->loading--;
		} else if (t->op_err) {
			fail_msg(msg, sizeof(msg), "partition log open failed", t->op_err);
			SL_ERR("control: topic %s: %s; rolling back", t->name, msg);
			ctl_pend_topic_settled(c, t, KERR_UNKNOWN_SERVER_ERROR, msg);
			if (meta_mark_deleted(c, t) < 0)
				SL_WARN("control: topic %s: cannot mark deleted", t->name);
			t->state = TS_DELETING;
			t->op_err = 0;
			send_range(c, t, SL_MSG_PART_REMOVE, 0, t->nparts);
			return;
		}
		t->op_err = 0;
		t->state = TS_LIVE;
		c->dirty = true;
		ctl_pend_topic_settled(c, t, KERR_NONE, NULL);
		return;
	case TS_GROWING:
		if (t->op_err) {
			fail_msg(msg, sizeof(msg), "partition log open failed", t->op_err);
			SL_ERR("control: topic %s: %s; rolling back", t->name, msg);
			ctl_pend_topic_settled(c, t, KERR_UNKNOWN_SERVER_ERROR, msg);
			t->state = TS_SHRINKING;
			t->op_err = 0;
			send_range(c, t, SL_MSG_PART_REMOVE, t->nparts, t->nparts_new);
			return;
		}
		t->nparts = t->nparts_new;
		t->state = TS_LIVE;
		c->dirty = true;
		ctl_pend_topic_settled(c, t, KERR_NONE, NULL);
		return;
	case TS_SHRINKING:
		rm_partition_dirs(c, t->name, t->name_len, t->nparts, t->nparts_new);
		if (ctl_meta_write(c, t, t->nparts) < 0)
			SL_WARN("control: topic %s: cannot rewrite metadata", t->name);
		t->state = TS_LIVE;
		t->op_err = 0;
		return;
	case TS_DELETING:
		rm_partition_dirs(c, t->name, t->name_len, 0, SL_MAX(t->nparts, t->nparts_new));
		meta_forget(c, t->name, t->name_len);
		ctl_pend_topic_settled(c, t, KERR_NONE, NULL);
		ctl_topic_unlink(c, t);
		SL_INFO("control: topic %s deleted", t->name);
		ctl_topic_free(t);
		return;
	case TS_LIVE:
		break;
	}
}

void
ctl_topic_partop_done(struct sl_ctrl *c, struct ctl_partop *po)
{
	struct ctl_topic *t = po->op.cookie;

	if (po->type == SL_MSG_PART_DELETE_RECORDS) {
		ctl_delrec_done(c, po); /* not a topic transition (alter.c) */
		return;
	}
	SL_BUG_ON(!t || t->outstanding == 0);
	if (po->op.err < 0) {
		if (po->type == SL_MSG_PART_OPEN) {
			if (!t->op_err)
				t->op_err = po->op.err;
		} else if (po->op.err != -ENOENT) {
			SL_WARN("control: %s %s-%" PRId32 " failed on shard %u: %s",
			        po->type == SL_MSG_PART_CFG ? "configuring" : "removing", t->name,
			        po->op.partition, po->shard, strerror(-po->op.err));
		}
	}
	free(po);
	if (--t->outstanding == 0)
		topic_settle(c, t);
}
