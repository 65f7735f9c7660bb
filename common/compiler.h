/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compiler.h: attributes and small macros every layer uses. Header only, no state.
 */
#ifndef SL_COMMON_COMPILER_H
#define SL_COMMON_COMPILER_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_MUST_CHECK __attribute__((warn_unused_result))
#define SL_UNUSED __attribute__((unused))
#define SL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SL_CACHE_LINE 64
#define SL_CACHE_ALIGNED __attribute__((aligned(SL_CACHE_LINE)))
#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define SL_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define SL_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Always on: continuing could corrupt the log. */
#define SL_BUG_ON(cond)                                                                            \
	do {                                                                                       \
		if (SL_UNLIKELY(cond)) {                                                           \
			fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Debug only, and free of side effects. */
#ifdef NDEBUG
#define SL_ASSERT(cond) ((void)0)
#else
#define SL_ASSERT(cond) SL_BUG_ON(!(cond))
#endif

#ifdef __cplusplus
}
#endif

#endif
