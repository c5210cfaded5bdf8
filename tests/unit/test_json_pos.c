/* json_pos: the byte serde_json stops at, as its "line L column C"
 * counts it (lines from 1, columns as bytes read on that line). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "api/json_pos.h"

static struct json_pos at(const char *text, const char *path, enum json_pos_at where, const char *key)
{
	struct json_pos p = { 0, 0 };
	assert_int_equal(json_pos_find(text, strlen(text), path, where, key, &p), 0);
	return p;
}

static void test_top_object(void **state)
{
	(void)state;
	const char *t = "{\"a\": 1, \"bb\" : \"x\", \"c\": [1, {\"d\": 2}]}";
	struct json_pos p = at(t, "", JSON_POS_OBJECT_END, NULL);
	assert_int_equal(p.line, 1);
	assert_int_equal(p.column, (int)strlen(t));
	/* after the key and the blank before its colon */
	p = at(t, "", JSON_POS_KEY_END, "bb");
	assert_int_equal(p.column, (int)(strstr(t, " :") - t) + 1);
	p = at(t, "", JSON_POS_VALUE_END, "bb");
	assert_int_equal(p.column, (int)(strstr(t, "\"x\"") - t) + 3);
	p = at(t, "", JSON_POS_VALUE_START, "c");
	assert_int_equal(p.column, (int)(strchr(t, '[') - t));
}

static void test_nested_and_arrays(void **state)
{
	(void)state;
	const char *t = "{\"o\": {\"p\": {\"q\": 1}}, \"arr\": [{\"x\": 1}, {\"y\": \"a\\\"}b\"}]}";
	struct json_pos p = at(t, "o.p", JSON_POS_OBJECT_END, NULL);
	assert_int_equal(p.column, (int)(strstr(t, "1}}") - t) + 2);
	/* the second item; an escaped quote and brace inside a string do not end it */
	p = at(t, "arr[1]", JSON_POS_OBJECT_END, NULL);
	assert_int_equal(p.column, (int)strlen(t) - 2);
	p = at(t, "arr[1]", JSON_POS_VALUE_END, "y");
	assert_int_equal(p.column, (int)strlen(t) - 3);
}

/* A type's own error about a value it was handed (MacAddr): serde_json
 * has ended the object (blanks, then '}' if it comes next) before it
 * places the error. */
static void test_struct_stop(void **state)
{
	(void)state;
	const char *t = "{\"a\": \"x\" , \"b\": \"y\"\n}";
	struct json_pos p = at(t, "", JSON_POS_STRUCT_STOP, "a");
	assert_int_equal(p.column, (int)(strchr(t, ',') - t));
	p = at(t, "", JSON_POS_STRUCT_STOP, "b");
	assert_int_equal(p.line, 2);
	assert_int_equal(p.column, 1);
	/* in an inner object, its own '}' */
	t = "{\"o\": {\"m\": \"z\"}, \"n\": 1}";
	p = at(t, "o", JSON_POS_STRUCT_STOP, "m");
	assert_int_equal(p.column, (int)(strstr(t, "}, ") - t) + 1);
}

static void test_lines(void **state)
{
	(void)state;
	const char *t = "{\n  \"a\": 1,\n\t\"b\": true\n}";
	struct json_pos p = at(t, "", JSON_POS_KEY_END, "b");
	assert_int_equal(p.line, 3);
	assert_int_equal(p.column, 4);
	p = at(t, "", JSON_POS_OBJECT_END, NULL);
	assert_int_equal(p.line, 4);
	assert_int_equal(p.column, 1);
}

static void test_not_found(void **state)
{
	(void)state;
	struct json_pos p;
	const char *t = "{\"a\": {\"b\": 1}, \"l\": [1]}";
	assert_int_equal(json_pos_find(t, strlen(t), "", JSON_POS_KEY_END, "z", &p), -ENOENT);
	assert_int_equal(json_pos_find(t, strlen(t), "a.c", JSON_POS_OBJECT_END, NULL, &p), -ENOENT);
	assert_int_equal(json_pos_find(t, strlen(t), "l[3]", JSON_POS_OBJECT_END, NULL, &p), -ENOENT);
	/* a text cut short is not read past its end */
	assert_int_equal(json_pos_find(t, 9, "a", JSON_POS_OBJECT_END, NULL, &p), -ENOENT);
	assert_int_equal(json_pos_find("{\"a\": \"x\\", 9, "", JSON_POS_VALUE_END, "a", &p), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_object),
		cmocka_unit_test(test_nested_and_arrays),
		cmocka_unit_test(test_struct_stop),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_not_found),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
