/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logtool.c: `sluice log dump` and `sluice log verify`, offline readers of partition
 * directories (see logtool.h for the list of checks). Plain open/pread/readdir; blocking;
 * one batch in memory at a time plus a list of batch positions per segment.
 */
#include "logtool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "storage/compact.h"
#include "storage/rbatch.h"

#include "cli.h"

#define MAX_BATCH_BYTES (256u << 20) /* larger is damage, not a batch */
#define SCRATCH_MIN (1u << 20)
#define SCRATCH_MAX (1u << 30)
#define MAX_INDEX_BYTES (256u << 20)
#define OFFSET_INDEX_ENTRY 8
#define TIME_INDEX_ENTRY 12

struct batch_ent {
	uint64_t pos;
	int64_t base, last;
	int64_t max_ts;
};

struct seg_name {
	int64_t base;
	char stem[32]; /* 20 digits */
};

struct ctx {
	const struct sl_logtool_opts *o;
	struct sl_logtool_stats *st;
	FILE *out;
	/* buffers reused across batches */
	uint8_t *buf;
	size_t cap;
	struct sl_rb_scratch scratch;
	/* per segment */
	struct batch_ent *ents;
	size_t nents, ents_cap;
	/* per partition */
	const char *dir;
	int64_t prev_last;    /* last offset seen in this partition, -1 before the first */
	int64_t cleaned_upto; /* offsets below are compacted (gaps allowed); -1: none */
};

static void SL_PRINTF(4, 5)
        problem(struct ctx *c, const char *file, int64_t pos, const char *fmt, ...)
{
	va_list ap;

	c->st->problems++;
	fprintf(c->out, "%s/%s:%" PRId64 ": error: ", c->dir, file, pos);
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
}

static void SL_PRINTF(4, 5)
        warning(struct ctx *c, const char *file, int64_t pos, const char *fmt, ...)
{
	va_list ap;

	c->st->warnings++;
	fprintf(c->out, "%s/%s:%" PRId64 ": warning: ", c->dir, file, pos);
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
}

static int
reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;
	size_t ncap = *cap ? *cap : 4096;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(*buf, ncap);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

static int
push_ent(struct ctx *c, const struct batch_ent *e)
{
	if (c->nents == c->ents_cap) {
		size_t ncap = c->ents_cap ? c->ents_cap * 2 : 1024;
		struct batch_ent *n = realloc(c->ents, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->ents = n;
		c->ents_cap = ncap;
	}
	c->ents[c->nents++] = *e;
	return 0;
}

/* Reads exactly len bytes at off; returns 0, -EIO on a short read, or -errno. */
static int
pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* True when bytes [pos, size) of fd are all zero. */
static bool
zero_tail(int fd, uint64_t pos, uint64_t size)
{
	uint8_t b[65536];

	while (pos < size) {
		size_t n = (size_t)SL_MIN((uint64_t)sizeof(b), size - pos);

		if (pread_full(fd, b, n, pos))
			return false;
		for (size_t i = 0; i < n; i++)
			if (b[i])
				return false;
		pos += n;
	}
	return true;
}

/* sl_rb_validate, growing the decompression scratch while the codec says it is short. */
static int64_t
validate(struct ctx *c, const uint8_t *p, size_t len, struct sl_rb_hdr *h)
{
	for (;;) {
		/* STORED: compaction leaves offset-delta gaps and may keep empty batches. */
		int64_t r = sl_rb_validate(p, len, 0, SL_RB_VALIDATE_STORED, &c->scratch, h);
		uint8_t *nb;

		/* With no size bound, ETOOBIG means the records outgrew the scratch. */
		if (r != SL_RB_ETOOBIG || (h->attributes & SL_RB_ATTR_CODEC_MASK) == 0 ||
		    c->scratch.cap >= SCRATCH_MAX)
			return r;
		nb = realloc(c->scratch.buf, c->scratch.cap * 4);
		if (!nb)
			return r;
		c->scratch.buf = nb;
		c->scratch.cap *= 4;
	}
}

static const char *
codec_name(int16_t attrs)
{
	static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	unsigned k = (unsigned)attrs & SL_RB_ATTR_CODEC_MASK;

	return k < SL_ARRAY_SIZE(names) ? names[k] : "unknown";
}

static void
print_bytes(FILE *f, const uint8_t *p, int32_t len, int32_t max)
{
	if (len < 0 || !p) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (int32_t i = 0; i < len && i < max; i++) {
		uint8_t ch = p[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			fputc(ch, f);
		else
			fprintf(f, "\\x%02x", ch);
	}
	fputc('"', f);
	if (len > max)
		fputs("...", f);
}

static void
dump_records(struct ctx *c, const char *file, uint64_t pos, const uint8_t *p, size_t len)
{
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	int r;

	if (sl_rb_iter_init(&it, p, len, &c->scratch)) {
		problem(c, file, (int64_t)pos, "cannot iterate the batch's records");
		return;
	}
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		fprintf(c->out, "    offset=%" PRId64 " timestamp=%" PRId64 " key=", rec.offset,
		        rec.timestamp);
		print_bytes(c->out, rec.key, rec.key_len, 64);
		fprintf(c->out, " key_len=%d value_len=%d headers=%d\n", rec.key_len, rec.value_len,
		        rec.header_count);
	}
	if (r < 0)
		problem(c, file, (int64_t)pos, "record framing: %s", sl_rb_strerror(r));
}

/* Offset checks of one batch against what came before it in the partition. */
static void
check_offsets(struct ctx *c, const char *file, uint64_t pos, const struct sl_rb_hdr *h,
              int64_t seg_base, bool first_in_seg)
{
	int64_t base = h->base_offset;
	bool cleaned = c->cleaned_upto >= 0 && base < c->cleaned_upto;

	if (first_in_seg && base != seg_base && !(cleaned && base > seg_base))
		problem(c, file, (int64_t)pos,
		        "segment is named %" PRId64
		        " but its first batch starts at offset %" PRId64,
		        seg_base, base);
	if (base < seg_base)
		problem(c, file, (int64_t)pos,
		        "batch offset %" PRId64 " below the segment's base offset %" PRId64, base,
		        seg_base);
	if (c->prev_last >= 0) {
		if (base <= c->prev_last)
			problem(c, file, (int64_t)pos,
			        "offsets go backwards: batch starts at %" PRId64
			        " after offset %" PRId64,
			        base, c->prev_last);
		else if (base != c->prev_last + 1 && !cleaned)
			problem(c, file, (int64_t)pos,
			        "offset gap: batch starts at %" PRId64 " after offset %" PRId64,
			        base, c->prev_last);
	}
}

/*
 * Scans one .log file batch by batch. Fills c->ents with the batches found (for the index
 * checks) and *max_ts with the segment's largest timestamp. Returns the byte size of the
 * valid prefix, or -errno when the file cannot be read.
 */
static int64_t
scan_log(struct ctx *c, const struct seg_name *sn, int64_t *max_ts)
{
	char file[64];
	struct stat stbuf;
	uint64_t pos = 0, size;
	int fd, ret = 0;

	snprintf(file, sizeof(file), "%s.log", sn->stem);
	c->nents = 0;
	*max_ts = -1;
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", c->dir, file);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		problem(c, file, 0, "cannot open: %s", strerror(errno));
		return -errno;
	}
	if (fstat(fd, &stbuf)) {
		ret = -errno;
		goto out;
	}
	size = (uint64_t)stbuf.st_size;
	if (c->o->dump)
		fprintf(c->out, "segment %s/%s size=%" PRIu64 "\n", c->dir, file, size);
	if (size == 0 && c->prev_last >= 0 && sn->base != c->prev_last + 1 &&
	    !(c->cleaned_upto >= 0 && sn->base <= c->cleaned_upto))
		problem(c, file, 0, "empty segment named %" PRId64 " after offset %" PRId64,
		        sn->base, c->prev_last);
	while (pos < size) {
		uint8_t hdr12[SL_RB_LOG_OVERHEAD];
		struct sl_rb_hdr h;
		struct batch_ent e;
		uint64_t left = size - pos;
		int64_t total, vr;
		bool crc_ok;

		if (left < SL_RB_LOG_OVERHEAD || pread_full(fd, hdr12, sizeof(hdr12), pos) ||
		    !memcmp(hdr12, (const uint8_t[SL_RB_LOG_OVERHEAD]){0}, sizeof(hdr12))) {
			if (zero_tail(fd, pos, size))
				warning(c, file, (int64_t)pos,
				        "%" PRIu64 " bytes of zero padding at the end (unclean "
				        "shutdown or preallocation; recovery truncates it)",
				        left);
			else
				problem(c, file, (int64_t)pos,
				        "%" PRIu64 " bytes at the end are not a batch (torn or "
				        "garbage tail)",
				        left);
			break;
		}
		total = sl_rb_total_size(hdr12, sizeof(hdr12));
		if (total < 0) {
			problem(c, file, (int64_t)pos, "bad batchLength %d: %s",
			        (int32_t)sl_be32(hdr12 + 8), sl_rb_strerror((int)total));
			break;
		}
		if ((uint64_t)total > left) {
			problem(c, file, (int64_t)pos,
			        "batch of %" PRId64 " bytes but only %" PRIu64
			        " left in the file (torn tail)",
			        total, left);
			break;
		}
		if ((uint64_t)total > MAX_BATCH_BYTES) {
			problem(c, file, (int64_t)pos, "batch of %" PRId64 " bytes is implausible",
			        total);
			break;
		}
		if (reserve(&c->buf, &c->cap, (size_t)total)) {
			ret = -ENOMEM;
			goto out;
		}
		ret = pread_full(fd, c->buf, (size_t)total, pos);
		if (ret)
			goto out;
		if (sl_rb_hdr_parse(c->buf, (size_t)total, &h)) {
			problem(c, file, (int64_t)pos, "batch header unreadable");
			break;
		}
		crc_ok = h.magic == 2 && sl_crc32c(0, c->buf + SL_RB_CRC_START,
		                                   (size_t)total - SL_RB_CRC_START) == h.crc;
		vr = validate(c, c->buf, (size_t)total, &h);
		c->st->batches++;
		if (c->o->dump) {
			fprintf(c->out,
			        "  pos=%" PRIu64 " base_offset=%" PRId64 " last_offset=%" PRId64
			        " count=%d size=%" PRId64 " crc=%s codec=%s base_timestamp=%" PRId64
			        " max_timestamp=%" PRId64 " producer_id=%" PRId64
			        " producer_epoch=%d base_sequence=%d leader_epoch=%d%s%s%s\n",
			        pos, h.base_offset, h.base_offset + h.last_offset_delta,
			        h.record_count, total, crc_ok ? "ok" : "bad",
			        codec_name(h.attributes), h.base_timestamp, h.max_timestamp,
			        h.producer_id, h.producer_epoch, h.base_sequence,
			        h.partition_leader_epoch,
			        (h.attributes & SL_RB_ATTR_TRANSACTIONAL) ? " transactional" : "",
			        (h.attributes & SL_RB_ATTR_CONTROL) ? " control" : "",
			        (h.attributes & SL_RB_ATTR_TIMESTAMP_TYPE) ? " log_append_time"
			                                                   : "");
		}
		if (vr < 0) {
			problem(c, file, (int64_t)pos, "batch at offset %" PRId64 ": %s",
			        h.base_offset, sl_rb_strerror((int)vr));
		} else {
			c->st->records += (uint64_t)h.record_count;
			if (c->o->dump && c->o->records)
				dump_records(c, file, pos, c->buf, (size_t)total);
		}
		check_offsets(c, file, pos, &h, sn->base, c->nents == 0);
		e.pos = pos;
		e.base = h.base_offset;
		e.last = h.base_offset + h.last_offset_delta;
		e.max_ts = h.max_timestamp;
		if (push_ent(c, &e)) {
			ret = -ENOMEM;
			goto out;
		}
		if (e.last > c->prev_last)
			c->prev_last = e.last;
		if (e.max_ts > *max_ts)
			*max_ts = e.max_ts;
		pos += (uint64_t)total;
	}
out:
	close(fd);
	if (ret < 0) {
		problem(c, file, (int64_t)pos, "read failed: %s", strerror(-ret));
		return ret;
	}
	return (int64_t)pos;
}

/* Reads a whole index file into c->buf. Returns its size, -ENOENT, or -errno. */
static int64_t
read_index(struct ctx *c, const char *file)
{
	char path[4096];
	struct stat stbuf;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", c->dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stbuf)) {
		ret = -errno;
		goto out;
	}
	if ((uint64_t)stbuf.st_size > MAX_INDEX_BYTES) {
		ret = -EFBIG;
		goto out;
	}
	ret = reserve(&c->buf, &c->cap, (size_t)stbuf.st_size + 1);
	if (!ret)
		ret = pread_full(fd, c->buf, (size_t)stbuf.st_size, 0);
out:
	close(fd);
	return ret < 0 ? ret : (int64_t)stbuf.st_size;
}

/* The batch that starts at pos, or NULL. */
static const struct batch_ent *
ent_at_pos(const struct ctx *c, uint64_t pos)
{
	size_t lo = 0, hi = c->nents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->ents[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nents && c->ents[lo].pos == pos ? &c->ents[lo] : NULL;
}

/* The batch whose offsets contain off, or NULL. */
static const struct batch_ent *
ent_for_offset(const struct ctx *c, int64_t off)
{
	size_t lo = 0, hi = c->nents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->ents[mid].last < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nents && c->ents[lo].base <= off ? &c->ents[lo] : NULL;
}

/* Entries after the last non-zero one are preallocated space, not entries (the first
 * entry may legitimately be all zero: relative offset 0 at position 0). */
static size_t
used_entries(const uint8_t *p, size_t n, size_t esz)
{
	while (n > 1) {
		const uint8_t *e = p + (n - 1) * esz;
		size_t i;

		for (i = 0; i < esz && !e[i]; i++)
			;
		if (i < esz)
			break;
		n--;
	}
	return n;
}

static void
check_offset_index(struct ctx *c, const struct seg_name *sn, uint64_t log_size)
{
	char file[64];
	int64_t sz;
	size_t n, used;
	int64_t prev_rel = -1, prev_pos = -1;

	snprintf(file, sizeof(file), "%s.index", sn->stem);
	sz = read_index(c, file);
	if (sz == -ENOENT) {
		if (c->nents)
			warning(c, file, 0, "missing (rebuilt at open)");
		return;
	}
	if (sz < 0) {
		problem(c, file, 0, "cannot read: %s", strerror((int)-sz));
		return;
	}
	if (sz % OFFSET_INDEX_ENTRY)
		problem(c, file, sz - sz % OFFSET_INDEX_ENTRY,
		        "size %" PRId64 " is not a multiple of %d", sz, OFFSET_INDEX_ENTRY);
	n = (size_t)sz / OFFSET_INDEX_ENTRY;
	used = used_entries(c->buf, n, OFFSET_INDEX_ENTRY);
	if (c->o->dump)
		fprintf(c->out, "index %s/%s entries=%zu preallocated=%zu\n", c->dir, file,
		        n ? used : 0, n - (n ? used : 0));
	if (n == 1 && !c->nents && !sl_be32(c->buf) && !sl_be32(c->buf + 4))
		return; /* one zero entry, empty log: preallocated */
	for (size_t i = 0; i < used; i++) {
		const uint8_t *e = c->buf + i * OFFSET_INDEX_ENTRY;
		int64_t rel = (int64_t)sl_be32(e), pos = (int64_t)sl_be32(e + 4);
		int64_t off = sn->base + rel;
		int64_t at = (int64_t)(i * OFFSET_INDEX_ENTRY);
		const struct batch_ent *b;

		if (rel <= prev_rel || pos <= prev_pos)
			problem(c, file, at,
			        "entry %zu (offset %" PRId64 ", position %" PRId64
			        ") does not increase",
			        i, off, pos);
		prev_rel = rel;
		prev_pos = pos;
		if ((uint64_t)pos >= log_size) {
			problem(c, file, at,
			        "entry %zu points at position %" PRId64 ", past the log's %" PRIu64
			        " valid bytes",
			        i, pos, log_size);
			continue;
		}
		b = ent_at_pos(c, (uint64_t)pos);
		if (!b)
			problem(c, file, at, "entry %zu: position %" PRId64 " is not a batch start",
			        i, pos);
		else if (off < b->base || off > b->last)
			problem(c, file, at,
			        "entry %zu: offset %" PRId64
			        " is not in the batch at position %" PRId64 " (offsets %" PRId64
			        "..%" PRId64 ")",
			        i, off, pos, b->base, b->last);
	}
}

static void
check_time_index(struct ctx *c, const struct seg_name *sn, int64_t max_ts)
{
	char file[64];
	int64_t sz;
	size_t n, used;
	int64_t prev_ts = INT64_MIN, prev_off = -1;

	snprintf(file, sizeof(file), "%s.timeindex", sn->stem);
	sz = read_index(c, file);
	if (sz == -ENOENT) {
		if (c->nents)
			warning(c, file, 0, "missing (rebuilt at open)");
		return;
	}
	if (sz < 0) {
		problem(c, file, 0, "cannot read: %s", strerror((int)-sz));
		return;
	}
	if (sz % TIME_INDEX_ENTRY)
		problem(c, file, sz - sz % TIME_INDEX_ENTRY,
		        "size %" PRId64 " is not a multiple of %d", sz, TIME_INDEX_ENTRY);
	n = (size_t)sz / TIME_INDEX_ENTRY;
	used = used_entries(c->buf, n, TIME_INDEX_ENTRY);
	if (c->o->dump)
		fprintf(c->out, "timeindex %s/%s entries=%zu preallocated=%zu\n", c->dir, file,
		        n ? used : 0, n - (n ? used : 0));
	if (n == 1 && !c->nents && !sl_be64(c->buf) && !sl_be32(c->buf + 8))
		return;
	for (size_t i = 0; i < used; i++) {
		const uint8_t *e = c->buf + i * TIME_INDEX_ENTRY;
		int64_t ts = (int64_t)sl_be64(e), rel = (int64_t)sl_be32(e + 8);
		int64_t off = sn->base + rel;
		int64_t at = (int64_t)(i * TIME_INDEX_ENTRY);

		if (ts < prev_ts || off < prev_off)
			problem(c, file, at,
			        "entry %zu (timestamp %" PRId64 ", offset %" PRId64
			        ") goes backwards",
			        i, ts, off);
		prev_ts = ts;
		prev_off = off;
		if (!ent_for_offset(c, off))
			problem(c, file, at, "entry %zu: offset %" PRId64 " is in no batch", i,
			        off);
		if (ts > max_ts)
			problem(c, file, at,
			        "entry %zu: timestamp %" PRId64
			        " above the segment's largest %" PRId64,
			        i, ts, max_ts);
	}
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static bool
has_suffix(const char *s, const char *sfx)
{
	size_t a = strlen(s), b = strlen(sfx);

	return a >= b && !strcmp(s + a - b, sfx);
}

static int
cmp_seg(const void *a, const void *b)
{
	const struct seg_name *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/*
 * The compaction checkpoint, in Kafka's checkpoint format ("0" version line, "1" entry
 * count, then the entry, whose last field is the offset); a bare offset line is accepted
 * too. Returns the offset or -1 (absent or unreadable: no gaps allowed).
 */
static int64_t
read_cleaner_checkpoint(const char *dir)
{
	char path[4096], lines[3][128];
	unsigned n = 0;
	FILE *f;
	int64_t v = -1;
	char *last;

	snprintf(path, sizeof(path), "%s/%s", dir, SL_CLEANER_CKPT);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (n < 3 && fgets(lines[n], sizeof(lines[n]), f)) {
		lines[n][strcspn(lines[n], "\r\n")] = 0;
		n++;
	}
	fclose(f);
	if (n == 3 && !strcmp(lines[0], "0") && !strcmp(lines[1], "1"))
		last = strrchr(lines[2], ' ') ? strrchr(lines[2], ' ') + 1 : lines[2];
	else if (n == 1)
		last = lines[0];
	else
		return -1;
	if (sl_cli_parse_i64(last, &v) || v < 0)
		return -1;
	return v;
}

static int
scan_partition(struct ctx *c, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct seg_name *segs = NULL;
	size_t nsegs = 0, cap = 0;
	int ret = 0;

	if (!d)
		return -errno;
	c->dir = dir;
	c->prev_last = -1;
	c->cleaned_upto = read_cleaner_checkpoint(dir);
	c->st->partitions++;
	if (c->o->dump) {
		fprintf(c->out, "partition %s", dir);
		if (c->cleaned_upto >= 0)
			fprintf(c->out, " compacted_below=%" PRId64, c->cleaned_upto);
		fputc('\n', c->out);
	}
	while ((de = readdir(d))) {
		const char *nm = de->d_name;

		if (has_suffix(nm, ".cleaned") || has_suffix(nm, ".swap") ||
		    has_suffix(nm, ".deleted")) {
			warning(c, nm, 0,
			        "left over from an interrupted compaction or deletion "
			        "(completed or removed at open)");
			continue;
		}
		if (!has_suffix(nm, ".log"))
			continue;
		if (strlen(nm) != 24 || !all_digits(nm, 20)) {
			warning(c, nm, 0, "not a segment name (20 digits + .log): ignored");
			continue;
		}
		if (nsegs == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct seg_name *n = realloc(segs, ncap * sizeof(*n));

			if (!n) {
				ret = -ENOMEM;
				goto out;
			}
			segs = n;
			cap = ncap;
		}
		memcpy(segs[nsegs].stem, nm, 20);
		segs[nsegs].stem[20] = 0;
		segs[nsegs].base = strtoll(segs[nsegs].stem, NULL, 10);
		nsegs++;
	}
	qsort(segs, nsegs, sizeof(*segs), cmp_seg);
	for (size_t i = 0; i < nsegs; i++) {
		int64_t max_ts, valid;

		c->st->segments++;
		valid = scan_log(c, &segs[i], &max_ts);
		if (valid < 0)
			continue;
		check_offset_index(c, &segs[i], (uint64_t)valid);
		check_time_index(c, &segs[i], max_ts);
	}
out:
	free(segs);
	closedir(d);
	return ret;
}

static bool
is_dir(const char *path)
{
	struct stat s;

	return !stat(path, &s) && S_ISDIR(s.st_mode);
}

/* A partition directory holds .log files, or is named <topic>-<digits>. */
static bool
is_partition_dir(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *dash;
	DIR *d;
	struct dirent *de;
	bool found = false;

	base = base ? base + 1 : path;
	dash = strrchr(base, '-');
	if (dash && dash > base && all_digits(dash + 1, strlen(dash + 1)))
		return true;
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = has_suffix(de->d_name, ".log");
	closedir(d);
	return found;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
sl_logtool_run(const char *path, const struct sl_logtool_opts *o, struct sl_logtool_stats *st)
{
	struct ctx c = {.o = o, .st = st, .out = o->out ? o->out : stdout};
	char root[4096];
	size_t rl;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	rl = strlen(path);
	if (rl == 0 || rl >= sizeof(root))
		return -EINVAL;
	memcpy(root, path, rl + 1);
	while (rl > 1 && root[rl - 1] == '/')
		root[--rl] = 0;
	if (!is_dir(root))
		return -ENOTDIR;
	c.scratch.cap = SCRATCH_MIN;
	c.scratch.buf = malloc(c.scratch.cap);
	if (!c.scratch.buf)
		return -ENOMEM;

	if (is_partition_dir(root)) {
		ret = scan_partition(&c, root);
	} else {
		DIR *d = opendir(root);
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, cap = 0;

		if (!d) {
			ret = -errno;
			goto out;
		}
		while ((de = readdir(d))) {
			char sub[8192];

			if (de->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", root, de->d_name);
			if (!is_dir(sub) || !is_partition_dir(sub))
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				char **nn = realloc(names, ncap * sizeof(*nn));

				if (!nn) {
					ret = -ENOMEM;
					break;
				}
				names = nn;
				cap = ncap;
			}
			names[n] = strdup(sub);
			if (!names[n]) {
				ret = -ENOMEM;
				break;
			}
			n++;
		}
		closedir(d);
		if (!ret && n == 0)
			ret = -ENOENT;
		if (!ret) {
			qsort(names, n, sizeof(*names), cmp_str);
			for (size_t i = 0; i < n && !ret; i++)
				ret = scan_partition(&c, names[i]);
		}
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
out:
	free(c.scratch.buf);
	free(c.buf);
	free(c.ents);
	return ret;
}

/* ---- the subcommand ---- */

static void
log_usage(FILE *f)
{
	fprintf(f, "usage: sluice log dump [--records] DIR\n"
	           "       sluice log verify [--quiet] DIR\n"
	           "DIR is a partition directory (<topic>-<partition>) or a log.dirs root.\n"
	           "verify exits 0 when clean, 1 when damaged, 2 on usage or read errors.\n");
}

int
sl_cli_log(int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"records", no_argument, NULL, 'r'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct sl_logtool_opts o = {.out = stdout};
	struct sl_logtool_stats st;
	bool verify, quiet = false;
	int c, ret;

	if (argc < 2) {
		log_usage(stderr);
		return SL_CLI_USAGE;
	}
	if (!strcmp(argv[1], "dump")) {
		verify = false;
		o.dump = true;
	} else if (!strcmp(argv[1], "verify")) {
		verify = true;
	} else if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
		log_usage(stdout);
		return SL_CLI_OK;
	} else {
		fprintf(stderr, "sluice log: unknown command '%s'\n", argv[1]);
		log_usage(stderr);
		return SL_CLI_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "rqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.records = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			log_usage(stdout);
			return SL_CLI_OK;
		default:
			log_usage(stderr);
			return SL_CLI_USAGE;
		}
	}
	if (optind != argc - 1 || (o.records && verify)) {
		log_usage(stderr);
		return SL_CLI_USAGE;
	}
	if (quiet)
		o.out = fopen("/dev/null", "we");
	if (!o.out)
		return SL_CLI_USAGE;
	ret = sl_logtool_run(argv[optind], &o, &st);
	if (quiet)
		fclose(o.out);
	if (ret) {
		fprintf(stderr, "sluice log %s: %s: %s\n", argv[1], argv[optind],
		        ret == -ENOENT ? "no partition directories found" : strerror(-ret));
		return SL_CLI_USAGE;
	}
	printf("%s: %u partitions, %u segments, %" PRIu64 " batches, %" PRIu64 " records: %" PRIu64
	       " errors, %" PRIu64 " warnings%s\n",
	       verify ? "verify" : "dump", st.partitions, st.segments, st.batches, st.records,
	       st.problems, st.warnings,
	       st.problems ? ""
	       : verify    ? " (clean)"
	                   : "");
	return st.problems ? SL_CLI_FAIL : SL_CLI_OK;
}
