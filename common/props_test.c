// SPDX-License-Identifier: Apache-2.0
/* Unit tests for common/props: separators, comments, continuations, escapes, typed
 * getters, overrides, and the report of keys nobody read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "common/props.h"

static void
parse_ok(struct sl_props *p, const char *text)
{
	int bad = 0;

	sl_props_init(p);
	assert_int_equal(sl_props_parse(p, text, strlen(text), "t.properties", &bad), 0);
}

static void
test_props_separators_all_forms_parse(void **state)
{
	struct sl_props p;

	(void)state;
	parse_ok(&p, "a=1\nb: 2\nc 3\n  d  =  4  \ne=\nf\n\tg\t=\tx y z\n");
	assert_string_equal(sl_props_get(&p, "a"), "1");
	assert_string_equal(sl_props_get(&p, "b"), "2");
	assert_string_equal(sl_props_get(&p, "c"), "3");
	assert_string_equal(sl_props_get(&p, "d"), "4");
	assert_string_equal(sl_props_get(&p, "e"), "");
	assert_string_equal(sl_props_get(&p, "f"), "");
	assert_string_equal(sl_props_get(&p, "g"), "x y z");
	assert_null(sl_props_get(&p, "h"));
	sl_props_fini(&p);
}

static void
test_props_comments_and_blank_lines_ignored(void **state)
{
	struct sl_props p;

	(void)state;
	parse_ok(&p, "# comment=1\n! also\n\n   \n  # indented\nk=v # not a comment\r\n"
	             "# comment ending in backslash \\\nafter=yes\n");
	assert_int_equal(p.n, 2);
	assert_string_equal(sl_props_get(&p, "k"), "v # not a comment");
	assert_string_equal(sl_props_get(&p, "after"), "yes");
	sl_props_fini(&p);
}

static void
test_props_continuation_joins_lines(void **state)
{
	struct sl_props p;

	(void)state;
	parse_ok(&p, "listeners=PLAINTEXT://a:1,\\\n    PLAINTEXT://b:2\nx=1\\\\\ny=2");
	assert_string_equal(sl_props_get(&p, "listeners"), "PLAINTEXT://a:1,PLAINTEXT://b:2");
	assert_string_equal(sl_props_get(&p, "x"), "1\\");
	assert_string_equal(sl_props_get(&p, "y"), "2");
	sl_props_fini(&p);
}

static void
test_props_escapes_decoded(void **state)
{
	struct sl_props p;

	(void)state;
	parse_ok(&p, "a\\=b=c\\td\nu=\\u00e9\\u0041\nbad=\\u12\n");
	assert_string_equal(sl_props_get(&p, "a=b"), "c\td");
	assert_string_equal(sl_props_get(&p, "u"), "\xc3\xa9"
	                                           "A");
	assert_string_equal(sl_props_get(&p, "bad"), "u12");
	sl_props_fini(&p);
}

static void
test_props_later_value_and_override_win(void **state)
{
	struct sl_props p;

	(void)state;
	parse_ok(&p, "num.partitions=1\nnum.partitions=3\n");
	assert_string_equal(sl_props_get(&p, "num.partitions"), "3");
	assert_int_equal(sl_props_set_kv(&p, "num.partitions=7", "command line"), 0);
	assert_string_equal(sl_props_get(&p, "num.partitions"), "7");
	assert_string_equal(p.v[0].origin, "command line");
	assert_int_equal(p.n, 1);
	assert_int_equal(sl_props_set_kv(&p, "=7", "command line"), -EINVAL);
	assert_int_equal(sl_props_set_kv(&p, "novalue", "command line"), -EINVAL);
	assert_int_equal(sl_props_set_kv(&p, "empty=", "command line"), 0);
	assert_string_equal(sl_props_get(&p, "empty"), "");
	sl_props_fini(&p);
}

static void
test_props_typed_getters_validate(void **state)
{
	struct sl_props p;
	int64_t v = 42;
	bool b = false;

	(void)state;
	parse_ok(&p, "i=-12\nbig=9223372036854775807\nover=9223372036854775808\nsz=16m\n"
	             "junk=12x\nt=TRUE\nf=false\nnb=yes\nneg=-1\nempty=\n");
	assert_int_equal(sl_props_get_i64(&p, "absent", 0, 10, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(sl_props_get_i64(&p, "i", INT64_MIN, INT64_MAX, &v), 1);
	assert_int_equal(v, -12);
	assert_int_equal(sl_props_get_i64(&p, "big", INT64_MIN, INT64_MAX, &v), 1);
	assert_true(v == INT64_MAX);
	assert_int_equal(sl_props_get_i64(&p, "over", INT64_MIN, INT64_MAX, &v), -EINVAL);
	assert_int_equal(sl_props_get_i64(&p, "sz", 0, INT64_MAX, &v), 1);
	assert_int_equal(v, 16 << 20);
	assert_int_equal(sl_props_get_i64(&p, "junk", 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(sl_props_get_i64(&p, "neg", 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(sl_props_get_i64(&p, "empty", 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(sl_props_get_bool(&p, "t", &b), 1);
	assert_true(b);
	assert_int_equal(sl_props_get_bool(&p, "f", &b), 1);
	assert_false(b);
	assert_int_equal(sl_props_get_bool(&p, "nb", &b), -EINVAL);
	sl_props_fini(&p);
}

struct unused_seen {
	char keys[8][64];
	char origins[8][64];
	int n;
};

static void
collect_unused(const struct sl_prop *prop, void *arg)
{
	struct unused_seen *u = arg;

	assert_true(u->n < 8);
	snprintf(u->keys[u->n], sizeof(u->keys[0]), "%s", prop->key);
	snprintf(u->origins[u->n], sizeof(u->origins[0]), "%s", prop->origin);
	u->n++;
}

static void
test_props_unknown_keys_reported_with_origin(void **state)
{
	struct unused_seen u = {0};
	struct sl_props p;

	(void)state;
	parse_ok(&p, "log.dirs=/d\n# c\nlog.dirz=/typo\nnum.partitions=2\naccepted.ignored=1\n");
	assert_int_equal(sl_props_set_kv(&p, "bogus.flag=1", "command line"), 0);
	assert_non_null(sl_props_get(&p, "log.dirs"));
	assert_non_null(sl_props_get(&p, "num.partitions"));
	sl_props_touch(&p, "accepted.ignored");
	assert_int_equal(sl_props_foreach_unused(&p, collect_unused, &u), 2);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.keys[0], "log.dirz");
	assert_string_equal(u.origins[0], "t.properties:3");
	assert_string_equal(u.keys[1], "bogus.flag");
	assert_string_equal(u.origins[1], "command line");
	sl_props_fini(&p);
}

static void
test_props_load_missing_file_fails_and_real_file_parses(void **state)
{
	char path[] = "/tmp/props_test_XXXXXX";
	const char *text = "listeners=PLAINTEXT://127.0.0.1:9092\nlog.dirs=./data\n";
	struct sl_props p;
	int fd, bad = 0;

	(void)state;
	sl_props_init(&p);
	assert_int_equal(sl_props_load(&p, "/nonexistent/dir/x.properties", &bad), -ENOENT);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(sl_props_load(&p, path, &bad), 0);
	unlink(path);
	assert_string_equal(sl_props_get(&p, "log.dirs"), "./data");
	sl_props_fini(&p);
}

static void
test_props_empty_key_rejected_with_line(void **state)
{
	const char *text = "a=1\n=2\n";
	struct sl_props p;
	int bad = 0;

	(void)state;
	sl_props_init(&p);
	assert_int_equal(sl_props_parse(&p, text, strlen(text), "x", &bad), -EINVAL);
	assert_int_equal(bad, 2);
	sl_props_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_props_separators_all_forms_parse),
	        cmocka_unit_test(test_props_comments_and_blank_lines_ignored),
	        cmocka_unit_test(test_props_continuation_joins_lines),
	        cmocka_unit_test(test_props_escapes_decoded),
	        cmocka_unit_test(test_props_later_value_and_override_win),
	        cmocka_unit_test(test_props_typed_getters_validate),
	        cmocka_unit_test(test_props_unknown_keys_reported_with_origin),
	        cmocka_unit_test(test_props_load_missing_file_fails_and_real_file_parses),
	        cmocka_unit_test(test_props_empty_key_rejected_with_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
