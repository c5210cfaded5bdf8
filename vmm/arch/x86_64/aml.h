/* aml: a small writer of ACPI Machine Language (ACPI 6.5, chapter 20), just
 * what husk's DSDT needs: names, integers, strings, EISA ids, packages,
 * buffers, scopes, devices, methods with If/LEqual/Notify, and resource
 * templates (IO, Memory32Fixed, Extended Interrupt, End Tag).
 *
 * Everything is written into one caller-owned buffer. The first error
 * (-ENOSPC: the buffer is full, -EINVAL: a name AML cannot hold) sticks in
 * aml.err and every later call does nothing, so a table is built with
 * straight-line code and checked once at the end. Objects with a package
 * length (scope, device, method, if, package) are opened, filled and
 * closed: the length is only known at the close, which then moves the
 * body to fit the 1..4-byte encoding. */
#ifndef HUSK_X86_AML_H
#define HUSK_X86_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* The PkgLength encoding (20.2.4) of an object whose body (what follows the
 * encoding) is body bytes long; the encoded length counts the encoding
 * itself. Writes 1-4 bytes to out and returns how many, or -E2BIG past
 * 2^28. */
int aml_pkglen_encode(size_t body, uint8_t out[4]);

/* ---- data ---- */
void aml_integer(struct aml *a, uint64_t v); /* the shortest of Zero, One, Byte..QWord */
void aml_string(struct aml *a, const char *s);
/* EisaId("PNP0501"): three letters and four hex digits as a DWord. */
void aml_eisaid(struct aml *a, const char *id);
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);
/* A NameString: "_HID", "\\_SB.VGEN" (segments padded with '_'). */
void aml_namestring(struct aml *a, const char *path);
/* Name(name, ...): the object follows with one of the calls above. */
void aml_name(struct aml *a, const char *name);

/* ---- objects with a package length: open, fill, close ---- */
size_t aml_scope(struct aml *a, const char *path);
size_t aml_device(struct aml *a, const char *name);
size_t aml_method(struct aml *a, const char *name, unsigned nargs);
size_t aml_package(struct aml *a, unsigned nelems);
/* If (LEqual(Arg<arg>, value)) { ... } */
size_t aml_if_arg_equal(struct aml *a, unsigned arg, uint64_t value);
void aml_close(struct aml *a, size_t mark);

/* Notify(path, value) */
void aml_notify(struct aml *a, const char *path, uint8_t value);

/* ---- resource templates (6.4), written into a struct aml_res, then
 * passed to aml_buffer ---- */
#define AML_RES_MAX 128

struct aml_res {
	uint8_t buf[AML_RES_MAX];
	size_t len;
	int err;
};

void aml_res_init(struct aml_res *r);
void aml_res_io(struct aml_res *r, uint16_t port, uint8_t len);
void aml_res_memory32_fixed(struct aml_res *r, uint32_t base, uint32_t len);
/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } */
void aml_res_interrupt(struct aml_res *r, uint32_t gsi);
/* The End Tag, with the checksum that makes the template's bytes sum to 0. */
void aml_res_end(struct aml_res *r);

#endif
