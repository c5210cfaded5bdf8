/* working_set: learn which pages a restored guest touches, and prefetch
 * them on the next restore (working_set.h). */
#include "vmm/snapshot/working_set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/loop.h"
#include "vmm/snapshot/mem_file.h"

static int ws_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* ---- prefetch ---- */

int ws_open(const char *path, const struct ws_expect *e, struct ws_index *ix, char *err, size_t errlen)
{
	struct stat st;
	int ret;
	memset(ix, 0, sizeof(*ix));
	ix->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ix->fd < 0 || fstat(ix->fd, &st) < 0) {
		ret = errmsg_set(err, errlen, -errno, "working_set.file %s: %s", path, strerror(errno));
		goto out;
	}
	char why[200] = "";
	ret = S_ISREG(st.st_mode) ? 0 : errmsg_set(why, sizeof(why), -EINVAL, "not a regular file");
	if (ret == 0 && mem_file_pread_all(ix->fd, &ix->h, sizeof(ix->h), 0) < 0)
		ret = errmsg_set(why, sizeof(why), -EINVAL, "not a husk working-set file");
	if (ret == 0)
		ret = ws_header_check(&ix->h, (uint64_t)st.st_size, e, why, sizeof(why));
	if (ret == 0) {
		ix->range = calloc(ix->h.nr_ranges ? ix->h.nr_ranges : 1, sizeof(*ix->range));
		ret = ix->range ? mem_file_pread_all(ix->fd, ix->range, ix->h.nr_ranges * sizeof(*ix->range),
		                                     sizeof(ix->h)) : -ENOMEM;
		if (ret < 0)
			errmsg_set(why, sizeof(why), ret, "reading its range table: %s", strerror(-ret));
	}
	if (ret == 0)
		ret = ws_ranges_check(&ix->h, ix->range, (uint64_t)st.st_size, why, sizeof(why));
	if (ret < 0)
		errmsg_set(err, errlen, ret, "working_set.file %s: %s", path, why);
out:
	if (ret < 0)
		ws_close(ix);
	return ret;
}

void ws_close(struct ws_index *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	free(ix->range);
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
}

/* UFFDIO_COPY of one range; a page already there (EEXIST: a device's
 * restore wrote it) keeps what it has and the copy goes on after it. */
static int ws_copy_range(int uffd, uint8_t *dst, const uint8_t *src, uint64_t len, uint64_t page_size)
{
	uint64_t done = 0;
	while (done < len) {
		struct uffdio_copy cp = { .dst = (uint64_t)(uintptr_t)(dst + done),
			                  .src = (uint64_t)(uintptr_t)(src + done), .len = len - done };
		if (ioctl(uffd, UFFDIO_COPY, &cp) == 0) {
			done = len;
			continue;
		}
		if (errno == EINTR || errno == EAGAIN) {
			done += cp.copy > 0 ? (uint64_t)cp.copy : 0;
			continue;
		}
		if (errno != EEXIST)
			return -errno;
		done += (cp.copy > 0 ? (uint64_t)cp.copy : 0) + page_size;
	}
	return 0;
}

int ws_prefetch_uffd(const struct ws_index *ix, int uffd, const struct guest_mem *gm,
                     struct ws_stats *st, char *err, size_t errlen)
{
	unsigned long long t0 = log_now_us();
	uint64_t len = ix->h.nr_pages * ix->h.page_size;
	uint8_t *data = malloc(len ? len : 1);
	if (!data)
		return errmsg_set(err, errlen, -ENOMEM, "working set: %llu bytes", (unsigned long long)len);
	/* one read of all the pages: the file is laid out for it */
	int ret = mem_file_pread_all(ix->fd, data, len, ws_data_offset(&ix->h));
	if (ret < 0)
		errmsg_set(err, errlen, ret, "working set: reading its pages: %s", strerror(-ret));
	uint64_t off = 0;
	for (uint32_t i = 0; ret == 0 && i < ix->h.nr_ranges; i++) {
		uint64_t n = ix->range[i].pages * ix->h.page_size;
		ret = ws_copy_range(uffd, gm->base + ix->range[i].offset, data + off, n, ix->h.page_size);
		if (ret < 0)
			errmsg_set(err, errlen, ret, "working set: UFFDIO_COPY: %s", strerror(-ret));
		off += n;
	}
	free(data);
	if (ret == 0) {
		st->prefetched_pages = ix->h.nr_pages;
		st->prefetch_us = log_now_us() - t0;
	}
	return ret;
}

int ws_prefetch_file(const struct ws_index *ix, const struct guest_mem *gm, struct ws_stats *st,
                     char *err, size_t errlen)
{
	unsigned long long t0 = log_now_us();
	for (uint32_t i = 0; i < ix->h.nr_ranges; i++) {
		if (madvise(gm->base + ix->range[i].offset, ix->range[i].pages * ix->h.page_size,
		            MADV_POPULATE_READ) < 0)
			return errmsg_set(err, errlen, -errno, "working set: MADV_POPULATE_READ: %s",
			                 strerror(errno));
	}
	st->prefetched_pages = ix->h.nr_pages;
	st->prefetch_us = log_now_us() - t0;
	return 0;
}

/* ---- learn ---- */

void ws_recorder_init(struct ws_recorder *r)
{
	memset(r, 0, sizeof(*r));
	r->timer_fd = r->pagemap_fd = r->mem_fd = -1;
}

static void ws_on_timer(void *opaque, uint32_t events)
{
	struct ws_recorder *r = opaque;
	(void)events;
	int ret = ws_record_write(r);
	if (ret < 0)
		log_err("working set: recording %s failed: %s", r->path, strerror(-ret));
	ws_recorder_stop(r);
}

static int ws_open_mem_file(struct ws_recorder *r, bool has_mem_id, const char *path, char *err,
                            size_t errlen)
{
	struct stat st;
	r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->mem_fd < 0 || fstat(r->mem_fd, &st) < 0)
		return errmsg_set(err, errlen, -errno, "working set: memory file %s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size < r->e.map_size)
		return errmsg_set(err, errlen, -EINVAL, "working set: memory file %s is smaller than guest memory",
		                 path);
	int ret = has_mem_id ? mem_file_check_trailer(r->mem_fd, r->e.map_size, r->e.mem_id) : 0;
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "working set: memory file %s is not this snapshot's", path);
	return 0;
}

int ws_record_open(struct ws_recorder *r, const struct guest_mem *gm, const struct ws_expect *e,
                   bool has_mem_id, const char *file, const char *mem_file, struct ws_stats *st,
                   char *err, size_t errlen)
{
	r->e = *e;
	r->gm = gm;
	r->st = st;
	int ret = ws_open_mem_file(r, has_mem_id, mem_file, err, errlen);
	if (ret < 0)
		goto out;
	/* all opened now, so that what cannot work is the load's 400, not a
	 * log line N ms later */
	r->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r->path = strdup(file);
	if (r->pagemap_fd < 0 || r->timer_fd < 0 || !r->path)
		ret = errmsg_set(err, errlen, -errno, "working set: %s", strerror(errno));
out:
	if (ret < 0)
		ws_recorder_stop(r);
	return ret;
}

int ws_record_arm(struct ws_recorder *r, struct loop *loop, uint32_t ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 } };
	if (timerfd_settime(r->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	int ret = loop_add(loop, r->timer_fd, EPOLLIN, ws_on_timer, r);
	if (ret == 0)
		r->loop = loop;
	return ret;
}

/* The page data: each range's pages from the memory file, in table order. */
static int ws_copy_pages(const struct ws_recorder *r, int out, const struct ws_range *range,
                         uint32_t nr_ranges)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK);
	int ret = buf ? 0 : -ENOMEM;
	for (uint32_t i = 0; ret == 0 && i < nr_ranges; i++) {
		uint64_t len = range[i].pages * r->e.page_size;
		for (uint64_t done = 0; ret == 0 && done < len; done += CHUNK) {
			size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
			ret = mem_file_pread_all(r->mem_fd, buf, n, range[i].offset + done);
			if (ret == 0)
				ret = ws_write_all(out, buf, n);
		}
	}
	free(buf);
	return ret;
}

static int ws_write_file(const struct ws_recorder *r, const struct ws_range *range, uint32_t nr_ranges)
{
	struct ws_header h;
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	ws_header_init(&h, &r->e, range, nr_ranges);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	int ret = ws_write_all(out, &h, sizeof(h));
	if (ret == 0)
		ret = ws_write_all(out, range, nr_ranges * sizeof(*range));
	if (ret == 0)
		ret = ws_copy_pages(r, out, range, nr_ranges);
	close(out);
	/* renamed into place whole: a reader never sees half a file */
	if (ret == 0 && rename(tmp, r->path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

int ws_record_write(struct ws_recorder *r)
{
	uint64_t nr = r->gm->map_size / 4096;
	uint64_t *entries = malloc(nr * sizeof(*entries));
	struct ws_range *range = NULL;
	uint32_t nr_ranges = 0;
	uint64_t pages = 0;
	int ret = entries ? 0 : -ENOMEM;
	if (ret == 0)
		ret = mem_file_pread_all(r->pagemap_fd, entries, nr * sizeof(*entries),
		                         (uint64_t)(uintptr_t)r->gm->base / 4096 * sizeof(*entries));
	if (ret == 0)
		ret = ws_ranges_from_pagemap(entries, nr, r->e.page_size, &range, &nr_ranges, &pages);
	if (ret == 0)
		ret = ws_write_file(r, range, nr_ranges);
	if (ret == 0) {
		r->st->recorded_pages = pages;
		log_info("working set: learned %llu pages (%u ranges, %llu KiB) into %s",
		         (unsigned long long)pages, nr_ranges,
		         (unsigned long long)(pages * r->e.page_size >> 10), r->path);
		/* which pages: at Debug, one line per range */
		for (uint32_t i = 0; i < nr_ranges; i++)
			log_debug("working set: %llu pages at memory-file offset 0x%llx",
			          (unsigned long long)range[i].pages, (unsigned long long)range[i].offset);
	}
	free(range);
	free(entries);
	return ret;
}

void ws_recorder_stop(struct ws_recorder *r)
{
	if (r->loop)
		loop_del(r->loop, r->timer_fd);
	if (r->timer_fd >= 0)
		close(r->timer_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	free(r->path);
	ws_recorder_init(r);
}
