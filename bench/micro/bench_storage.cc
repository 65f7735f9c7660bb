// SPDX-License-Identifier: Apache-2.0
/*
 * bench_storage.cc: the storage engine's append and read paths on a real filesystem, the
 * way a shard drives them (one thread, one io_uring, sl_store_poll + sl_uring_run per loop
 * iteration). scripts/bench-storage.sh runs these beside fio on the same filesystem and
 * reports sluice's append throughput as a ratio of fio's.
 *
 *   BM_append         batches of 16 KiB / 1 MiB (1 KiB records of random bytes, from a pool
 *                     of distinct batches), no-fsync (O_DIRECT like fio direct=1, or the
 *                     page cache, the broker's default for non-durable logs) or durable
 *                     (group commit: an append completes after its fdatasync), over 1 or 4
 *                     logs; one iteration appends SLUICE_BENCH_BYTES (default 256 MiB) in
 *                     total and waits for every completion. Bytes/s and batches/s.
 *   BM_append_latency one appender, one batch in flight: p50/p99/p99.9 of the append's
 *                     completion (durable: write + fdatasync).
 *   BM_read_tail      reads of up to 1 MiB at recent offsets, served from the tail cache
 *                     without copying (reads/s).
 *   BM_read_disk      sequential reads of 1 MiB, 8 in flight, of data the cache no longer
 *                     holds (O_DIRECT through io_uring).
 *
 * Data goes to $SLUICE_BENCH_DIR (default ./sluice-bench-data), one fresh directory per
 * benchmark, removed afterwards. Use a disk-backed directory: /tmp may be tmpfs.
 */
#include <algorithm>
#include <benchmark/benchmark.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "shim.h"

/* These headers carry their own extern "C" guards (liburing's must stay outside one). */
#include "common/clock.h"
#include "common/hist.h"
#include "common/uring.h"
#include "storage/plog.h"

namespace
{

int64_t
env_i64(const char *name, int64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoll(v, nullptr, 0) : def;
}

std::string
bench_dir(const char *what)
{
	static unsigned seq;
	const char *root = getenv("SLUICE_BENCH_DIR");
	std::string base = root && *root ? root : "sluice-bench-data";
	char name[128];

	mkdir(base.c_str(), 0755);
	snprintf(name, sizeof(name), "/%s-%d-%u", what, (int)getpid(), seq++);
	return base + name;
}

/* A shard's storage side: a ring and a store, and the loop step that drives them. */
struct Shard {
	struct sl_uring ring;
	struct sl_store *st = nullptr;
	std::string dir;
	bool ok = false;

	/* direct_nondurable: O_DIRECT for non-durable logs too (the broker's default is the
	 * page cache for them; durable logs always use O_DIRECT). */
	Shard(const char *what, unsigned nr_chunks, bool direct_nondurable = true)
	{
		struct sl_store_opts o;

		dir = bench_dir(what);
		sl_store_opts_default(&o);
		o.nr_chunks = nr_chunks;
		o.direct_nondurable = direct_nondurable;
		o.nr_read_bufs = 16;
		if (sl_uring_init(&ring, 512, 0))
			return;
		if (sl_store_create(&st, &ring, &o)) {
			sl_uring_fini(&ring);
			return;
		}
		ok = true;
	}

	~Shard()
	{
		if (!ok)
			return;
		sl_store_destroy(st);
		sl_uring_fini(&ring);
		rmdir(dir.c_str());
	}

	/*
	 * One loop iteration: issue what was appended, wait for a completion if any is due,
	 * and issue again right away what the completion unblocked (the next group commit),
	 * so the device does not idle while the caller prepares more appends.
	 */
	void
	step()
	{
		sl_store_poll(st, sl_wall_ms());
		(void)sl_uring_run(&ring, sl_store_busy(st) ? 1 : 0, 100 * 1000 * 1000LL);
		sl_store_poll(st, sl_wall_ms());
		(void)sl_uring_submit(&ring);
	}

	void
	drain()
	{
		for (;;) {
			sl_store_poll(st, sl_wall_ms());
			if (!sl_store_busy(st))
				return;
			(void)sl_uring_run(&ring, 1, 100 * 1000 * 1000LL);
		}
	}

	struct sl_plog *
	open_log(int partition, bool durable)
	{
		struct sl_plog_cfg cfg;
		struct sl_plog *log = nullptr;

		sl_plog_cfg_default(&cfg);
		cfg.durable = durable;
		cfg.max_message_bytes = 2u << 20;
		cfg.retention_ms = -1;
		if (sl_plog_open(&log, st, dir.c_str(), "bench", partition, &cfg))
			return nullptr;
		return log;
	}

	void
	remove_log(struct sl_plog *log)
	{
		drain();
		(void)sl_plog_remove(log);
	}
};

/*
 * A pool of distinct batches of 1 KiB records with random (incompressible) values, about
 * pool_bytes in all, cycled through by the appends: the bytes that reach the disk are as
 * incompressible and as little repetitive as fio's, so a compressing or deduplicating
 * layer under the filesystem cannot favour either side.
 */
using Pool = std::vector<std::vector<uint8_t>>;

Pool
random_batches(size_t batch_bytes, size_t pool_bytes, int *nrec_out)
{
	Pool pool;
	std::vector<uint8_t> val(1024 - 16);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t have = 0;

	do {
		std::vector<uint8_t> buf(batch_bytes);
		struct sl_rb_builder b;
		int n = 0;
		int64_t total;

		if (sl_rb_builder_init(&b, buf.data(), buf.size(), SL_CODEC_NONE, 0, sl_wall_ms(),
		                       -1, -1, -1))
			abort();
		for (;; n++) {
			char key[17];

			for (size_t i = 0; i + 8 <= val.size(); i += 8) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				memcpy(&val[i], &x, 8);
			}
			snprintf(key, sizeof(key), "key-%012d", n);
			if (sl_rb_builder_add(&b, sl_wall_ms(), key, 16, val.data(),
			                      (int32_t)val.size(), nullptr, 0))
				break;
		}
		total = sl_rb_builder_finish(&b, nullptr);
		if (total <= 0 || n == 0)
			abort();
		buf.resize((size_t)total);
		have += buf.size();
		*nrec_out = n;
		pool.push_back(std::move(buf));
	} while (have < pool_bytes);
	return pool;
}

/* An append slot: one sl_append in flight per slot. */
struct Slot {
	struct sl_append a;
	bool busy;
	int64_t t0;
	struct Run *run;
};

struct Run {
	uint64_t done = 0;
	uint64_t errors = 0;
	struct sl_hist *lat = nullptr;
};

void
on_append(struct sl_append *a)
{
	Slot *s = static_cast<Slot *>(a->arg);

	s->busy = false;
	s->run->done++;
	if (a->err)
		s->run->errors++;
	if (s->run->lat)
		sl_hist_record(s->run->lat, sl_now_ns() - s->t0);
}

/*
 * Appends nbatches batches (cycling through pool) round-robin over logs with up to
 * `window` appends in flight per log, and waits for all of them. Returns false on an
 * append error.
 */
bool
append_all(Shard &sh, std::vector<struct sl_plog *> &logs, const Pool &pool, uint64_t nbatches,
           unsigned window, struct sl_hist *lat)
{
	Run run;
	std::vector<Slot> slots(logs.size() * window);
	uint64_t submitted = 0;

	run.lat = lat;
	for (auto &s : slots) {
		memset(&s.a, 0, sizeof(s.a));
		s.a.done = on_append;
		s.a.arg = &s;
		s.busy = false;
		s.run = &run;
	}
	while (run.done < nbatches) {
		for (size_t l = 0; l < logs.size() && submitted < nbatches; l++) {
			for (unsigned w = 0; w < window && submitted < nbatches; w++) {
				Slot &s = slots[l * window + w];
				const std::vector<uint8_t> &batch = pool[submitted % pool.size()];
				struct iovec iov = {(void *)batch.data(), batch.size()};
				int r;

				if (s.busy)
					continue;
				s.t0 = sl_now_ns();
				r = sl_plog_append(logs[l], &iov, 1, &s.a);
				if (r == -ENOSPC)
					break; /* every chunk is in flight: wait for completions */
				if (r < 0)
					return false;
				s.busy = true;
				submitted++;
			}
		}
		sh.step();
	}
	return run.errors == 0;
}

/* args: batch bytes, durable, logs, direct (non-durable only: O_DIRECT or the page cache) */
void
BM_append(benchmark::State &state)
{
	size_t batch_bytes = (size_t)state.range(0);
	bool durable = state.range(1) != 0;
	unsigned nlogs = (unsigned)state.range(2);
	bool direct = state.range(3) != 0;
	uint64_t total = (uint64_t)env_i64("SLUICE_BENCH_BYTES", 256 << 20);
	int nrec = 0;
	Pool pool = random_batches(batch_bytes, std::min<uint64_t>(total, 256 << 20), &nrec);
	uint64_t nbatches = total / pool[0].size();
	Shard sh("append", 64, direct);

	if (!sh.ok) {
		state.SkipWithError("cannot create the store");
		return;
	}
	for (auto _ : state) {
		std::vector<struct sl_plog *> logs;

		state.PauseTiming();
		for (unsigned i = 0; i < nlogs; i++) {
			struct sl_plog *log = sh.open_log((int)i, durable);

			if (!log) {
				state.SkipWithError("cannot open a log");
				return;
			}
			logs.push_back(log);
		}
		state.ResumeTiming();
		/* 64 appends in flight per log at most: the chunk pool is the real limit. */
		if (!append_all(sh, logs, pool, nbatches, 64, nullptr)) {
			state.SkipWithError("append failed");
			return;
		}
		state.PauseTiming();
		for (auto *log : logs)
			sh.remove_log(log);
		state.ResumeTiming();
	}
	state.SetBytesProcessed((int64_t)(state.iterations() * nbatches * pool[0].size()));
	state.counters["batches/s"] = benchmark::Counter((double)(state.iterations() * nbatches),
	                                                 benchmark::Counter::kIsRate);
	state.SetLabel(std::string(durable ? "durable" : "no-fsync") +
	               (durable || direct ? " O_DIRECT" : " page cache") +
	               " logs=" + std::to_string(nlogs));
}
BENCHMARK(BM_append)
        ->ArgNames({"bytes", "durable", "logs", "direct"})
        ->Args({16 << 10, 0, 1, 1})
        ->Args({1 << 20, 0, 1, 1})
        ->Args({1 << 20, 0, 4, 1})
        ->Args({16 << 10, 0, 1, 0})
        ->Args({1 << 20, 0, 1, 0})
        ->Args({16 << 10, 1, 1, 1})
        ->Args({1 << 20, 1, 1, 1})
        ->Args({16 << 10, 1, 4, 1})
        ->Args({1 << 20, 1, 4, 1})
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);

/* args: batch bytes, durable */
void
BM_append_latency(benchmark::State &state)
{
	size_t batch_bytes = (size_t)state.range(0);
	bool durable = state.range(1) != 0;
	int nrec = 0;
	Pool pool = random_batches(batch_bytes, 16 << 20, &nrec);
	Shard sh("latency", 16);
	struct sl_hist lat;
	std::vector<struct sl_plog *> logs;

	if (!sh.ok || sl_hist_init(&lat, 10LL * 1000 * 1000 * 1000, 10)) {
		state.SkipWithError("setup failed");
		return;
	}
	logs.push_back(sh.open_log(0, durable));
	if (!logs[0]) {
		state.SkipWithError("cannot open a log");
		sl_hist_fini(&lat);
		return;
	}
	for (auto _ : state) {
		if (!append_all(sh, logs, pool, 1, 1, &lat)) {
			state.SkipWithError("append failed");
			break;
		}
	}
	sh.remove_log(logs[0]);
	state.SetBytesProcessed((int64_t)(state.iterations() * pool[0].size()));
	state.counters["p50_us"] = (double)sl_hist_percentile(&lat, 50) / 1e3;
	state.counters["p99_us"] = (double)sl_hist_percentile(&lat, 99) / 1e3;
	state.counters["p999_us"] = (double)sl_hist_percentile(&lat, 99.9) / 1e3;
	state.counters["max_us"] = (double)sl_hist_max(&lat) / 1e3;
	state.SetLabel(durable ? "durable (write + fdatasync)" : "no-fsync (write)");
	sl_hist_fini(&lat);
}
BENCHMARK(BM_append_latency)
        ->ArgNames({"bytes", "durable"})
        ->Args({16 << 10, 1})
        ->Args({16 << 10, 0})
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);

struct ReadSlot {
	struct sl_read r;
	bool busy;
	uint64_t *bytes;
	uint64_t *errors;
};

void
on_read(struct sl_read *r)
{
	ReadSlot *s = static_cast<ReadSlot *>(r->arg);

	s->busy = false;
	if (r->err)
		(*s->errors)++;
	*s->bytes += r->len;
	if (r->len)
		sl_rbuf_unref(r->buf);
}

/* Writes `bytes` of 16 KiB batches to a fresh log; returns it (nullptr on error). */
struct sl_plog *
filled_log(Shard &sh, uint64_t bytes, int *nrec_out)
{
	Pool pool = random_batches(16 << 10, 64 << 20, nrec_out);
	std::vector<struct sl_plog *> logs = {sh.open_log(0, false)};

	if (!logs[0] || !append_all(sh, logs, pool, bytes / pool[0].size(), 64, nullptr))
		return nullptr;
	sh.drain();
	return logs[0];
}

void
BM_read_tail(benchmark::State &state)
{
	Shard sh("read-tail", 64); /* 256 MiB of cache */
	int nrec = 0;
	struct sl_plog *log = sh.ok ? filled_log(sh, 64 << 20, &nrec) : nullptr;
	uint64_t bytes = 0, errors = 0, disk = 0;
	int64_t end, span;
	uint32_t x = 1;

	if (!log) {
		state.SkipWithError("setup failed");
		return;
	}
	end = sl_plog_high_watermark(log);
	span = end / 2;
	for (auto _ : state) {
		ReadSlot s = {};
		int rc;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		s.r.done = on_read;
		s.r.arg = &s;
		s.r.offset = end - 1 - (int64_t)(x % (uint32_t)span);
		s.r.max_bytes = 1 << 20;
		s.bytes = &bytes;
		s.errors = &errors;
		rc = sl_plog_read(log, &s.r);
		if (rc == 1) {
			on_read(&s.r);
		} else if (rc == 0) {
			disk++;
			s.busy = true;
			while (s.busy)
				sh.step();
		} else {
			state.SkipWithError("read failed");
			break;
		}
	}
	sh.remove_log(log);
	/* Served in place (a pointer and a reference): reads/s is the measure, not bytes/s. */
	state.SetItemsProcessed((int64_t)state.iterations());
	state.counters["bytes_per_read"] =
	        state.iterations() ? (double)bytes / (double)state.iterations() : 0;
	state.counters["disk_reads"] = (double)disk;
	state.counters["errors"] = (double)errors;
}
BENCHMARK(BM_read_tail)->UseRealTime();

void
BM_read_disk(benchmark::State &state)
{
	Shard sh("read-disk", 8); /* 32 MiB of cache: the start of the log is cold */
	uint64_t total = (uint64_t)env_i64("SLUICE_BENCH_BYTES", 256 << 20);
	int nrec = 0;
	struct sl_plog *log = sh.ok ? filled_log(sh, total, &nrec) : nullptr;
	uint64_t bytes = 0, errors = 0;
	const unsigned depth = 8;
	/* 1 MiB reads of 16 KiB batches: each read covers ~64 batches. */
	const int64_t stride = (int64_t)((1 << 20) / (16 << 10)) * nrec;

	if (!log) {
		state.SkipWithError("setup failed");
		return;
	}
	/* The cold part: everything but the last 64 MiB. */
	int64_t cold_end =
	        sl_plog_high_watermark(log) * (int64_t)(total - (64 << 20)) / (int64_t)total;
	for (auto _ : state) {
		std::vector<ReadSlot> slots(depth);
		int64_t next = 0;
		unsigned busy = 0;
		bool failed = false;

		for (; !failed;) {
			for (auto &s : slots) {
				int rc;

				if (s.busy || next >= cold_end)
					continue;
				memset(&s.r, 0, sizeof(s.r));
				s.r.done = on_read;
				s.r.arg = &s;
				s.r.offset = next;
				s.r.max_bytes = 1 << 20;
				s.bytes = &bytes;
				s.errors = &errors;
				next += stride;
				rc = sl_plog_read(log, &s.r);
				if (rc == 1) {
					on_read(&s.r);
				} else if (rc == 0) {
					s.busy = true;
				} else {
					state.SkipWithError("read failed");
					failed = true;
					break;
				}
			}
			busy = 0;
			for (auto &s : slots)
				busy += s.busy;
			if (!busy && (next >= cold_end || failed))
				break;
			sh.step();
		}
		while (busy) {
			sh.step();
			busy = 0;
			for (auto &s : slots)
				busy += s.busy;
		}
	}
	sh.remove_log(log);
	state.SetBytesProcessed((int64_t)bytes);
	state.counters["errors"] = (double)errors;
}
BENCHMARK(BM_read_disk)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace
