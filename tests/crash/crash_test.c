// SPDX-License-Identifier: Apache-2.0
/*
 * Crash consistency of the storage engine.
 *
 * 1. Kill rounds: a child process appends in durable mode (many appends in flight, rolls
 *    every ~200 KiB) and reports every completed append (offsets + a hash of the batch
 *    content) to the parent through a pipe; the parent SIGKILLs it at a random moment,
 *    reopens the log (recovery), and checks that every append the child saw complete is
 *    there and intact, that offsets are contiguous from the start, and that every segment
 *    file holds only whole valid batches (nothing after a torn batch survives). The next
 *    child continues on the recovered log. Seeded (SL_CRASH_SEED overrides).
 * 2. Damage rounds: copies of a reference log with its .log files truncated or overwritten
 *    with garbage at random positions (unclean: no marker, no recovery point) recover to a
 *    prefix of the reference; with only index files damaged (clean marker kept) everything
 *    reads back identical, by offset and by timestamp.
 *
 * Suite 'crash'; runs in well under a minute on the 2-core test machine.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "storage/plog_testutil.h"

#define ROUNDS 30
#define DAMAGE_ROUNDS 120
#define INFLIGHT 16
#define MAX_APPENDS_PER_ROUND 2500

struct report {
	int64_t base;
	int64_t last;
	uint64_t hash;
	int64_t err;
};

static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The hash of a batch's content: everything after the partitionLeaderEpoch and magic
 * (bytes 17..end: crc, attributes, ..., records), so a rewritten baseOffset is ignored. */
static uint64_t
batch_hash(const uint8_t *b, size_t n)
{
	return fnv(b + 17, n - 17);
}

static uint32_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static void
cfg_crash(struct sl_plog_cfg *cfg)
{
	sl_plog_cfg_default(cfg);
	cfg->durable = true;
	cfg->segment_bytes = 200 * 1024;
	cfg->index_interval_bytes = 1024;
	cfg->preallocate_bytes = 64 * 1024;
}

/* ---- the child ---- */

struct slot {
	struct sl_append a;
	uint64_t hash;
	bool busy;
};

static int child_fd;
static int child_done;

static void
child_done_cb(struct sl_append *a)
{
	struct slot *s = SL_CONTAINER_OF(a, struct slot, a);
	struct report r = {a->base_offset, a->last_offset, s->hash, a->err};

	if (write(child_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(5);
	if (a->err)
		_exit(4);
	s->busy = false;
	child_done++;
}

static SL_UNUSED void
child_main(const char *root, int wfd, uint64_t seed)
{
	static uint8_t buf[64 * 1024];
	static struct slot slots[INFLIGHT];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct sl_uring ring;
	struct sl_store *st;
	struct sl_plog *log;
	int appended = 0;

	child_fd = wfd;
	tu_opts(&o);
	o.chunk_bytes = 512 * 1024;
	o.nr_chunks = 8;
	cfg_crash(&cfg);
	if (sl_uring_init(&ring, 256, 0) || sl_store_create(&st, &ring, &o) ||
	    sl_plog_open(&log, st, root, "t", 0, &cfg))
		_exit(2);
	for (;;) {
		for (int i = 0; i < INFLIGHT && appended < MAX_APPENDS_PER_ROUND; i++) {
			struct slot *s = &slots[i];
			struct iovec iov;
			size_t n;
			int rc;

			if (s->busy)
				continue;
			n = tu_batch(buf, sizeof(buf), 1 + (int)(rng(&seed) % 8), sl_wall_ms(),
			             rng(&seed), 10 + rng(&seed) % 1500);
			memset(&s->a, 0, sizeof(s->a));
			s->a.done = child_done_cb;
			s->hash = batch_hash(buf, n);
			iov.iov_base = buf;
			iov.iov_len = n;
			rc = sl_plog_append(log, &iov, 1, &s->a);
			if (rc == -ENOSPC)
				break;
			if (rc)
				_exit(3);
			s->busy = true;
			appended++;
		}
		sl_store_poll(st, sl_wall_ms());
		(void)sl_uring_run(&ring, 1, 5 * 1000 * 1000LL);
	}
}

/* ---- the parent's checks ---- */

struct reports {
	struct report *v;
	size_t n, cap;
};

static void
reports_push(struct reports *r, const struct report *x)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 4096;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	r->v[r->n++] = *x;
}

/* Every .log file in dir holds whole valid batches only, contiguous in offsets. */
static void
check_files_clean(const char *dir)
{
	struct dirent **names;
	int64_t expect = -1;
	int n, i;

	n = scandir(dir, &names, NULL, alphasort);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		int64_t base = sl_seg_parse_name(names[i]->d_name, ".log");
		struct sl_scan sc;
		char p[600];
		struct stat sb;
		int fd;

		if (base >= 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]->d_name);
			fd = open(p, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(fstat(fd, &sb), 0);
			assert_int_equal(sl_seg_scan(fd, false, 0, (uint64_t)sb.st_size,
			                             expect < 0 ? base : expect, base, NULL, 0,
			                             &sc),
			                 0);
			/* Nothing after the last valid batch: recovery cut any torn tail. */
			assert_int_equal(sc.valid_size, (uint64_t)sb.st_size);
			if (sc.nbatches)
				expect = sc.next_offset;
			close(fd);
		}
		free(names[i]);
	}
	free(names);
}

/*
 * Reads the log from `from` to the high watermark in offset order and checks the reports
 * rep[0..n) (sorted by offset) against it: each present, same last offset, same hash.
 * Offsets must be contiguous. Returns the number of batches read.
 */
static size_t
verify_reads(struct tu_env *e, struct sl_plog *log, int64_t from, const struct report *rep,
             size_t n)
{
	int64_t off = from, hw = sl_plog_high_watermark(log);
	size_t k = 0, batches = 0;

	while (k < n && rep[k].base < from)
		k++;
	while (off < hw) {
		struct tu_rd rd;
		const uint8_t *p, *end;

		assert_true(tu_read(e, log, &rd, off, 1 << 20) >= 0);
		assert_int_equal(rd.r.err, 0);
		if (rd.r.len == 0)
			print_message("crash: empty read at %lld (hw %lld, start %lld)\n",
			              (long long)off, (long long)hw,
			              (long long)sl_plog_start_offset(log));
		assert_true(rd.r.len > 0);
		p = rd.r.data;
		end = p + rd.r.len;
		while (p < end) {
			int64_t total = sl_rb_total_size(p, (size_t)(end - p));
			int64_t base = (int64_t)sl_be64(p), last = base + (int32_t)sl_be32(p + 23);

			assert_true(total > 0 && total <= end - p);
			assert_int_equal(base, off); /* contiguous */
			if (k < n && rep[k].base == base) {
				assert_int_equal(rep[k].last, last);
				assert_true(rep[k].hash == batch_hash(p, (size_t)total));
				k++;
			}
			assert_true(k >= n || rep[k].base > base); /* no report skipped */
			off = last + 1;
			p += total;
			batches++;
		}
		tu_read_release(&rd);
	}
	assert_int_equal(k, n); /* every completed append is below the high watermark */
	return batches;
}

static void
test_crash_sigkill_rounds_lose_no_completed_append(void **state)
{
	struct reports all = {0};
	struct tu_env e;
	uint64_t seed;
	int round;

	(void)state;
	seed = getenv("SL_CRASH_SEED") ? strtoull(getenv("SL_CRASH_SEED"), NULL, 0)
	                               : (uint64_t)time(NULL);
	print_message("crash: seed %llu\n", (unsigned long long)seed);
	seed = seed * 2654435761u + 1;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);

	for (round = 0; round < ROUNDS; round++) {
		struct sl_plog_cfg cfg;
		struct sl_plog *log;
		struct report r;
		size_t first = all.n;
		int pfd[2], status;
		pid_t pid;
		int64_t start_off;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_main(e.root, pfd[1], seed + (uint64_t)round);
			_exit(0);
		}
		close(pfd[1]);
		/* Kill at a random moment: sometimes during open/recovery, mostly mid-append. */
		usleep(5000 + rng(&seed) % 150000);
		kill(pid, SIGKILL);
		while (read(pfd[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
			assert_int_equal(r.err, 0);
			reports_push(&all, &r);
		}
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status)); /* it did not die of an error of its own */

		cfg_crash(&cfg);
		assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
		check_files_clean(e.pdir);
		start_off = first < all.n ? all.v[first].base : sl_plog_end_offset(log);
		if (first > 0)
			assert_true(sl_plog_end_offset(log) >= all.v[first - 1].last + 1);
		verify_reads(&e, log, start_off, all.v + first, all.n - first);
		assert_int_equal(sl_plog_close(log), 0);
	}
	/* Everything, from the start, once more. */
	{
		struct sl_plog_cfg cfg;
		struct sl_plog *log;
		size_t batches;

		cfg_crash(&cfg);
		assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
		batches = verify_reads(&e, log, 0, all.v, all.n);
		print_message("crash: %d rounds, %zu completed appends checked, %zu batches in the "
		              "log\n",
		              ROUNDS, all.n, batches);
		assert_true(all.n > 0);
		assert_int_equal(sl_plog_close(log), 0);
	}
	free(all.v);
	tu_env_fini(&e);
}

/* ---- damage rounds ---- */

static void
copy_dir(const char *from, const char *to)
{
	static uint8_t buf[1 << 16];
	struct dirent *de;
	DIR *d = opendir(from);

	assert_non_null(d);
	mkdir(to, 0755);
	while ((de = readdir(d)) != NULL) {
		char a[900], b[900];
		ssize_t n;
		int in, out;

		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		in = open(a, O_RDONLY);
		out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(in >= 0 && out >= 0);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

struct ref_batch {
	int64_t base, last;
	uint64_t hash;
	int64_t ts0;
};

static void
damage_file(const char *dir, const char *name, uint64_t *seed, bool truncate_it)
{
	char p[600];
	struct stat sb;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	if (sb.st_size == 0) {
		close(fd);
		return;
	}
	if (truncate_it) {
		assert_int_equal(ftruncate(fd, (off_t)(rng(seed) % (uint64_t)sb.st_size)), 0);
	} else {
		uint8_t junk[64];
		size_t n = 1 + rng(seed) % sizeof(junk);
		off_t at = (off_t)(rng(seed) % (uint64_t)sb.st_size);

		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rng(seed);
		assert_true(pwrite(fd, junk, n, at) > 0);
	}
	close(fd);
}

static void
test_crash_random_damage_recovers_valid_prefix(void **state)
{
	static uint8_t buf[16 * 1024];
	static struct ref_batch ref[400];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	char refdir[400], workroot[400], workdir[500];
	uint64_t seed = 12345;
	int nref = 0, round;
	int64_t ref_end;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = 64 * 1024;
	cfg.index_interval_bytes = 512;
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	for (nref = 0; nref < 300; nref++) {
		struct tu_app app;
		int done = 0;
		int64_t ts = 1700000000000LL + 10LL * nref;
		size_t n = tu_batch(buf, sizeof(buf), 1 + nref % 5, ts, (uint32_t)nref,
		                    20 + (size_t)(nref * 37) % 900);

		assert_int_equal(tu_append(log, &app, &done, buf, n), 0);
		assert_int_equal(tu_wait(&e, &done, 1), 0);
		ref[nref] = (struct ref_batch){app.a.base_offset, app.a.last_offset,
		                               batch_hash(buf, n), ts};
	}
	ref_end = sl_plog_end_offset(log);
	assert_true(log->nsegs > 4);
	assert_int_equal(sl_plog_close(log), 0);
	snprintf(refdir, sizeof(refdir), "%s", e.pdir);

	for (round = 0; round < DAMAGE_ROUNDS; round++) {
		struct dirent **names;
		int n, pick, nlogs = 0, i;
		bool index_only = round % 3 == 2;
		struct tu_rd rd;
		int64_t off = 0, end;
		int k = 0;

		snprintf(workroot, sizeof(workroot), "%s/w%d", e.root, round);
		snprintf(workdir, sizeof(workdir), "%s/t-0", workroot);
		mkdir(workroot, 0755);
		copy_dir(refdir, workdir);
		n = scandir(workdir, &names, NULL, alphasort);
		assert_true(n > 0);
		for (i = 0; i < n; i++)
			nlogs += sl_seg_parse_name(names[i]->d_name, ".log") >= 0;
		pick = (int)(rng(&seed) % (uint32_t)nlogs);
		for (i = 0; i < n; i++) {
			int64_t b = sl_seg_parse_name(names[i]->d_name, ".log");
			char nm[64];

			if (b < 0 || pick-- != 0)
				continue;
			if (index_only) {
				sl_seg_name(nm, sizeof(nm), b,
				            rng(&seed) % 2 ? ".index" : ".timeindex");
				damage_file(workdir, nm, &seed, rng(&seed) % 2);
			} else {
				damage_file(workdir, names[i]->d_name, &seed, rng(&seed) % 2);
			}
		}
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		if (!index_only) {
			char p[700];

			snprintf(p, sizeof(p), "%s/%s", workdir, SL_CLEAN_MARKER);
			unlink(p);
			snprintf(p, sizeof(p), "%s/%s", workdir, SL_RP_CKPT);
			unlink(p);
		}

		assert_int_equal(sl_plog_open(&log, e.st, workroot, "t", 0, &cfg), 0);
		end = sl_plog_end_offset(log);
		assert_true(end <= ref_end);
		if (index_only)
			assert_int_equal(end, ref_end);
		check_files_clean(workdir);
		/* A prefix of the reference, batch for batch. */
		while (off < end) {
			const uint8_t *p, *stop;

			assert_true(tu_read(&e, log, &rd, off, 64 * 1024) >= 0);
			assert_int_equal(rd.r.err, 0);
			assert_true(rd.r.len > 0);
			for (p = rd.r.data, stop = p + rd.r.len; p < stop;) {
				int64_t total = sl_rb_total_size(p, (size_t)(stop - p));

				assert_true(k < nref);
				assert_int_equal((int64_t)sl_be64(p), ref[k].base);
				assert_true(batch_hash(p, (size_t)total) == ref[k].hash);
				off = ref[k].last + 1;
				p += total;
				k++;
			}
			tu_read_release(&rd);
		}
		if (index_only) {
			int64_t ts, got;
			int j = (int)(rng(&seed) % (uint32_t)nref);

			got = sl_plog_offset_for_time(log, ref[j].ts0, &ts);
			assert_int_equal(got, ref[j].base);
			assert_int_equal(ts, ref[j].ts0);
		}
		/* Appends continue at the recovered end. */
		{
			struct tu_app app;
			int done = 0;
			size_t bn = tu_batch(buf, sizeof(buf), 2, 1, 1, 10);

			assert_int_equal(tu_append(log, &app, &done, buf, bn), 0);
			assert_int_equal(tu_wait(&e, &done, 1), 0);
			assert_int_equal(app.a.base_offset, end);
		}
		assert_int_equal(sl_plog_close(log), 0);
		tu_rm_rf(workroot);
	}
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_crash_sigkill_rounds_lose_no_completed_append),
	        cmocka_unit_test(test_crash_random_damage_recovers_valid_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
