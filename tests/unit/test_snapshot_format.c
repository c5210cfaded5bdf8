#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/snapshot/crc64.h"
#include "vmm/snapshot/format.h"

struct image {
	uint8_t *buf;
	size_t len;
};

static const uint8_t regs_payload[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const char serial_blob[] = "serial registers";

/* A small but complete file: machine, two vCPU sections, one device. */
static void image_build(struct image *img)
{
	struct snap_writer w;
	struct snap_machine m = { .vcpu_count = 2, .flags = SNAP_MACHINE_TRACK_DIRTY,
	                          .mem_size_mib = 128 };
	snap_writer_init(&w);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_MACHINE, 0, &m, sizeof(m)), 0);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU_REGS, 0, regs_payload, sizeof(regs_payload)), 0);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU_REGS, 1, regs_payload, 3), 0);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VM_CLOCK, 0, NULL, 0), 0);
	assert_int_equal(snap_writer_add_device(&w, 0, "serial0", serial_blob, sizeof(serial_blob)), 0);
	assert_int_equal(snap_writer_finish(&w, SNAP_ARCH_X86_64, "0.1.0-test"), 0);
	img->buf = w.buf;
	img->len = w.len;
}

static void image_recrc(struct image *img)
{
	uint64_t crc = crc64(img->buf, img->len - 8);
	memcpy(img->buf + img->len - 8, &crc, 8);
}

static int parse(const struct image *img, size_t len, char *err, size_t errlen)
{
	struct snap_file f;
	int ret = snap_parse(img->buf, len, SNAP_ARCH_X86_64, &f, err, errlen);
	if (ret == 0)
		snap_file_free(&f);
	return ret;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct image img;
	struct snap_file f;
	char err[256] = "";
	image_build(&img);
	assert_int_equal(snap_parse(img.buf, img.len, SNAP_ARCH_X86_64, &f, err, sizeof(err)), 0);
	assert_int_equal(f.format_version, SNAP_FORMAT_VERSION);
	assert_int_equal(f.nr_sections, 5);
	assert_string_equal(f.husk_version, "0.1.0-test");

	struct snap_machine m;
	assert_int_equal(snap_get(&f, SNAP_SEC_MACHINE, 0, &m, sizeof(m)), 0);
	assert_int_equal(m.vcpu_count, 2);
	assert_int_equal(m.mem_size_mib, 128);
	assert_int_equal(m.flags, SNAP_MACHINE_TRACK_DIRTY);
	/* a fixed-size read of the wrong size is refused */
	assert_int_equal(snap_get(&f, SNAP_SEC_MACHINE, 0, &m, sizeof(m) - 1), -EINVAL);

	const struct snap_section *s = snap_find(&f, SNAP_SEC_VCPU_REGS, 0);
	assert_non_null(s);
	assert_int_equal(s->len, sizeof(regs_payload));
	assert_memory_equal(s->data, regs_payload, sizeof(regs_payload));
	s = snap_find(&f, SNAP_SEC_VCPU_REGS, 1);
	assert_non_null(s);
	assert_int_equal(s->len, 3);
	assert_null(snap_find(&f, SNAP_SEC_VCPU_REGS, 2));
	s = snap_find(&f, SNAP_SEC_VM_CLOCK, 0);
	assert_non_null(s);
	assert_int_equal(s->len, 0);

	const uint8_t *blob;
	uint64_t blob_len;
	assert_non_null(snap_find_device(&f, "serial0", &blob, &blob_len));
	assert_int_equal(blob_len, sizeof(serial_blob));
	assert_memory_equal(blob, serial_blob, sizeof(serial_blob));
	assert_null(snap_find_device(&f, "serial1", &blob, &blob_len));
	snap_file_free(&f);
	free(img.buf);
}

static void test_truncation_at_every_offset_refused(void **state)
{
	(void)state;
	struct image img;
	char err[256];
	image_build(&img);
	for (size_t len = 0; len < img.len; len++)
		assert_int_equal(parse(&img, len, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), 0);
	free(img.buf);
}

static void test_every_bit_flip_refused(void **state)
{
	(void)state;
	struct image img;
	char err[256];
	image_build(&img);
	for (size_t bit = 0; bit < img.len * 8; bit++) {
		img.buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
		img.buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* a flip past the magic is caught by the CRC, and says so */
	img.buf[60] ^= 1;
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "CRC64"));
	free(img.buf);
}

static void test_wrong_magic_version_arch_flags(void **state)
{
	(void)state;
	struct image img;
	struct snap_header h;
	char err[256];
	image_build(&img);
	memcpy(&h, img.buf, sizeof(h));

	struct snap_header bad = h;
	bad.magic[0] = 'X';
	memcpy(img.buf, &bad, sizeof(bad));
	image_recrc(&img);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "magic"));

	bad = h;
	bad.format_version = SNAP_FORMAT_VERSION + 1;
	memcpy(img.buf, &bad, sizeof(bad));
	image_recrc(&img);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version"));

	bad = h;
	bad.arch = SNAP_ARCH_AARCH64;
	memcpy(img.buf, &bad, sizeof(bad));
	image_recrc(&img);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
	/* refused by name: an aarch64 snapshot on an x86_64 host */
	assert_non_null(strstr(err, "snapshot is for arch 2 (aarch64), this host is arch 1 (x86_64)"));

	bad = h;
	bad.flags = 1;
	memcpy(img.buf, &bad, sizeof(bad));
	image_recrc(&img);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);

	/* the untouched header parses again: the refusals were the fields */
	memcpy(img.buf, &h, sizeof(h));
	image_recrc(&img);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), 0);
	free(img.buf);
}

/* Rewrite the first section header's length (valid CRC) and expect a refusal. */
static void expect_len_refused(struct image *img, uint64_t len)
{
	char err[256];
	struct snap_section_hdr sh, orig;
	size_t off = sizeof(struct snap_header);
	memcpy(&orig, img->buf + off, sizeof(orig));
	sh = orig;
	sh.len = len;
	memcpy(img->buf + off, &sh, sizeof(sh));
	image_recrc(img);
	assert_int_equal(parse(img, img->len, err, sizeof(err)), -EINVAL);
	memcpy(img->buf + off, &orig, sizeof(orig));
	image_recrc(img);
}

static void test_oversize_and_inconsistent_lengths(void **state)
{
	(void)state;
	struct image img;
	char err[256];
	image_build(&img);
	expect_len_refused(&img, UINT64_MAX);
	expect_len_refused(&img, UINT64_MAX - 15);
	expect_len_refused(&img, img.len);
	expect_len_refused(&img, (uint64_t)1 << 32);
	/* one byte longer or shorter: the sections no longer end at the trailer */
	expect_len_refused(&img, sizeof(struct snap_machine) + 1);
	expect_len_refused(&img, sizeof(struct snap_machine) - 1);
	assert_int_equal(parse(&img, img.len, err, sizeof(err)), 0);

	/* section count larger or smaller than what is there */
	struct snap_header h;
	memcpy(&h, img.buf, sizeof(h));
	uint32_t counts[] = { h.nr_sections + 1, h.nr_sections - 1, SNAP_MAX_SECTIONS + 1, UINT32_MAX };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct snap_header bad = h;
		bad.nr_sections = counts[i];
		memcpy(img.buf, &bad, sizeof(bad));
		image_recrc(&img);
		assert_int_equal(parse(&img, img.len, err, sizeof(err)), -EINVAL);
	}
	free(img.buf);
}

static void test_duplicate_section_refused(void **state)
{
	(void)state;
	struct snap_writer w;
	struct snap_file f;
	char err[256];
	uint32_t v = 1;
	snap_writer_init(&w);
	snap_writer_add(&w, SNAP_SEC_VCPU_TSC_KHZ, 0, &v, sizeof(v));
	snap_writer_add(&w, SNAP_SEC_VCPU_TSC_KHZ, 0, &v, sizeof(v));
	assert_int_equal(snap_writer_finish(&w, SNAP_ARCH_X86_64, "t"), 0);
	assert_int_equal(snap_parse(w.buf, w.len, SNAP_ARCH_X86_64, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	snap_writer_free(&w);
}

static void test_writer_refuses_bad_device_names(void **state)
{
	(void)state;
	struct snap_writer w;
	char longname[SNAP_DEVICE_NAME_LEN + 1];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snap_writer_init(&w);
	assert_int_equal(snap_writer_add_device(&w, 0, "", "x", 1), -EINVAL);
	snap_writer_free(&w);
	snap_writer_init(&w);
	assert_int_equal(snap_writer_add_device(&w, 0, longname, "x", 1), -EINVAL);
	/* the error sticks: finish reports it */
	assert_int_equal(snap_writer_finish(&w, SNAP_ARCH_X86_64, "t"), -EINVAL);
	snap_writer_free(&w);
}

static void test_empty_file_round_trip(void **state)
{
	(void)state;
	struct snap_writer w;
	struct snap_file f;
	char err[256];
	snap_writer_init(&w);
	assert_int_equal(snap_writer_finish(&w, SNAP_ARCH_X86_64, "t"), 0);
	assert_int_equal(w.len, sizeof(struct snap_header) + 8);
	assert_int_equal(snap_parse(w.buf, w.len, SNAP_ARCH_X86_64, &f, err, sizeof(err)), 0);
	assert_int_equal(f.nr_sections, 0);
	snap_file_free(&f);
	snap_writer_free(&w);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_round_trip),
	cmocka_unit_test(test_truncation_at_every_offset_refused),
	cmocka_unit_test(test_every_bit_flip_refused),
	cmocka_unit_test(test_wrong_magic_version_arch_flags),
	cmocka_unit_test(test_oversize_and_inconsistent_lengths),
	cmocka_unit_test(test_duplicate_section_refused),
	cmocka_unit_test(test_writer_refuses_bad_device_names),
	cmocka_unit_test(test_empty_file_round_trip))
