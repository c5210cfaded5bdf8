/* json_pos: a scanner over a body jansson has already accepted, walking to
 * the byte where serde_json would stop. It only skips values; it never
 * builds any. */
#include "api/json_pos.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *s;
	size_t len, i;
};

static void skip_blank(struct scan *c)
{
	while (c->i < c->len && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i])
		c->i++;
}

static bool eat(struct scan *c, char ch)
{
	skip_blank(c);
	if (c->i >= c->len || c->s[c->i] != ch)
		return false;
	c->i++;
	return true;
}

/* A string at c->i: past its closing quote; start and n its raw bytes. */
static int skip_string(struct scan *c, const char **start, size_t *n)
{
	if (!eat(c, '"'))
		return -ENOENT;
	size_t b = c->i;
	while (c->i < c->len && c->s[c->i] != '"')
		c->i += c->s[c->i] == '\\' ? 2 : 1;
	if (c->i >= c->len)
		return -ENOENT;
	*start = c->s + b;
	*n = c->i - b;
	c->i++;
	return 0;
}

static int skip_value(struct scan *c, int depth);

/* The members of an object or the items of an array, up to its closer. */
static int skip_container(struct scan *c, char closer, int depth)
{
	const char *k;
	size_t kn;
	if (eat(c, closer))
		return 0;
	do {
		if (closer == '}' && (skip_string(c, &k, &kn) < 0 || !eat(c, ':')))
			return -ENOENT;
		if (skip_value(c, depth + 1) < 0)
			return -ENOENT;
	} while (eat(c, ','));
	return eat(c, closer) ? 0 : -ENOENT;
}

static int skip_value(struct scan *c, int depth)
{
	const char *k;
	size_t kn;
	skip_blank(c);
	if (c->i >= c->len || depth > 64)
		return -ENOENT;
	if (c->s[c->i] == '"')
		return skip_string(c, &k, &kn);
	if (c->s[c->i] == '{' || c->s[c->i] == '[') {
		char closer = c->s[c->i] == '{' ? '}' : ']';
		c->i++;
		return skip_container(c, closer, depth);
	}
	size_t b = c->i;
	while (c->i < c->len && !strchr(",]} \t\r\n", c->s[c->i]))
		c->i++;
	return c->i > b ? 0 : -ENOENT;
}

/* In the object at c->i: stop after the member key's name (and ':' when
 * colon), or -ENOENT. */
static int find_member(struct scan *c, const char *key, size_t keylen, bool colon)
{
	const char *k;
	size_t kn;
	if (!eat(c, '{') || eat(c, '}'))
		return -ENOENT;
	do {
		if (skip_string(c, &k, &kn) < 0)
			return -ENOENT;
		if (kn == keylen && memcmp(k, key, kn) == 0) {
			skip_blank(c);
			return colon && !eat(c, ':') ? -ENOENT : 0;
		}
		if (!eat(c, ':') || skip_value(c, 0) < 0)
			return -ENOENT;
	} while (eat(c, ','));
	return -ENOENT;
}

/* One step of a path, "key" or "key[n]": to the start of that value. */
static int descend(struct scan *c, const char *seg, size_t n)
{
	const char *br = memchr(seg, '[', n);
	if (find_member(c, seg, br ? (size_t)(br - seg) : n, true) < 0)
		return -ENOENT;
	if (!br)
		return 0;
	unsigned long idx = strtoul(br + 1, NULL, 10);
	if (!eat(c, '['))
		return -ENOENT;
	for (unsigned long k = 0; k < idx; k++)
		if (skip_value(c, 0) < 0 || !eat(c, ','))
			return -ENOENT;
	skip_blank(c);
	return 0;
}

static void position_of(const struct scan *c, struct json_pos *out)
{
	size_t line_start = 0;
	out->line = 1;
	for (size_t k = 0; k < c->i; k++) {
		if (c->s[k] == '\n') {
			out->line++;
			line_start = k + 1;
		}
	}
	out->column = (int)(c->i - line_start);
}

int json_pos_find(const char *text, size_t len, const char *path, enum json_pos_at at, const char *key,
                  struct json_pos *out)
{
	struct scan c = { text, len, 0 };
	const char *p = path;
	while (p && *p) {
		size_t n = strcspn(p, ".");
		if (descend(&c, p, n) < 0)
			return -ENOENT;
		p += n + (p[n] == '.');
	}
	int ret;
	if (at == JSON_POS_OBJECT_END)
		ret = skip_value(&c, 0);
	else
		ret = find_member(&c, key, strlen(key), at != JSON_POS_KEY_END);
	if (ret == 0 && (at == JSON_POS_VALUE_END || at == JSON_POS_STRUCT_STOP))
		ret = skip_value(&c, 0);
	/* serde_json ends the object (end_map) before it places such an error */
	if (ret == 0 && at == JSON_POS_STRUCT_STOP)
		eat(&c, '}');
	if (ret == 0 && at == JSON_POS_VALUE_START)
		skip_blank(&c);
	if (ret < 0)
		return ret;
	position_of(&c, out);
	return 0;
}
