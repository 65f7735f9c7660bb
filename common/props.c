// SPDX-License-Identifier: Apache-2.0
/*
 * props.c: the server.properties parser (see props.h). Start-up only; mallocs.
 *
 * A logical line is built from physical lines joined by a trailing odd number of
 * backslashes (leading whitespace of the continuation is dropped, as Java does). Then:
 * skip leading whitespace; '#' or '!' starts a comment; the key ends at the first
 * unescaped '=', ':' or whitespace; the separator is whitespace, optionally one '=' or
 * ':' and more whitespace; the rest is the value with trailing whitespace trimmed (Java
 * keeps it; operators never mean it).
 */
#include "common/props.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void
sl_props_init(struct sl_props *p)
{
	memset(p, 0, sizeof(*p));
}

void
sl_props_fini(struct sl_props *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].val);
		free(p->v[i].origin);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static struct sl_prop *
find(const struct sl_props *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}

int
sl_props_set(struct sl_props *p, const char *key, const char *val, const char *origin)
{
	struct sl_prop *e;
	char *v, *o;

	if (!key || !*key || !val)
		return -EINVAL;
	v = strdup(val);
	o = strdup(origin ? origin : "");
	if (!v || !o)
		goto out_nomem;
	e = find(p, key);
	if (e) {
		free(e->val);
		free(e->origin);
		e->val = v;
		e->origin = o;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct sl_prop *nv = realloc(p->v, cap * sizeof(*nv));

		if (!nv)
			goto out_nomem;
		p->v = nv;
		p->cap = cap;
	}
	e = &p->v[p->n];
	e->key = strdup(key);
	if (!e->key)
		goto out_nomem;
	e->val = v;
	e->origin = o;
	e->used = false;
	p->n++;
	return 0;
out_nomem:
	free(v);
	free(o);
	return -ENOMEM;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends the UTF-8 encoding of cp to out. */
static size_t
put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/*
 * Decodes one escape starting after the backslash at s[*i]; appends to out at *o.
 * \uXXXX with fewer than four hex digits is kept literally.
 */
static void
unescape_one(const char *s, size_t n, size_t *i, char *out, size_t *o)
{
	char c = s[*i];

	(*i)++;
	switch (c) {
	case 't':
		out[(*o)++] = '\t';
		return;
	case 'n':
		out[(*o)++] = '\n';
		return;
	case 'r':
		out[(*o)++] = '\r';
		return;
	case 'f':
		out[(*o)++] = '\f';
		return;
	case 'u': {
		unsigned cp = 0;

		if (*i + 4 <= n) {
			int ok = 1;

			for (size_t k = 0; k < 4; k++) {
				int h = hexval((unsigned char)s[*i + k]);

				if (h < 0)
					ok = 0;
				else
					cp = cp * 16 + (unsigned)h;
			}
			if (ok) {
				*i += 4;
				*o += put_utf8(out + *o, cp);
				return;
			}
		}
		out[(*o)++] = 'u';
		return;
	}
	default:
		out[(*o)++] = c;
		return;
	}
}

/* Parses one logical line (continuations already joined, escapes intact). */
static int
parse_line(struct sl_props *p, const char *s, size_t n, const char *origin)
{
	char *key, *val;
	size_t i = 0, ko = 0, vo = 0;
	int rc;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f'))
		i++;
	if (i == n || s[i] == '#' || s[i] == '!')
		return 0;
	/* \uXXXX expands to at most 3 bytes from 6: n+1 bounds both outputs. */
	key = malloc(n + 1);
	val = malloc(n + 1);
	if (!key || !val) {
		rc = -ENOMEM;
		goto out;
	}
	while (i < n) {
		char c = s[i];

		if (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f')
			break;
		if (c == '\\' && i + 1 < n) {
			i++;
			unescape_one(s, n, &i, key, &ko);
			continue;
		}
		key[ko++] = c;
		i++;
	}
	key[ko] = '\0';
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f'))
		i++;
	if (i < n && (s[i] == '=' || s[i] == ':'))
		i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f'))
		i++;
	while (i < n) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			unescape_one(s, n, &i, val, &vo);
			continue;
		}
		val[vo++] = s[i++];
	}
	while (vo > 0 && (val[vo - 1] == ' ' || val[vo - 1] == '\t' || val[vo - 1] == '\f'))
		vo--;
	val[vo] = '\0';
	rc = ko ? sl_props_set(p, key, val, origin) : -EINVAL;
out:
	free(key);
	free(val);
	return rc;
}

/* True when the physical line [s, s+n) ends in an odd number of backslashes. */
static bool
continues(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && s[n - 1 - k] == '\\')
		k++;
	return k & 1;
}

int
sl_props_parse(struct sl_props *p, const char *text, size_t len, const char *origin, int *bad_line)
{
	char *logical = malloc(len + 1);
	char where[512];
	size_t pos = 0;
	int line = 0, rc = 0;

	if (!logical)
		return -ENOMEM;
	while (pos < len) {
		size_t ln = 0;
		int first_line = line + 1;
		bool more = true, first = true;

		while (more && pos < len) {
			const char *s = text + pos;
			const char *nl = memchr(s, '\n', len - pos);
			size_t n = nl ? (size_t)(nl - s) : len - pos;
			size_t adv = nl ? n + 1 : n;

			line++;
			if (n && s[n - 1] == '\r')
				n--;
			if (!first) {
				while (n && (*s == ' ' || *s == '\t' || *s == '\f')) {
					s++;
					n--;
				}
			}
			/* A comment line never continues (as in Java). */
			if (first) {
				size_t k = 0;

				while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\f'))
					k++;
				more = !(k < n && (s[k] == '#' || s[k] == '!')) && continues(s, n);
			} else {
				more = continues(s, n);
			}
			if (more)
				n--; /* drop the joining backslash */
			memcpy(logical + ln, s, n);
			ln += n;
			pos += adv;
			first = false;
		}
		snprintf(where, sizeof(where), "%s:%d", origin ? origin : "", first_line);
		rc = parse_line(p, logical, ln, where);
		if (rc < 0) {
			if (bad_line)
				*bad_line = first_line;
			break;
		}
	}
	free(logical);
	return rc;
}

int
sl_props_load(struct sl_props *p, const char *path, int *bad_line)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (st.st_size > (64 << 20)) {
		rc = -EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out_free;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	rc = sl_props_parse(p, buf, got, path, bad_line);
out_free:
	free(buf);
out_close:
	close(fd);
	return rc;
}

int
sl_props_set_kv(struct sl_props *p, const char *kv, const char *origin)
{
	const char *eq = strchr(kv, '=');
	char *key;
	int rc;

	if (!eq || eq == kv)
		return -EINVAL;
	key = strndup(kv, (size_t)(eq - kv));
	if (!key)
		return -ENOMEM;
	rc = sl_props_set(p, key, eq + 1, origin);
	free(key);
	return rc;
}

const char *
sl_props_get(struct sl_props *p, const char *key)
{
	struct sl_prop *e = find(p, key);

	if (!e)
		return NULL;
	e->used = true;
	return e->val;
}

void
sl_props_touch(struct sl_props *p, const char *key)
{
	(void)sl_props_get(p, key);
}

int
sl_props_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	unsigned __int128 mag = 0;
	__int128 v;
	bool neg = false;
	unsigned shift = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		mag = mag * 10 + (unsigned)(*s++ - '0');
		if (mag > ((unsigned __int128)1 << 80))
			return -EINVAL;
	}
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	default:
		break;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s)
		return -EINVAL;
	mag <<= shift;
	v = neg ? -(__int128)mag : (__int128)mag;
	if (v < min || v > max)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

int
sl_props_get_i64(struct sl_props *p, const char *key, int64_t min, int64_t max, int64_t *out)
{
	const char *s = sl_props_get(p, key);
	int rc;

	if (!s)
		return 0;
	rc = sl_props_parse_i64(s, min, max, out);
	return rc < 0 ? rc : 1;
}

int
sl_props_get_bool(struct sl_props *p, const char *key, bool *out)
{
	const char *s = sl_props_get(p, key);

	if (!s)
		return 0;
	if (strcasecmp(s, "true") == 0) {
		*out = true;
		return 1;
	}
	if (strcasecmp(s, "false") == 0) {
		*out = false;
		return 1;
	}
	return -EINVAL;
}

size_t
sl_props_foreach_unused(const struct sl_props *p, sl_props_unused_fn fn, void *arg)
{
	size_t cnt = 0;

	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].used)
			continue;
		cnt++;
		if (fn)
			fn(&p->v[i], arg);
	}
	return cnt;
}
