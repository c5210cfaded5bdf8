/* aml: the AML writer (see aml.h). */
#include "vmm/arch/x86_64/aml.h"

#include <errno.h>
#include <string.h>

/* opcodes (ACPI 6.5, 20.3) */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE 0x0a
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_STRING 0x0d
#define AML_QWORD 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f
#define AML_EXT 0x5b
#define AML_EXT_DEVICE 0x82
#define AML_ROOT 0x5c
#define AML_ARG0 0x68
#define AML_NOTIFY 0x86
#define AML_LEQUAL 0x93
#define AML_IF 0xa0

/* An open object keeps this many bytes for its length until aml_close. */
#define AML_PKGLEN_MAX 4
#define AML_NAMESEG 4
#define AML_MAX_SEGS 8

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

static void aml_put(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		a->err = -ENOSPC;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_put(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

int aml_pkglen_encode(size_t body, uint8_t out[4])
{
	if (body + 1 <= 63) { /* one byte: bits 0-5 */
		out[0] = (uint8_t)(body + 1);
		return 1;
	}
	/* n bytes: the low nibble in the lead byte, then 8 bits per byte */
	for (unsigned n = 2; n <= AML_PKGLEN_MAX; n++) {
		size_t total = body + n;
		if (total >= (size_t)1 << (4 + 8 * (n - 1)))
			continue;
		out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
		for (unsigned i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return (int)n;
	}
	return -E2BIG;
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0 || v == 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x01 || (unsigned char)*c > 0x7f)
			a->err = a->err ? a->err : -EINVAL;
	aml_byte(a, AML_STRING);
	aml_put(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;
	int ok = strlen(id) == 7;
	for (int i = 0; ok && i < 3; i++) {
		ok = id[i] >= 'A' && id[i] <= 'Z';
		v = (v << 5) | (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; ok && i < 7; i++) {
		ok = hexval(id[i]) >= 0;
		v = (v << 4) | (uint32_t)hexval(id[i]);
	}
	if (!ok) {
		a->err = a->err ? a->err : -EINVAL;
		return;
	}
	/* the id is stored big-endian: its first letter in the lowest byte */
	aml_byte(a, AML_DWORD);
	aml_le(a, __builtin_bswap32(v), 4);
}

/* One NameSeg: [A-Z_][A-Z0-9_]{0,3}, padded with '_'. */
static int aml_nameseg(const char *s, size_t n, char seg[AML_NAMESEG])
{
	if (n == 0 || n > AML_NAMESEG || !((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return -EINVAL;
	for (size_t i = 0; i < AML_NAMESEG; i++) {
		char c = i < n ? s[i] : '_';
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return -EINVAL;
		seg[i] = c;
	}
	return 0;
}

void aml_namestring(struct aml *a, const char *path)
{
	char segs[AML_MAX_SEGS][AML_NAMESEG];
	unsigned n = 0;
	int root = path[0] == '\\';
	const char *p = path + root;
	while (*p && !a->err) {
		size_t l = strcspn(p, ".");
		if (n == AML_MAX_SEGS || aml_nameseg(p, l, segs[n]) < 0)
			a->err = -EINVAL;
		n++;
		p += l + (p[l] == '.');
	}
	if (n == 0)
		a->err = a->err ? a->err : -EINVAL;
	if (a->err)
		return;
	if (root)
		aml_byte(a, AML_ROOT);
	if (n == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (n > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)n);
	}
	aml_put(a, segs, (size_t)n * AML_NAMESEG);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME);
	aml_namestring(a, name);
}

/* Open an object: its opcode, then room for the longest length. */
static size_t aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	aml_put(a, op, oplen);
	size_t mark = a->len;
	static const uint8_t room[AML_PKGLEN_MAX];
	aml_put(a, room, sizeof(room));
	return mark;
}

void aml_close(struct aml *a, size_t mark)
{
	if (a->err)
		return;
	uint8_t enc[AML_PKGLEN_MAX];
	size_t body = a->len - mark - AML_PKGLEN_MAX;
	int n = aml_pkglen_encode(body, enc);
	if (n < 0) {
		a->err = n;
		return;
	}
	memmove(a->buf + mark + n, a->buf + mark + AML_PKGLEN_MAX, body);
	memcpy(a->buf + mark, enc, (size_t)n);
	a->len = mark + (size_t)n + body;
}

size_t aml_scope(struct aml *a, const char *path)
{
	static const uint8_t op[] = { AML_SCOPE };
	size_t mark = aml_open(a, op, sizeof(op));
	aml_namestring(a, path);
	return mark;
}

size_t aml_device(struct aml *a, const char *name)
{
	static const uint8_t op[] = { AML_EXT, AML_EXT_DEVICE };
	size_t mark = aml_open(a, op, sizeof(op));
	aml_namestring(a, name);
	return mark;
}

size_t aml_method(struct aml *a, const char *name, unsigned nargs)
{
	static const uint8_t op[] = { AML_METHOD };
	size_t mark = aml_open(a, op, sizeof(op));
	aml_namestring(a, name);
	if (nargs > 7)
		a->err = a->err ? a->err : -EINVAL;
	aml_byte(a, (uint8_t)(nargs & 7)); /* flags: not serialized, sync level 0 */
	return mark;
}

size_t aml_package(struct aml *a, unsigned nelems)
{
	static const uint8_t op[] = { AML_PACKAGE };
	size_t mark = aml_open(a, op, sizeof(op));
	if (nelems > 0xff)
		a->err = a->err ? a->err : -EINVAL;
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

size_t aml_if_arg_equal(struct aml *a, unsigned arg, uint64_t value)
{
	static const uint8_t op[] = { AML_IF };
	size_t mark = aml_open(a, op, sizeof(op));
	if (arg > 6)
		a->err = a->err ? a->err : -EINVAL;
	aml_byte(a, AML_LEQUAL);
	aml_byte(a, (uint8_t)(AML_ARG0 + arg));
	aml_integer(a, value);
	return mark;
}

void aml_notify(struct aml *a, const char *path, uint8_t value)
{
	aml_byte(a, AML_NOTIFY);
	aml_namestring(a, path);
	aml_integer(a, value);
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	static const uint8_t op[] = { AML_BUFFER };
	size_t mark = aml_open(a, op, sizeof(op));
	aml_integer(a, len);
	aml_put(a, data, len);
	aml_close(a, mark);
}

/* ---- resource templates ---- */

#define RES_IO 0x47               /* small item, 7 bytes of data */
#define RES_END 0x79              /* small item, 1 byte: the checksum */
#define RES_MEMORY32_FIXED 0x86   /* large item */
#define RES_EXT_INTERRUPT 0x89    /* large item */
#define RES_IRQ_CONSUMER 0x01
#define RES_IRQ_EDGE 0x02

void aml_res_init(struct aml_res *r)
{
	memset(r, 0, sizeof(*r));
}

static void res_put(struct aml_res *r, const uint8_t *p, size_t n)
{
	if (r->err)
		return;
	if (n > sizeof(r->buf) - r->len) {
		r->err = -ENOSPC;
		return;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static void le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void aml_res_io(struct aml_res *r, uint16_t port, uint8_t len)
{
	uint8_t d[8] = { RES_IO, 0x01 /* 16-bit decode */ };
	le(d + 2, port, 2); /* minimum */
	le(d + 4, port, 2); /* maximum: the range is fixed */
	d[6] = 1;           /* alignment */
	d[7] = len;
	res_put(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml_res *r, uint32_t base, uint32_t len)
{
	uint8_t d[12] = { RES_MEMORY32_FIXED, 9, 0, 0x01 /* read-write */ };
	le(d + 4, base, 4);
	le(d + 8, len, 4);
	res_put(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml_res *r, uint32_t gsi)
{
	uint8_t d[9] = { RES_EXT_INTERRUPT, 6, 0, RES_IRQ_CONSUMER | RES_IRQ_EDGE, 1 };
	le(d + 5, gsi, 4);
	res_put(r, d, sizeof(d));
}

void aml_res_end(struct aml_res *r)
{
	uint8_t d[2] = { RES_END, 0 };
	uint8_t sum = RES_END;
	for (size_t i = 0; i < r->len; i++)
		sum += r->buf[i];
	d[1] = (uint8_t)-sum;
	res_put(r, d, sizeof(d));
}
