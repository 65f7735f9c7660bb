/* SPDX-License-Identifier: Apache-2.0 */
/*
 * props.h: a parser for Java-properties-style configuration (Kafka's server.properties):
 * "key=value", "key: value" or "key value" lines, '#' and '!' comments, backslash line
 * continuations, and the escapes \t \n \r \f \\ \uXXXX. Later settings of a key replace
 * earlier ones, so command-line overrides are simply set after the file.
 *
 * Each entry remembers where it came from (file:line or "command line") and whether
 * anyone read it, so the caller can report keys nobody knows (sl_props_foreach_unused).
 *
 * Start-up only: allocates with malloc, not thread-safe. Typed getters reject malformed
 * values with -EINVAL instead of guessing.
 */
#ifndef SL_COMMON_PROPS_H
#define SL_COMMON_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_prop {
	char *key;
	char *val;
	char *origin; /* "FILE:LINE" or "command line" */
	bool used;    /* a getter looked it up */
};

struct sl_props {
	struct sl_prop *v;
	size_t n, cap;
};

void sl_props_init(struct sl_props *p);
void sl_props_fini(struct sl_props *p);

/*
 * Parses text (len bytes, need not be NUL-terminated). origin names the source in
 * messages ("server.properties"). Returns 0, -ENOMEM, or -EINVAL for a line with an
 * empty key (the line number goes to *bad_line when bad_line is not NULL).
 */
int sl_props_parse(struct sl_props *p, const char *text, size_t len, const char *origin,
                   int *bad_line) SL_MUST_CHECK;

/* Reads and parses a file. Returns 0 or -errno (open/read errors, parse errors). */
int sl_props_load(struct sl_props *p, const char *path, int *bad_line) SL_MUST_CHECK;

/* Sets key to val (replacing any earlier value). Returns 0 or -ENOMEM / -EINVAL (empty). */
int sl_props_set(struct sl_props *p, const char *key, const char *val,
                 const char *origin) SL_MUST_CHECK;

/* Parses "key=value" (a command-line --override). Returns 0 or -EINVAL / -ENOMEM. */
int sl_props_set_kv(struct sl_props *p, const char *kv, const char *origin) SL_MUST_CHECK;

/* Looks a key up and marks it used. NULL when absent. */
const char *sl_props_get(struct sl_props *p, const char *key);
/* Marks a key as known without reading it (accepted and ignored settings). */
void sl_props_touch(struct sl_props *p, const char *key);

/*
 * Typed getters: leave *out unchanged and return 0 when the key is absent (the caller's
 * default stands), 1 when set, -EINVAL when the value does not parse or is out of range.
 * Integers accept an optional sign; sizes also the suffixes k/K, m/M, g/G (powers of 1024).
 * Booleans are true/false (any case).
 */
int sl_props_get_i64(struct sl_props *p, const char *key, int64_t min, int64_t max,
                     int64_t *out) SL_MUST_CHECK;
int sl_props_get_bool(struct sl_props *p, const char *key, bool *out) SL_MUST_CHECK;

/* Parses an integer as the getters do (no key involved). Returns 0 or -EINVAL. */
int sl_props_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) SL_MUST_CHECK;

/* Calls fn for every entry no getter looked up (unknown keys). Returns how many. */
typedef void (*sl_props_unused_fn)(const struct sl_prop *prop, void *arg);
size_t sl_props_foreach_unused(const struct sl_props *p, sl_props_unused_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
