/* aml: package-length encodings at their boundaries, integers, names, EISA
 * ids, resource templates and the open/close of nested objects. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/arch/x86_64/aml.h"

/* Decode a PkgLength as ACPICA does: the total, and how many bytes it took. */
static size_t pkglen_decode(const uint8_t *p, int *n)
{
	*n = (p[0] >> 6) + 1;
	if (*n == 1)
		return p[0] & 0x3f;
	size_t v = p[0] & 0x0f;
	for (int i = 1; i < *n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

static void check_pkglen(size_t body, int want_bytes)
{
	uint8_t enc[4];
	int n = aml_pkglen_encode(body, enc);
	assert_int_equal(n, want_bytes);
	int m;
	assert_int_equal(pkglen_decode(enc, &m), body + (size_t)n);
	assert_int_equal(m, n);
}

static void test_pkglen_boundaries(void **state)
{
	(void)state;
	check_pkglen(0, 1);
	check_pkglen(62, 1);     /* total 63: the largest one-byte length */
	check_pkglen(63, 2);     /* total 65 */
	check_pkglen(4093, 2);   /* total 4095 = 2^12 - 1 */
	check_pkglen(4094, 3);   /* total 4097 */
	check_pkglen((1 << 20) - 4, 3);
	check_pkglen((1 << 20) - 3, 4);
	check_pkglen((1 << 28) - 5, 4);
	uint8_t enc[4];
	assert_int_equal(aml_pkglen_encode((1 << 28) - 4, enc), -E2BIG);
	/* the exact bytes of two cases worked by hand */
	assert_int_equal(aml_pkglen_encode(63, enc), 2);
	assert_int_equal(enc[0], 0x41); /* 65 = 0x41: one more byte, low nibble 1 */
	assert_int_equal(enc[1], 0x04);
	assert_int_equal(aml_pkglen_encode(4094, enc), 3);
	assert_int_equal(enc[0], 0x81); /* 4097 = 0x1001 */
	assert_int_equal(enc[1], 0x00);
	assert_int_equal(enc[2], 0x01);
}

/* A package whose body is n bytes: its encoding in place after the close. */
static void check_package_body(size_t fill, int want_len_bytes)
{
	static uint8_t buf[8192];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	size_t mark = aml_package(&a, 0); /* body: NumElements, then fill bytes */
	for (size_t i = 0; i < fill; i++)
		aml_integer(&a, 0);
	aml_close(&a, mark);
	assert_int_equal(a.err, 0);
	assert_int_equal(buf[0], 0x12);
	int n;
	size_t total = pkglen_decode(buf + 1, &n);
	assert_int_equal(n, want_len_bytes);
	assert_int_equal(total, a.len - 1);
	assert_int_equal(buf[1 + n], 0); /* NumElements moved with the body */
}

static void test_close_moves_body(void **state)
{
	(void)state;
	check_package_body(61, 1); /* body 62 */
	check_package_body(62, 2); /* body 63 */
	check_package_body(4092, 2);
	check_package_body(4093, 3);
}

static void test_integers(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0x80);
	aml_integer(&a, 0x1234);
	aml_integer(&a, 0xd0001000);
	aml_integer(&a, 0x100000000ull);
	static const uint8_t want[] = { 0x00, 0x01, 0x0a, 0x80, 0x0b, 0x34, 0x12, 0x0c, 0x00, 0x10, 0x00, 0xd0,
	                                0x0e, 0, 0, 0, 0, 1, 0, 0, 0 };
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_names(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_namestring(&a, "_HID");
	aml_namestring(&a, "\\_SB.VGEN");
	aml_namestring(&a, "\\_SB.A.B");
	static const uint8_t want[] = "_HID" "\\\x2e_SB_VGEN" "\\\x2f\x03_SB_A___B___";
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);

	const char *bad[] = { "", "TOOLONG", "1ABC", "a_lower", "\\", "\\_SB..X" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_namestring(&a, bad[i]);
		assert_int_equal(a.err, -EINVAL);
		aml_integer(&a, 5); /* the error sticks: nothing more is written */
		assert_int_equal(a.len, 0);
	}
}

static void test_eisaid_and_string(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "PNP0501");
	aml_string(&a, "LNRO0005");
	static const uint8_t want[] = { 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0 };
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "pnp0501");
	assert_int_equal(a.err, -EINVAL);
}

static void test_resource_template(void **state)
{
	(void)state;
	struct aml_res r;
	aml_res_init(&r);
	aml_res_memory32_fixed(&r, 0xd0001000, 0x1000);
	aml_res_interrupt(&r, 5);
	aml_res_io(&r, 0x3f8, 8);
	aml_res_end(&r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.len, 12 + 9 + 8 + 2);
	static const uint8_t mem[] = { 0x86, 9, 0, 1, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0, 0 };
	static const uint8_t irq[] = { 0x89, 6, 0, 0x03, 1, 5, 0, 0, 0 };
	static const uint8_t io[] = { 0x47, 1, 0xf8, 0x03, 0xf8, 0x03, 1, 8 };
	assert_memory_equal(r.buf, mem, sizeof(mem));
	assert_memory_equal(r.buf + 12, irq, sizeof(irq));
	assert_memory_equal(r.buf + 21, io, sizeof(io));
	assert_int_equal(r.buf[29], 0x79);
	uint8_t sum = 0;
	for (size_t i = 0; i < r.len; i++)
		sum += r.buf[i];
	assert_int_equal(sum, 0); /* the End Tag's checksum */
	for (int i = 0; i < 20; i++)
		aml_res_memory32_fixed(&r, 0, 0);
	assert_int_equal(r.err, -ENOSPC);
}

static void test_nested_and_full(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	size_t dev = aml_device(&a, "GED_");
	size_t m = aml_method(&a, "_EVT", 1);
	size_t cond = aml_if_arg_equal(&a, 0, 21);
	aml_notify(&a, "\\_SB.VGEN", 0x80);
	aml_close(&a, cond);
	aml_close(&a, m);
	aml_close(&a, dev);
	static const uint8_t want[] = {
		0x5b, 0x82, 31, 'G', 'E', 'D', '_',
		0x14, 25, '_', 'E', 'V', 'T', 0x01,
		0xa0, 18, 0x93, 0x68, 0x0a, 21,
		0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80,
	};
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	aml_init(&a, buf, 10);
	aml_string(&a, "longer than ten bytes");
	assert_int_equal(a.err, -ENOSPC);
	assert_int_equal(a.len, 1);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_pkglen_boundaries),
	cmocka_unit_test(test_close_moves_body),
	cmocka_unit_test(test_integers),
	cmocka_unit_test(test_names),
	cmocka_unit_test(test_eisaid_and_string),
	cmocka_unit_test(test_resource_template),
	cmocka_unit_test(test_nested_and_full))
