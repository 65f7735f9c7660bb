/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kproto_cases.h: Produce/Fetch codec cases for bench_kproto.cc, built in C
 * (kproto_cases.c) because the generated codec headers are C, not C++. Each case owns its
 * arena and its input; one run is one request decoded or one response encoded, with the
 * arena reset first, as the connection code does per request. Single-threaded.
 */
#ifndef SL_BENCH_MICRO_KPROTO_CASES_H
#define SL_BENCH_MICRO_KPROTO_CASES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sl_bk_kind {
	SL_BK_PRODUCE_REQ_DECODE, /* Produce v7 request body, one 16 KiB batch per partition */
	SL_BK_PRODUCE_RESP_ENCODE,
	SL_BK_FETCH_REQ_DECODE,   /* Fetch v11 */
	SL_BK_FETCH_RESP_ENCODE,  /* one 16 KiB batch per partition, referenced (gather) */
};

struct sl_bk_case;

/* Returns a new case for nparts partitions of one topic, or NULL (bad kind, no memory). */
struct sl_bk_case *sl_bk_case_create(enum sl_bk_kind kind, int nparts);
void sl_bk_case_destroy(struct sl_bk_case *c);
/* One decode or encode. Returns the bytes decoded / encoded, or -errno. */
long sl_bk_case_run(struct sl_bk_case *c);

#ifdef __cplusplus
}
#endif

#endif
