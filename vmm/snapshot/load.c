/* load: check a snapshot against a fresh VM, then restore it. */
#include "vmm/snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/arch/arch.h"
#include "vmm/log.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/uffd.h"
#include "vmm/vcpu.h"
#include "vmm/errmsg.h"
#include "vmm/vm.h"

static int load_read_file(const char *path, struct snapshot_image *img, char *err, size_t errlen)
{
	struct stat st;
	int ret = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		char os[96];
		/* Firecracker's words (persist.rs), then the path */
		ret = errmsg_set(err, errlen, -e, "Failed to get snapshot state from file: Failed to open snapshot "
		                 "file: %s (%s)", errmsg_os(e, os, sizeof(os)), path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SNAP_MAX_FILE_SIZE) {
		ret = errmsg_set(err, errlen, -EINVAL, "snapshot %s is not a regular file of at most %u bytes",
		                path, SNAP_MAX_FILE_SIZE);
		goto out;
	}
	img->len = (size_t)st.st_size;
	img->buf = malloc(img->len ? img->len : 1);
	if (!img->buf) {
		ret = -ENOMEM;
		goto out;
	}
	size_t off = 0;
	while (off < img->len) {
		ssize_t n = read(fd, img->buf + off, img->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* shrunk under us: report it as what it now is, truncated */
			ret = errmsg_set(err, errlen, n < 0 ? -errno : -EINVAL, "reading snapshot %s failed", path);
			goto out;
		}
		off += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int load_check_machine(struct snapshot_image *img, char *err, size_t errlen)
{
	if (snap_get(&img->f, SNAP_SEC_MACHINE, 0, &img->machine, sizeof(img->machine)) < 0)
		return errmsg_set(err, errlen, -EINVAL, "machine configuration section missing or malformed");
	if (snap_get(&img->f, SNAP_SEC_MEMORY, 0, &img->mem, sizeof(img->mem)) < 0)
		return errmsg_set(err, errlen, -EINVAL, "memory layout section missing or malformed");
	img->has_mem_id = snap_get(&img->f, SNAP_SEC_MEM_ID, 0, img->mem_id, sizeof(img->mem_id)) == 0;
	const struct snap_machine *m = &img->machine;
	if (m->vcpu_count == 0 || m->vcpu_count > CONFIG_MAX_VCPUS)
		return errmsg_set(err, errlen, -EINVAL, "snapshot has %u vCPUs", m->vcpu_count);
	if (m->mem_size_mib == 0 || m->mem_size_mib > LAYOUT_MAX_RAM_MIB)
		return errmsg_set(err, errlen, -EINVAL, "snapshot memory size %llu MiB out of range",
		                 (unsigned long long)m->mem_size_mib);
	if (m->flags & ~(SNAP_MACHINE_SMT | SNAP_MACHINE_TRACK_DIRTY | SNAP_MACHINE_HUGE_2M))
		return errmsg_set(err, errlen, -EINVAL, "snapshot machine flags 0x%x unknown", m->flags);
	/* the layout is the one a VM of this size gets: derive it and compare */
	struct guest_mem gm;
	if (gm_init_from(&gm, NULL, m->mem_size_mib << 20, LAYOUT_MMIO_GAP_START) < 0 ||
	    gm_set_base(&gm, LAYOUT_RAM_BASE) < 0)
		return errmsg_set(err, errlen, -EINVAL, "snapshot memory size unusable");
	gm.map_size = m->mem_size_mib << 20;
	if (!mem_file_layout_matches(&gm, &img->mem))
		return errmsg_set(err, errlen, -EINVAL,
		                 "memory layout in the snapshot does not match a %llu MiB VM",
		                 (unsigned long long)m->mem_size_mib);
	return 0;
}

/* A state file that does not parse or check, as Firecracker words it. */
static int load_state_refused(int ret, char *err, size_t errlen)
{
	char detail[256];
	snprintf(detail, sizeof(detail), "%s", err && errlen ? err : "");
	return errmsg_set(err, errlen, ret, "Failed to get snapshot state from file: Failed to load snapshot state "
	                  "from file: %s", detail);
}

int snapshot_image_open(const char *path, struct snapshot_image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	int ret = load_read_file(path, img, err, errlen);
	if (ret < 0)
		goto out;
	ret = snap_parse(img->buf, img->len, arch_snapshot_id(), &img->f, err, errlen);
	if (ret == 0)
		ret = load_check_machine(img, err, errlen);
	if (ret == 0)
		ret = vm_state_check(&img->f, err, errlen);
	if (ret < 0)
		ret = load_state_refused(ret, err, errlen);
out:
	if (ret < 0)
		snapshot_image_close(img);
	return ret;
}

int snapshot_describe(const char *path, uint32_t *format_version, char *err, size_t errlen)
{
	struct snap_header h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg_set(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	ssize_t n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic)) != 0)
		return errmsg_set(err, errlen, -EINVAL, "%s is not a husk snapshot state file", path);
	*format_version = h.format_version;
	return 0;
}

void snapshot_image_close(struct snapshot_image *img)
{
	snap_file_free(&img->f);
	free(img->buf);
	memset(img, 0, sizeof(*img));
}

/* ---- everything that can be checked before anything is applied ---- */

/* A section this husk does not know would be state it silently drops. */
static bool load_known_type(uint32_t t)
{
	return t == SNAP_SEC_MACHINE || t == SNAP_SEC_MEMORY || t == SNAP_SEC_VM_CONFIG ||
	       t == SNAP_SEC_MEM_ID ||
	       t == SNAP_SEC_DEVICE ||
	       (t >= SNAP_SEC_VM_PIT2 && t <= SNAP_SEC_VM_IOAPIC) || t == SNAP_SEC_VM_VGIC_V3 ||
	       (t >= SNAP_SEC_VCPU_REGS && t <= SNAP_SEC_VCPU_TSC_KHZ) || t == SNAP_SEC_VCPU_ONE_REGS;
}

static int load_check_vm(const struct vm *vm, const struct snapshot_image *img, char *err, size_t errlen)
{
	if (vm->nr_vcpus != img->machine.vcpu_count)
		return errmsg_set(err, errlen, -EINVAL, "snapshot has %u vCPUs, the VM %u",
		                 img->machine.vcpu_count, vm->nr_vcpus);
	if (!mem_file_layout_matches(&vm->gm, &img->mem))
		return errmsg_set(err, errlen, -EINVAL, "snapshot memory layout does not match the VM's");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_state_check(vm, &img->f, i, err, errlen);
		if (ret < 0)
			return ret;
	}
	/* a vCPU section beyond vcpu_count means the file is not what it says */
	for (uint32_t i = 0; i < img->f.nr_sections; i++) {
		const struct snap_section *s = &img->f.sec[i];
		if (!load_known_type(s->type))
			return errmsg_set(err, errlen, -EINVAL, "unknown section type 0x%x", s->type);
		if (s->type >= SNAP_SEC_VCPU_REGS && s->type < SNAP_SEC_DEVICE && s->id >= vm->nr_vcpus)
			return errmsg_set(err, errlen, -EINVAL, "section 0x%x for vCPU %u of %u",
			                 s->type, s->id, vm->nr_vcpus);
	}
	return 0;
}

static int load_check_devices(const struct snapshot_state *s, const struct snapshot_image *img,
                              char *err, size_t errlen)
{
	unsigned in_file = 0;
	for (uint32_t i = 0; i < img->f.nr_sections; i++)
		in_file += img->f.sec[i].type == SNAP_SEC_DEVICE;
	if (in_file != s->nr_devices)
		return errmsg_set(err, errlen, -EINVAL, "snapshot has state for %u devices, the VM has %u",
		                 in_file, s->nr_devices);
	for (unsigned i = 0; i < s->nr_devices; i++) {
		const struct snapshot_device *d = &s->dev[i];
		const uint8_t *blob;
		uint64_t len;
		char why[200] = "";
		if (!snap_find_device(&img->f, d->name, &blob, &len))
			return errmsg_set(err, errlen, -EINVAL, "snapshot has no state for device %s", d->name);
		int ret = d->ops->check(d->opaque, blob, (size_t)len, why, sizeof(why));
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "device %s state does not validate: %s", d->name,
			                 why[0] ? why : strerror(-ret));
	}
	return 0;
}

/* File backend: open and size-check the memory file (kept open in *fd). */
static int load_check_mem_file(const struct snapshot_image *img, const char *path, int *fd,
                               struct stat *st, char *err, size_t errlen)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, st) < 0) {
		int e = errno;
		char os[96];
		return errmsg_set(err, errlen, -e, "Failed to load guest memory: Error creating guest memory from "
		                  "file: Failed to load guest memory: %s (%s)", errmsg_os(e, os, sizeof(os)), path);
	}
	uint64_t want = img->mem.file_size + (img->has_mem_id ? MEM_FILE_TRAILER_SIZE : 0);
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != want)
		return errmsg_set(err, errlen, -EINVAL,
		                 "memory file %s is %lld bytes, the snapshot needs exactly %llu",
		                 path, (long long)st->st_size, (unsigned long long)want);
	if (img->has_mem_id) {
		int ret = mem_file_check_trailer(*fd, img->mem.file_size, img->mem_id);
		if (ret == -ESTALE)
			return errmsg_set(err, errlen, ret,
			                 "memory file %s belongs to another snapshot than this state file",
			                 path);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "reading memory file %s: %s", path, strerror(-ret));
	}
	return 0;
}

/* The working set asked for: a file to prefetch from, checked into *ix,
 * or learning set up in s->ws_rec. Nothing is applied yet. */
static int load_check_working_set(struct snapshot_state *s, const struct vm *vm,
                                  const struct snapshot_image *img, const struct snapshot_load_params *p,
                                  struct ws_index *ix, char *err, size_t errlen)
{
	struct ws_expect e = { .page_size = vm->gm.page_size, .map_size = vm->gm.map_size };
	if (!p->ws.file)
		return 0;
	if (img->has_mem_id)
		memcpy(e.mem_id, img->mem_id, sizeof(e.mem_id));
	if (!p->ws.record_ms)
		return ws_open(p->ws.file, &e, ix, err, errlen);
	if (!p->resume_vm)
		return errmsg_set(err, errlen, -EINVAL, "working_set.record_ms: learning needs resume_vm "
		                  "(the first N ms are the guest's)");
	const char *mem = p->mem_backend == SNAPSHOT_MEM_FILE ? p->backend_path : p->ws.mem_file_path;
	if (!mem)
		return errmsg_set(err, errlen, -EINVAL, "working_set.mem_file_path: learning under the Uffd "
		                  "backend needs the memory file the handler serves");
	return ws_record_open(&s->ws_rec, &vm->gm, &e, img->has_mem_id, p->ws.file, mem, &s->ws_stats,
	                      err, errlen);
}

/* ---- apply ---- */

static int load_prefetch(struct snapshot_state *s, const struct vm *vm, const struct ws_index *ix,
                         int uffd, char *err, size_t errlen)
{
	if (ix->fd < 0)
		return 0;
	int ret = uffd >= 0 ? ws_prefetch_uffd(ix, uffd, &vm->gm, &s->ws_stats, err, errlen)
	                    : ws_prefetch_file(ix, &vm->gm, &s->ws_stats, err, errlen);
	if (ret == 0)
		log_info("working set: prefetched %llu pages (%u ranges) in %llu us",
		         (unsigned long long)s->ws_stats.prefetched_pages, ix->h.nr_ranges,
		         (unsigned long long)s->ws_stats.prefetch_us);
	return ret;
}

/* Guest RAM becomes the file's pages, read on first touch. */
static int load_memory_map(struct snapshot_state *s, struct vm *vm, int mem_fd, const struct stat *st,
                           char *err, size_t errlen)
{
	int ret = mem_file_map(&vm->gm, mem_fd);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "cannot map memory file: %s", strerror(-ret));
	s->mem_backed = true;
	s->mem_dev = st->st_dev;
	s->mem_ino = st->st_ino;
	return 0;
}

/* A memory file cannot be mapped as huge pages: the VM's own huge-page
 * RAM (reserved when it was created) gets the file's pages, all of them
 * now, where Firecracker refuses the load. */
static int load_memory_huge(const struct vm *vm, const char *path, int mem_fd, char *err, size_t errlen)
{
	unsigned long long t0 = log_now_us();
	uint64_t bytes;
	int ret = mem_file_read_into(&vm->gm, mem_fd, &bytes);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "reading memory file %s into huge pages: %s", path,
		                  strerror(-ret));
	log_info("memory file %s read eagerly into 2 MiB huge pages (not lazily: a file mapping cannot "
	         "give huge pages): %llu MiB of data in %llu ms", path, (unsigned long long)(bytes >> 20),
	         (log_now_us() - t0) / 1000);
	return 0;
}

static int load_memory(struct snapshot_state *s, struct vm *vm, const struct snapshot_load_params *p,
                       int mem_fd, const struct stat *st, const struct ws_index *ix,
                       char *err, size_t errlen)
{
	if (p->mem_backend == SNAPSHOT_MEM_FILE) {
		int ret = vm->gm.page_size == GM_HUGE_PAGE ? load_memory_huge(vm, p->backend_path, mem_fd, err, errlen)
		                                           : load_memory_map(s, vm, mem_fd, st, err, errlen);
		return ret < 0 ? ret : load_prefetch(s, vm, ix, -1, err, errlen);
	}
	int uffd = uffd_register_guest_mem(&vm->gm);
	if (uffd < 0)
		return errmsg_set(err, errlen, uffd, "userfaultfd: %s", strerror(-uffd));
	/* before the handler has the fd: no fault of its can race the batch */
	int ret = load_prefetch(s, vm, ix, uffd, err, errlen);
	if (ret == 0)
		ret = uffd_send_to_handler(p->backend_path, uffd, &vm->gm, err, errlen);
	if (ret < 0) {
		close(uffd);
		return ret;
	}
	s->uffd = uffd;
	return 0;
}

static int load_apply(struct snapshot_state *s, struct vm *vm, const struct snapshot_image *img,
                      const struct snapshot_load_params *p, char *err, size_t errlen)
{
	int ret = vm_state_apply(vm, &img->f, p->clock_realtime, err, errlen);
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_state_apply(vm, vm->vcpus[i].fd, &img->f, i, err, errlen);
	for (unsigned i = 0; ret == 0 && i < s->nr_devices; i++) {
		const struct snapshot_device *d = &s->dev[i];
		const uint8_t *blob;
		uint64_t len;
		snap_find_device(&img->f, d->name, &blob, &len);
		ret = d->ops->restore(d->opaque, blob, (size_t)len);
		if (ret < 0)
			errmsg_set(err, errlen, ret, "device %s: restore failed: %s", d->name, strerror(-ret));
	}
	return ret;
}

int snapshot_restore(struct snapshot_state *s, struct vm *vm, const struct snapshot_image *img,
                     const struct snapshot_load_params *p, char *err, size_t errlen)
{
	int mem_fd = -1;
	struct stat st = { 0 };
	struct ws_index ix = { .fd = -1 };
	int ret;
	if (!p->backend_path || !*p->backend_path)
		return errmsg_set(err, errlen, -EINVAL, "mem_backend.backend_path is required");
	ret = load_check_vm(vm, img, err, errlen);
	if (ret == 0)
		ret = load_check_devices(s, img, err, errlen);
	if (ret == 0 && p->mem_backend == SNAPSHOT_MEM_FILE)
		ret = load_check_mem_file(img, p->backend_path, &mem_fd, &st, err, errlen);
	if (ret == 0)
		ret = load_check_working_set(s, vm, img, p, &ix, err, errlen);
	/* nothing has been changed up to here: a refusal leaves the VM as
	 * it was created */
	if (ret == 0)
		ret = load_memory(s, vm, p, mem_fd, &st, &ix, err, errlen);
	/* tracking on before the devices are restored: what they write into
	 * guest memory then (what a device's restored op tells the guest,
	 * and its used entry) must be in the next Diff */
	if (ret == 0 && p->enable_diff_snapshots) {
		ret = snapshot_dirty_log_enable(s, vm);
		if (ret < 0)
			errmsg_set(err, errlen, ret, "enabling dirty page tracking: %s", strerror(-ret));
	}
	if (ret == 0)
		ret = load_apply(s, vm, img, p, err, errlen);
	/* the mapping holds its own reference to the file */
	if (mem_fd >= 0)
		close(mem_fd);
	ws_close(&ix);
	if (ret < 0)
		ws_recorder_stop(&s->ws_rec);
	return ret;
}
