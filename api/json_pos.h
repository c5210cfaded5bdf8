/* json_pos: where in a request body serde_json (Firecracker's parser)
 * would report an error, so husk's faults carry Firecracker's "at line L
 * column C". serde_json counts lines from 1 and columns as the bytes of
 * that line it has read when it gives up. */
#ifndef HUSK_API_JSON_POS_H
#define HUSK_API_JSON_POS_H

#include <stddef.h>

enum json_pos_at {
	JSON_POS_OBJECT_END, /* a missing field: after the object's '}' */
	JSON_POS_KEY_END,    /* an unknown field: after its key and the blanks after it */
	JSON_POS_VALUE_END,  /* a bad value (unknown variant): after the value */
	JSON_POS_VALUE_START, /* an array or object of the wrong type: before its first byte */
	JSON_POS_STRUCT_STOP, /* a type's error about a value it was handed: after the value and the
	                       * blanks after it, and after the object's '}' if that comes next */
};

struct json_pos {
	int line, column;
};

/* Find, in text, the object reached from the top one by path (keys
 * separated by '.', each may end in "[n]" for the n-th item of an array;
 * "" is the top object), then the place `at` says (key names the member
 * for KEY_END and VALUE_END). 0, or -ENOENT when text does not hold it
 * (keys with escapes are not matched). */
int json_pos_find(const char *text, size_t len, const char *path, enum json_pos_at at, const char *key,
                  struct json_pos *out);

#endif
