/* format: write and check husk snapshot state files (layout in format.h). */
#include "vmm/snapshot/format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/snapshot/crc64.h"

#define SNAP_TRAILER_LEN sizeof(uint64_t)

void snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
}

static int snap_writer_reserve(struct snap_writer *w, size_t more)
{
	if (w->err)
		return w->err;
	if (more > SNAP_MAX_FILE_SIZE || w->len + more > SNAP_MAX_FILE_SIZE)
		return w->err = -EFBIG;
	if (w->len + more <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + more)
		cap *= 2;
	uint8_t *p = realloc(w->buf, cap);
	if (!p)
		return w->err = -ENOMEM;
	w->buf = p;
	w->cap = cap;
	return 0;
}

static int snap_writer_put(struct snap_writer *w, const void *data, size_t len)
{
	int ret = snap_writer_reserve(w, len);
	if (ret < 0)
		return ret;
	if (len)
		memcpy(w->buf + w->len, data, len);
	w->len += len;
	return 0;
}

static int snap_writer_start(struct snap_writer *w)
{
	if (w->len || w->err)
		return w->err;
	/* the header is filled in by finish, when the count is known */
	struct snap_header h = { 0 };
	return snap_writer_put(w, &h, sizeof(h));
}

static int snap_writer_section(struct snap_writer *w, uint32_t type, uint32_t id, uint64_t len)
{
	int ret = snap_writer_start(w);
	if (ret < 0)
		return ret;
	if (w->nr_sections >= SNAP_MAX_SECTIONS)
		return w->err = -E2BIG;
	struct snap_section_hdr sh = { .type = type, .id = id, .len = len };
	ret = snap_writer_put(w, &sh, sizeof(sh));
	if (ret == 0)
		w->nr_sections++;
	return ret;
}

int snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t id,
                    const void *data, uint64_t len)
{
	if (len > SNAP_MAX_FILE_SIZE)
		return w->err = w->err ? w->err : -EFBIG;
	int ret = snap_writer_section(w, type, id, len);
	return ret < 0 ? ret : snap_writer_put(w, data, (size_t)len);
}

int snap_writer_add_device(struct snap_writer *w, uint32_t id, const char *name,
                           const void *blob, uint64_t len)
{
	struct snap_device_hdr dh = { { 0 } };
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(dh.name))
		return w->err = w->err ? w->err : -EINVAL;
	if (len > SNAP_MAX_FILE_SIZE)
		return w->err = w->err ? w->err : -EFBIG;
	memcpy(dh.name, name, n);
	int ret = snap_writer_section(w, SNAP_SEC_DEVICE, id, sizeof(dh) + len);
	if (ret == 0)
		ret = snap_writer_put(w, &dh, sizeof(dh));
	return ret < 0 ? ret : snap_writer_put(w, blob, (size_t)len);
}

int snap_writer_finish(struct snap_writer *w, uint32_t arch, const char *husk_version)
{
	int ret = snap_writer_start(w);
	if (ret < 0)
		return ret;
	struct snap_header h = {
		.format_version = SNAP_FORMAT_VERSION,
		.arch = arch,
		.nr_sections = w->nr_sections,
	};
	memcpy(h.magic, SNAP_MAGIC, sizeof(h.magic));
	strncpy(h.husk_version, husk_version, sizeof(h.husk_version) - 1);
	memcpy(w->buf, &h, sizeof(h));
	uint64_t crc = crc64(w->buf, w->len);
	return snap_writer_put(w, &crc, sizeof(crc));
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static int snap_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int snap_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *snap_arch_name(uint32_t arch)
{
	return arch == SNAP_ARCH_X86_64 ? "x86_64" : arch == SNAP_ARCH_AARCH64 ? "aarch64" : "unknown";
}

static int snap_check_header(const struct snap_header *h, uint32_t want_arch,
                             char *err, size_t errlen)
{
	if (h->format_version != SNAP_FORMAT_VERSION)
		return snap_fail(err, errlen, "snapshot format version %u, this husk reads %u",
		                 h->format_version, SNAP_FORMAT_VERSION);
	if (h->arch != want_arch)
		return snap_fail(err, errlen, "snapshot is for arch %u (%s), this host is arch %u (%s)",
		                 h->arch, snap_arch_name(h->arch), want_arch, snap_arch_name(want_arch));
	if (h->flags != 0)
		return snap_fail(err, errlen, "snapshot header flags 0x%x unknown", h->flags);
	if (h->nr_sections > SNAP_MAX_SECTIONS)
		return snap_fail(err, errlen, "snapshot has %u sections, at most %u allowed",
		                 h->nr_sections, SNAP_MAX_SECTIONS);
	return 0;
}

/* Walk the sections between the header and the trailer, every length
 * checked against what is left. */
static int snap_index(const uint8_t *buf, size_t body_end, struct snap_file *f,
                      char *err, size_t errlen)
{
	size_t off = sizeof(struct snap_header);
	for (uint32_t i = 0; i < f->nr_sections; i++) {
		struct snap_section_hdr sh;
		if (body_end - off < sizeof(sh))
			return snap_fail(err, errlen, "section %u header runs past the end", i);
		memcpy(&sh, buf + off, sizeof(sh));
		off += sizeof(sh);
		if (sh.len > body_end - off)
			return snap_fail(err, errlen,
			                 "section %u (type 0x%x) length %llu exceeds the %zu bytes left",
			                 i, sh.type, (unsigned long long)sh.len, body_end - off);
		for (uint32_t j = 0; j < i; j++)
			if (f->sec[j].type == sh.type && f->sec[j].id == sh.id)
				return snap_fail(err, errlen, "section type 0x%x id %u appears twice",
				                 sh.type, sh.id);
		f->sec[i] = (struct snap_section){ sh.type, sh.id, buf + off, sh.len };
		off += (size_t)sh.len;
	}
	if (off != body_end)
		return snap_fail(err, errlen, "%zu bytes after the last section", body_end - off);
	return 0;
}

int snap_parse(const uint8_t *buf, size_t len, uint32_t want_arch,
               struct snap_file *f, char *err, size_t errlen)
{
	struct snap_header h;
	memset(f, 0, sizeof(*f));
	if (len < sizeof(h) + SNAP_TRAILER_LEN)
		return snap_fail(err, errlen, "Snapshot file is smaller than CRC length. (husk: truncated, %zu bytes)",
		                 len);
	if (len > SNAP_MAX_FILE_SIZE)
		return snap_fail(err, errlen, "snapshot file too large (%zu bytes)", len);
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic)) != 0)
		return snap_fail(err, errlen, "not a husk snapshot (bad magic)");
	size_t body_end = len - SNAP_TRAILER_LEN;
	uint64_t stored;
	memcpy(&stored, buf + body_end, sizeof(stored));
	uint64_t crc = crc64(buf, body_end);
	if (crc != stored)
		return snap_fail(err, errlen, "CRC64 validation failed: %llu (husk: the file says 0x%016llx: "
		                 "truncated or corrupted)", (unsigned long long)crc, (unsigned long long)stored);
	int ret = snap_check_header(&h, want_arch, err, errlen);
	if (ret < 0)
		return ret;
	f->format_version = h.format_version;
	f->arch = h.arch;
	memcpy(f->husk_version, h.husk_version, sizeof(h.husk_version));
	f->husk_version[sizeof(h.husk_version)] = '\0';
	f->nr_sections = h.nr_sections;
	f->sec = calloc(h.nr_sections ? h.nr_sections : 1, sizeof(*f->sec));
	if (!f->sec)
		return -ENOMEM;
	ret = snap_index(buf, body_end, f, err, errlen);
	if (ret < 0)
		snap_file_free(f);
	return ret;
}

void snap_file_free(struct snap_file *f)
{
	free(f->sec);
	memset(f, 0, sizeof(*f));
}

const struct snap_section *snap_find(const struct snap_file *f, uint32_t type, uint32_t id)
{
	for (uint32_t i = 0; i < f->nr_sections; i++)
		if (f->sec[i].type == type && f->sec[i].id == id)
			return &f->sec[i];
	return NULL;
}

int snap_get(const struct snap_file *f, uint32_t type, uint32_t id, void *out, size_t len)
{
	const struct snap_section *s = snap_find(f, type, id);
	if (!s || s->len != len)
		return -EINVAL;
	memcpy(out, s->data, len);
	return 0;
}

const struct snap_section *snap_find_device(const struct snap_file *f, const char *name,
                                            const uint8_t **blob, uint64_t *blob_len)
{
	struct snap_device_hdr dh;
	for (uint32_t i = 0; i < f->nr_sections; i++) {
		const struct snap_section *s = &f->sec[i];
		if (s->type != SNAP_SEC_DEVICE || s->len < sizeof(dh))
			continue;
		memcpy(&dh, s->data, sizeof(dh));
		if (strnlen(dh.name, sizeof(dh.name)) == sizeof(dh.name) ||
		    strcmp(dh.name, name) != 0)
			continue;
		*blob = s->data + sizeof(dh);
		*blob_len = s->len - sizeof(dh);
		return s;
	}
	return NULL;
}
