/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plog_int.h: internals of the storage engine behind plog.h, shared by its files (seg.c,
 * idx.c, chunk.c, plog.c, recov.c, retention.c) and by compaction (compact.c). Not for use
 * outside storage/ (tools may read the on-disk layout with their own readers).
 *
 * Threading: everything here belongs to the store's thread, except sl_rbuf_unref (any
 * thread) and the store's returned-buffer list it pushes to.
 *
 * Invariants of a partition log (checked by sl_plog_check() in debug builds):
 *  1. segs[0..nsegs) are sorted by base_offset; segs[nsegs-1] is the active segment and
 *     the only one that receives appends; every earlier segment is either sealed or
 *     waiting for its seal (final write + fdatasync + ftruncate, oldest first).
 *  2. Logical positions (lpos) number the bytes appended in this session across segments:
 *     seg->lbase + file position. hw_lpos <= acked <= written_lpos <= issued_lpos <=
 *     end_lpos, where acked is synced_lpos in durable mode; synced_lpos <= written_lpos.
 *  3. At most wg_max (O_DIRECT segments: wg_max_direct) I/O groups (fallocate / write / fdatasync / directory fsync) per log
 *     are in flight, in issue order; they write disjoint byte ranges, and O_DIRECT writes
 *     of different groups never touch the same 4 KiB block at the same time (a group whose
 *     first block is still being written by an earlier one waits). written_lpos and
 *     synced_lpos advance only when groups retire, oldest first (the contiguous completed
 *     prefix). A group with a sync, other than a durable log's write+sync of its own
 *     range, is issued only when no other group is in flight (a sync covers only writes
 *     that completed before it); so is a segment's seal. A non-durable O_DIRECT group may
 *     skip the rest of a block still being written and start at the next block; that rest
 *     is written by a later group (owed_*), and written_lpos jumps over ranges completed
 *     beyond it (cred[]) only once the hole is filled.
 *  4. The chunk list of a log is ordered by file position (and offset); chunks hold whole
 *     batches from data_start to fill; bytes before data_start are the carried-over
 *     partial block of the previous chunk. Bytes below fill never change.
 *  5. Appends wait in FIFO order of wait_pos; they complete in that order.
 *  6. Zero-ahead writes (O_DIRECT active segments, zahead.c) start at or after every byte
 *     appended to or written as data in their segment, end at or before segment.bytes, and
 *     never overlap a data write in flight: a data write of blocks a zero write in flight
 *     covers waits for it (log_issue); a seal waits for the zero write of its segment.
 *
 * Segment states and transitions:
 *
 *   seg_open (roll / open)     roll()               seal_finish()          update_rp()
 *  ------------------> ACTIVE -------> SEALING -----------> SEALED ------------> SEALED
 *                                  (final write +      (trim_pending)      (trimmed, indexes
 *                                   fdatasync issued)                       synced: the
 *                                                                           recovery point
 *                                                                           may pass it)
 *                               sl_plog_seg_delete() (retention, DeleteRecords, swap)
 *                                 from either SEALED state: DELETED (files unlinked; the
 *                                 fd stays open while in-flight reads hold refs)
 */
#ifndef SL_STORAGE_PLOG_INT_H
#define SL_STORAGE_PLOG_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "common/uring.h"
#include "storage/plog.h"
#include "storage/pstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Direct I/O alignment (offsets, lengths and buffer addresses). */
#define SL_BLK 4096u
/* Iovecs of one write (chunks of one segment written together). */
#define SL_WR_IOV 8
/* Index entry sizes (Kafka's). */
#define SL_OIDX_ENTRY 8
#define SL_TIDX_ENTRY 12
/* Segments larger than this cannot be indexed with 32-bit positions. */
#define SL_SEG_MAX_BYTES ((uint64_t)INT32_MAX)

#define SL_CLEAN_MARKER ".clean_shutdown"
#define SL_LSO_CKPT "log-start-offset-checkpoint"
#define SL_RP_CKPT "recovery-point-offset-checkpoint"

/* ---- refcounted buffers ---- */

enum sl_rbuf_kind { SL_RBUF_CHUNK = 1, SL_RBUF_READ = 2, SL_RBUF_HEAP = 3 };

struct sl_rbuf {
	atomic_int refs;
	uint8_t kind;
	struct sl_store *st;
	struct sl_rbuf *ret_next; /* link in the store's returned list */
};

struct sl_chunk {
	struct sl_rbuf rb;            /* rb.refs: 1 for the owning log's cache + 1 per reader */
	uint8_t *mem;                 /* chunk_bytes, SL_BLK aligned */
	struct sl_plog *log;          /* NULL while free (or evicted and still referenced) */
	struct sl_seg *seg;           /* the segment these bytes belong to */
	uint64_t file_pos;            /* file position of mem[0], SL_BLK aligned */
	uint32_t data_start;          /* first byte of the batches this chunk holds */
	uint32_t fill;                /* bytes used */
	int64_t first_offset;         /* base offset of the batch at data_start */
	int64_t next_offset;          /* offset after the last batch */
	struct sl_chunk *prev, *next; /* the log's cache list, oldest first */
	struct sl_chunk *lru_prev, *lru_next; /* the store's LRU of cached chunks */
	struct sl_chunk *free_next;
};

struct sl_rdbuf {
	struct sl_rbuf rb;
	uint8_t *mem;
	size_t cap;
	struct sl_rdbuf *free_next;
};

/* ---- indexes ---- */

/*
 * An index file mapped into memory (Kafka maps them too). The active segment's indexes are
 * sized to their maximum (segment.index.bytes) and trimmed to n entries at seal/close.
 * fd < 0 with map != NULL: an anonymous mapping (tests, fuzzing).
 *
 *   .index      +----------------------+----------------------+
 *   (8 B each)  | relative offset (be32)| file position (be32) |   offset -> position
 *               +----------------------+----------------------+
 *   .timeindex  +-----------------------+----------------------+
 *   (12 B each) | timestamp (be64)      | relative offset (be32)|  time -> offset
 *               +-----------------------+----------------------+
 */
struct sl_idx {
	uint8_t *map;
	size_t map_len;
	uint32_t n;   /* entries in use */
	uint32_t cap; /* entries the mapping holds */
	uint32_t esz; /* SL_OIDX_ENTRY or SL_TIDX_ENTRY */
	int fd;
	bool writable;
};

/* Maps an index file (created if absent): writable ones get cap_bytes of room (rounded
 * down to whole entries); read-only ones map the file's length, whole entries only. */
int sl_idx_open(struct sl_idx *x, int dirfd, const char *name, uint32_t esz, bool writable,
                uint64_t cap_bytes) SL_MUST_CHECK;
/* An anonymous (memory only) writable index of cap_bytes. */
int sl_idx_anon(struct sl_idx *x, uint32_t esz, uint64_t cap_bytes) SL_MUST_CHECK;
/* Trims the file to n entries (keeps the mapping). Blocking. */
int sl_idx_trim(struct sl_idx *x) SL_MUST_CHECK;
int sl_idx_sync(struct sl_idx *x) SL_MUST_CHECK;
void sl_idx_close(struct sl_idx *x);
/* Empties the index (rebuild). */
void sl_idx_reset(struct sl_idx *x);

static inline bool
sl_idx_full(const struct sl_idx *x, uint32_t more)
{
	return x->n + more > x->cap;
}

/* Appends an entry; false when full or when it would break monotonicity (ignored). */
bool sl_oidx_append(struct sl_idx *x, uint32_t rel_offset, uint32_t pos);
bool sl_tidx_append(struct sl_idx *x, int64_t ts, uint32_t rel_offset);
void sl_oidx_entry(const struct sl_idx *x, uint32_t i, uint32_t *rel, uint32_t *pos);
void sl_tidx_entry(const struct sl_idx *x, uint32_t i, int64_t *ts, uint32_t *rel);

/* File position of the last indexed batch whose last offset <= rel (0 if none). */
uint32_t sl_oidx_lookup(const struct sl_idx *x, uint32_t rel);
/* Relative offset of the last entry with timestamp <= ts (-1 if none). */
int64_t sl_tidx_lookup(const struct sl_idx *x, int64_t ts);
/* The same, also giving the entry's timestamp. */
int64_t sl_tidx_lookup_ts(const struct sl_idx *x, int64_t ts, int64_t *ets);

/*
 * Sanity checks a loaded index against its segment: whole entries, relative offsets and
 * positions strictly increasing, positions below log_size, offsets below max_rel
 * (the segment's next offset - base; UINT32_MAX when unknown). Returns 0 or -EBADMSG.
 * The pure variants check raw bytes (the fuzz target feeds them file contents).
 */
int sl_oidx_check_bytes(const uint8_t *p, size_t len, uint64_t log_size, uint64_t max_rel);
int sl_tidx_check_bytes(const uint8_t *p, size_t len, uint64_t max_rel);
int sl_idx_check(const struct sl_idx *oidx, const struct sl_idx *tidx, uint64_t log_size,
                 uint64_t max_rel);

/* ---- segments ---- */

struct sl_seg {
	int64_t base_offset;
	int64_t next_offset; /* offset after the last batch */
	uint64_t size;       /* valid bytes (the file may be longer: padding, preallocation) */
	uint64_t lbase;      /* lpos of file byte 0 */
	int fd;
	int refs; /* the log's + in-flight reads */
	bool direct;
	bool active;
	bool sealed;
	bool deleted;
	bool idx_synced; /* sealed and its indexes fdatasynced (recovery point may pass) */
	bool trim_pending; /* sealed; the file and indexes still to be trimmed (update_rp) */
	struct sl_idx oidx, tidx;
	uint64_t last_idx_pos; /* start of the last indexed batch (Kafka's interval rule) */
	int64_t max_ts;        /* largest batch maxTimestamp (-1: none) */
	int64_t max_ts_offset; /* last offset of the batch that has it */
	int64_t created_ms;    /* when the first batch went in (segment.ms); -1 empty */
	int64_t mtime_ms;      /* file mtime at open (retention.ms when no timestamps) */
	uint64_t prealloc_end; /* fallocated up to (KEEP_SIZE; zero-ahead: i_size too) */
	uint64_t wr_hi;        /* O_DIRECT: end of the highest data write issued (file pos) */
	uint64_t zero_end;     /* zero-ahead: [0, zero_end) is written (data or zeros) */
};

/* "<20-digit base><suffix>" into buf (>= 40 bytes). */
void sl_seg_name(char *buf, size_t len, int64_t base, const char *suffix);
/* Parses "<20 digits><suffix>" exactly; returns the base or -1. */
int64_t sl_seg_parse_name(const char *name, const char *suffix);

/*
 * Opens (or creates) the segment files of base in dirfd. direct: try O_DIRECT (*direct is
 * set to what was obtained). Does not map indexes. Blocking.
 */
int sl_seg_open(struct sl_seg **out, int dirfd, int64_t base, bool create,
                bool *direct) SL_MUST_CHECK;
/* Maps the segment's indexes: writable (active, cap from cfg) or read-only. */
int sl_seg_map_idx(struct sl_seg *s, int dirfd, bool writable,
                   uint64_t idx_cap_bytes) SL_MUST_CHECK;
/* Drops a reference; the last one closes fds and unmaps. */
void sl_seg_put(struct sl_seg *s);
/* Unlinks the segment's files (log, index, timeindex) from dirfd. Blocking. */
void sl_seg_unlink_files(int dirfd, int64_t base);

/* Indexes one batch [pos, pos+size) with last offset `last` and maxTimestamp max_ts,
 * following Kafka's rule (an entry when more than interval bytes passed since the last). */
void sl_seg_index_batch(struct sl_seg *s, uint64_t pos, uint32_t size, int64_t last, int64_t max_ts,
                        uint32_t interval);
/* Appends the final time-index entry (the segment's max timestamp) as Kafka does at roll. */
void sl_seg_index_final(struct sl_seg *s);

/* Synchronous aligned read of [pos, pos+len) into dst through a bounce buffer when the fd
 * is O_DIRECT. Returns the bytes read (short at EOF) or -errno. Blocking. */
ssize_t sl_seg_pread(const struct sl_seg *s, void *dst, size_t len, uint64_t pos);

/*
 * The segment reader of recovery: walks the batches of fd from `from` to file_size, checks
 * framing, CRC (header-only validation) and that offsets increase from min_offset, and
 * stops at the first bad byte. With s != NULL, indexes every batch into s (rebuild) and
 * updates its max timestamp. Pure over the file contents; blocking reads.
 */
struct sl_scan {
	uint64_t valid_size; /* end of the last good batch */
	int64_t next_offset; /* after the last good batch (min_offset if none) */
	int64_t max_ts;
	int64_t max_ts_offset;
	uint32_t nbatches;
	bool tail_zero; /* everything after valid_size is zero bytes */
	int err;        /* why it stopped early (enum sl_rb_err / -errno), 0 at EOF */
};

int sl_seg_scan(int fd, bool direct, uint64_t from, uint64_t file_size, int64_t min_offset,
                int64_t seg_base, struct sl_seg *s, uint32_t interval,
                struct sl_scan *out) SL_MUST_CHECK;

/* ---- store ---- */

struct sl_store_stats {
	uint64_t writes; /* write SQEs issued */
	uint64_t syncs;  /* fdatasync SQEs issued on segment files */
	uint64_t dir_syncs;
	uint64_t fallocs;
	uint64_t disk_reads;
	uint64_t cache_reads;
	uint64_t evictions;
	uint64_t heap_reads; /* batches larger than a read buffer */
	uint64_t zero_writes; /* zero-ahead writes issued (not counted in writes) */
	uint64_t zero_bytes;
	uint64_t zero_waits;  /* data writes that waited for a zero write of their blocks */
	uint64_t inline_writes; /* of writes: made with pwritev on the thread (inline_buffered) */
};

struct sl_store {
	struct sl_uring *ring;
	struct sl_store_opts o;
	struct sl_chunk *chunks;
	uint8_t *chunk_mem;
	struct sl_chunk *free_chunks;
	struct sl_chunk *lru_head, *lru_tail; /* cached chunks, least recently filled first */
	struct sl_rdbuf *rdbufs;
	uint8_t *rdbuf_mem;
	struct sl_rdbuf *free_rdbufs;
	_Atomic(struct sl_rbuf *) ret;               /* buffers whose last reference went away */
	struct sl_read *rd_wait_head, *rd_wait_tail; /* reads waiting for a buffer */
	uint8_t *zero_buf; /* zero_step_bytes of zeros, pre-faulted, shared by every zero write */
	uint8_t *scratch;                            /* decompression scratch for validation */
	size_t scratch_cap;
	int64_t now_ms;
	int64_t last_scan_ms;
	struct sl_plog *logs;  /* every open log */
	struct sl_plog *dirty; /* logs with I/O to issue (singly linked) */
	unsigned inflight;     /* I/O groups + reads in flight */
	/* groups whose write was made inline (inline_buffered), completion not yet delivered */
	struct sl_wgroup *inl_head, *inl_tail;
	uint64_t pending_appends;
	struct sl_store_stats stats;
};

const struct sl_store_stats *sl_store_stats(const struct sl_store *st);

struct sl_chunk *sl_chunk_get(struct sl_store *st);
/* Drops the log's reference of a cached chunk (eviction, close, segment deletion). */
void sl_chunk_release(struct sl_store *st, struct sl_chunk *c);
struct sl_rdbuf *sl_rdbuf_get(struct sl_store *st);
/* Moves buffers returned from any thread to the free lists; returns how many. */
unsigned sl_store_drain(struct sl_store *st);
void sl_lru_touch(struct sl_store *st, struct sl_chunk *c);
void sl_lru_remove(struct sl_store *st, struct sl_chunk *c);

/* ---- partition log ---- */

/* Write groups a log may keep in flight at once (store opt write_groups, clamped). */
#define SL_WG_MAX 8

/*
 * One I/O group: [fallocate] [write (linked ->) fdatasync] [directory fsync], issued by
 * log_issue and retired in issue order once all its SQEs completed. Groups of a log write
 * disjoint file ranges; their completions may arrive in any order.
 */
struct sl_wgroup {
	struct sl_plog *log;
	struct sl_uop wr_uop, sync_uop, dsync_uop, fal_uop;
	struct sl_seg *seg;
	uint64_t seq;
	unsigned pending;       /* SQEs not completed */
	uint64_t lpos_lo;       /* lpos where this group's valid bytes start */
	uint64_t wr_off, wr_len; /* file range written */
	uint64_t wr_true_end;   /* file position of the last valid byte written + 1 */
	uint64_t sync_target;   /* written lpos the sync covers */
	int64_t sync_msgs;
	int wr_res, sync_res, dsync_res, fal_res;
	bool wr_issued, sync_issued, dsync_issued, fal_issued, seal_issued;
	bool done;             /* every SQE completed (and not held by a test) */
	bool held;             /* completed, but held back by the test hook */
	struct sl_wgroup *inl_next; /* on the store's inline-completion list */
	struct iovec iov[SL_WR_IOV];
};


struct sl_plog {
	struct sl_store *st;
	struct sl_plog_cfg cfg;
	char *path; /* <dir>/<topic>-<partition> */
	char *topic;
	int32_t partition;
	int dirfd;
	bool direct;
	struct sl_seg **segs;
	unsigned nsegs, segs_cap;
	struct sl_seg *active;
	int64_t start_offset;
	int64_t next_offset; /* log end offset */
	int64_t hw;
	uint64_t hw_lpos;
	uint64_t end_lpos;
	uint64_t written_lpos;
	uint64_t synced_lpos;
	uint64_t size_bytes;
	/* tail cache */
	struct sl_chunk *ch_head, *ch_tail;
	struct sl_chunk *cur; /* chunk receiving appends (== ch_tail) or NULL */
	uint8_t *tail_blk;    /* partial last block of the active segment when cur is NULL */
	uint32_t tail_blk_len;
	/* appends waiting for their write / sync */
	struct sl_append *ap_head, *ap_tail;
	int64_t msgs_unsynced;
	int64_t last_sync_ms;
	/* the write groups in flight, in issue order: wg[(wg_head + i) % SL_WG_MAX], i < io_pending */
	struct sl_wgroup wg[SL_WG_MAX];
	unsigned wg_head;
	unsigned io_pending; /* groups issued and not yet retired */
	/* Non-durable logs: the fdatasync that seals a rolled segment whose bytes are all
	 * written runs beside the write groups, not in their order, so the active segment's
	 * appends are not acknowledged late behind it (one at a time, oldest unsealed first). */
	struct sl_uop seal_uop;
	struct sl_seg *seal_seg; /* its segment (a reference held), NULL when none */
	/* A sealed segment's index files synced through the ring (sl_plog_update_rp outside
	 * close): msync/fdatasync on the shard stalled it for seconds behind data writeback. */
	struct sl_uop idx_uop[2];
	struct sl_seg *idx_seg; /* its segment (a reference held), NULL when none */
	unsigned idx_pending;   /* fsyncs of idx_seg still out */
	int idx_res;            /* first error of them */
	unsigned wg_max;     /* groups allowed in flight (store opt write_groups) */
	unsigned wg_max_direct; /* the same while writing an O_DIRECT segment */
	uint64_t wg_seq;     /* sequence number of the next group */
	uint64_t issued_lpos; /* end of the bytes covered by issued writes (>= written_lpos) */
	bool wr_hole;        /* a short write left bytes below issued_lpos unwritten */
	/* O_DIRECT, non-durable: a group skipped the rest of a block an earlier group was still
	 * writing; [owed_lo, owed_hi) of owed_seg is written by its own group once that write
	 * completed (owed_hi == 0: nothing owed). Groups that completed beyond a hole wait in
	 * cred[] until written_lpos reaches them. */
	struct sl_seg *owed_seg;
	uint64_t owed_lo, owed_hi;
	struct {
		uint64_t lo, hi;
	} cred[SL_WG_MAX];
	unsigned ncred;
	uint64_t test_hold_lo, test_hold_hi; /* tests: groups with seq in [lo, hi) are held */
	bool test_hold_seal;  /* tests: a detached seal's completion is held ... */
	bool seal_held;       /* ... and is being held, with its result */
	int seal_held_res;
	bool need_dirsync;
	bool rp_dirty;    /* recovery point checkpoint is behind */
	bool no_prealloc; /* fallocate failed once: stop trying */
	/* zero-ahead (zahead.c): at most one zero write per log in flight, [zero_lo, zero_hi)
	 * of zero_seg (zero_hi == 0: none); no_zero after a failed one */
	struct sl_uop zero_uop;
	struct sl_seg *zero_seg;
	uint64_t zero_lo, zero_hi;
	bool no_zero;
	bool zero_fal; /* the op in flight is the fallocate that moves i_size ahead */
	bool in_dirty;
	bool closing;
	int err; /* sticky failure */
	unsigned reads_inflight;
	struct sl_plog *next, *prev; /* store's list */
	struct sl_plog *dirty_next;
	sl_plog_hw_fn hw_fn;
	void *hw_arg;
	struct sl_pstate ps; /* idempotent producers (pstate.c), rebuilt at open */
};

/*
 * Zero-ahead (zahead.c), O_DIRECT segments: issues the next zero write of the active
 * segment when less than zero_ahead_bytes beyond its appended end are written, never past
 * segment.bytes, never below a byte appended or written as data. Never blocks (one SQE).
 */
void sl_plog_zero_ahead(struct sl_plog *log);
/* Whether a zero write in flight covers a block of [from, to) of s: a data write of those
 * blocks waits for it (two writes of one block in flight land in either order). */
bool sl_plog_zero_busy(const struct sl_plog *log, const struct sl_seg *s, uint64_t from,
                       uint64_t to);

/* Marks a log as having I/O to issue at the next poll. */
void sl_plog_mark_dirty(struct sl_plog *log);
/* Starts a new active segment at the log end offset. Blocking (file creation). */
int sl_plog_roll(struct sl_plog *log) SL_MUST_CHECK;
/* Index of the segment that holds offset (the last with base <= offset), or -1. */
int sl_plog_find_seg(const struct sl_plog *log, int64_t offset);
/* Removes segs[i] (not the active one) from the log, unlinks its files and drops cached
 * chunks of it; in-flight reads keep the fd until they finish. */
void sl_plog_seg_delete(struct sl_plog *log, unsigned i);
/* Writes a checkpoint file (Kafka's format: version 0, one entry) atomically. */
int sl_plog_ckpt_write(struct sl_plog *log, const char *name, int64_t offset,
                       bool sync) SL_MUST_CHECK;
/* Reads a checkpoint file; returns the offset, or -1 when absent or malformed. */
int64_t sl_plog_ckpt_read(struct sl_plog *log, const char *name);
/* Recovery at open (recov.c): fills segs, offsets; leaves the last segment active. */
int sl_plog_recover(struct sl_plog *log, const char *topic, int32_t partition) SL_MUST_CHECK;
/* Makes sealed segments' indexes durable, then writes the recovery point (the base of the
 * oldest segment not sealed). Blocking. */
int sl_plog_update_rp(struct sl_plog *log, bool sync) SL_MUST_CHECK;
/* Scans segment s from its start, rebuilding its indexes, truncating a bad tail (*torn:
 * the tail was not zero padding). Blocking. */
int sl_plog_scan_seg(struct sl_plog *log, struct sl_seg *s, int64_t min_offset,
                     bool *torn) SL_MUST_CHECK;
/* Producer-state snapshot written at clean close (pstate.c). */
#define SL_PSTATE_SNAP "sluice-producer-state"
/* Rebuilds log->ps (pstate.c; open only, after recovery): from the snapshot when it was
 * written at the recovered log end offset, else from the producer fields of every batch in
 * the log. Blocking reads. 0 or -errno. */
int sl_plog_pstate_rebuild(struct sl_plog *log) SL_MUST_CHECK;
/* Writes the snapshot for the current log end offset (close only). Blocking. 0 or -errno;
 * on failure no snapshot is left behind. */
int sl_plog_pstate_save(struct sl_plog *log) SL_MUST_CHECK;
/* Tests: completes the groups held by test_hold_lo/hi (in any order the test chose by
 * releasing them one at a time: seq, or every held group when seq is UINT64_MAX) and
 * retires what became the completed prefix. */
void sl_plog_test_release(struct sl_plog *log, uint64_t seq);
/* Tests: completes a detached seal sync held by test_hold_seal. */
void sl_plog_test_release_seal(struct sl_plog *log);
/* Runs the ring until the log has nothing in flight (close, swap). Blocking. */
void sl_plog_quiesce(struct sl_plog *log);
bool sl_plog_check(const struct sl_plog *log);

/*
 * Compaction (compact.c) replaces the closed segments segs[first .. first+n) with one
 * segment file it wrote as "<20-digit new_base>.log.cleaned" in log->dirfd (written and
 * fsynced; new_base = segs[first]->base_offset, its batches within the replaced offsets,
 * the batch holding the last offset of the range kept). The swap follows Kafka: rename
 * .cleaned -> .swap, delete the old segments, rename .swap -> .log, rebuild its indexes;
 * sl_plog_open completes or rolls back a swap interrupted by a crash (.cleaned files are
 * deleted, .swap files replace the segments their offsets cover). Blocking. The active
 * segment cannot be swapped. Returns 0 or -errno (then the old segments stay).
 */
int sl_plog_seg_swap(struct sl_plog *log, unsigned first, unsigned n) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
