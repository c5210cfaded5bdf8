/* save: write a paused VM's memory file and state file. */
#include "vmm/snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/arch/arch.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/vcpu.h"
#include "vmm/errmsg.h"
#include "vmm/vm.h"

/* A vCPU that left KVM_RUN on a PIO/MMIO exit has not finished that
 * instruction inside KVM until it enters KVM_RUN again; entering with
 * immediate_exit completes it and returns at once, so what we read next
 * is a consistent state (the KVM API documentation asks for exactly this
 * before saving). The vCPU thread is parked; the ioctl is ours. */
static int save_flush_vcpu(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	int r = ioctl(v->fd, KVM_RUN, 0);
	int e = errno;
	v->run->immediate_exit = 0;
	if (r == 0 || e == EINTR || e == EAGAIN)
		return 0;
	log_err("vCPU %u: completing the last exit: %s", v->id, strerror(e));
	return -e;
}

static int save_machine(const struct snapshot_state *s, const struct vm *vm,
                        const struct machine_config *mc, const uint8_t *mem_id, struct snap_writer *w)
{
	struct snap_machine m = {
		.vcpu_count = vm->nr_vcpus,
		.mem_size_mib = vm->gm.ram_size >> 20,
	};
	if (mc && mc->smt)
		m.flags |= SNAP_MACHINE_SMT;
	if (mc && mc->track_dirty_pages)
		m.flags |= SNAP_MACHINE_TRACK_DIRTY;
	if (vm->gm.page_size == GM_HUGE_PAGE)
		m.flags |= SNAP_MACHINE_HUGE_2M;
	struct snap_memory mem;
	mem_file_layout(&vm->gm, &mem);
	snap_writer_add(w, SNAP_SEC_MACHINE, 0, &m, sizeof(m));
	if (s->vm_config_json)
		snap_writer_add(w, SNAP_SEC_VM_CONFIG, 0, s->vm_config_json, strlen(s->vm_config_json));
	snap_writer_add(w, SNAP_SEC_MEM_ID, 0, mem_id, MEM_FILE_ID_LEN);
	return snap_writer_add(w, SNAP_SEC_MEMORY, 0, &mem, sizeof(mem));
}

static int save_devices(const struct snapshot_state *s, struct snap_writer *w,
                        char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->nr_devices; i++) {
		const struct snapshot_device *d = &s->dev[i];
		void *blob = NULL;
		size_t len = 0;
		int ret = d->ops->save(d->opaque, &blob, &len);
		if (ret == 0)
			ret = snap_writer_add_device(w, i, d->name, blob, len);
		free(blob);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "device %s: saving its state failed: %s",
			                 d->name, strerror(-ret));
	}
	return 0;
}

static int save_state_image(struct snapshot_state *s, struct vm *vm, const struct machine_config *mc,
                            const uint8_t *mem_id, struct snap_writer *w, char *err, size_t errlen)
{
	int ret = save_machine(s, vm, mc, mem_id, w);
	if (ret == 0)
		ret = vm_state_save(vm, w);
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_state_save(vm, vm->vcpus[i].fd, i, w);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "reading KVM state failed: %s", strerror(-ret));
	ret = save_devices(s, w, err, errlen);
	if (ret < 0)
		return ret;
	ret = snap_writer_finish(w, arch_snapshot_id(), HUSK_VERSION);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "building the state file failed: %s", strerror(-ret));
	return 0;
}

static int save_tmp_path(char *tmp, size_t len, const char *path, const char *what, char *err,
                         size_t errlen)
{
	if (snprintf(tmp, len, "%s.tmp", path) >= (int)len)
		return errmsg_set(err, errlen, -ENAMETOOLONG, "%s too long", what);
	return 0;
}

/* The state, into its temporary file (renamed into place by the caller). */
static int save_write_state(const char *tmp, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		char os[96];
		/* Firecracker's words (persist.rs), then the file */
		return errmsg_set(err, errlen, -e, "Cannot perform open on the snapshot backing file: %s (%s)",
		                  errmsg_os(e, os, sizeof(os)), tmp);
	}
	int ret = 0;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errmsg_set(err, errlen, -errno, "writing %s: %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && ret == 0)
		ret = errmsg_set(err, errlen, -errno, "writing %s: %s", tmp, strerror(errno));
	return ret;
}

/* Guest memory, into the temporary file tmp (renamed into place by the
 * caller), ending with the trailer that ties it to the state file. */
static int save_memory(struct snapshot_state *s, struct vm *vm, const struct snapshot_create_params *p,
                       const char *tmp, const uint8_t *mem_id, uint64_t **taken, char *err,
                       size_t errlen)
{
	struct stat st;
	/* our RAM may be a private mapping of the file at mem_file_path: a
	 * rename over it would be safe now, but a snapshot in place of the
	 * one the VM came from is almost surely a mistake */
	if (s->mem_backed && stat(p->mem_file_path, &st) == 0 && st.st_dev == s->mem_dev &&
	    st.st_ino == s->mem_ino)
		return errmsg_set(err, errlen, -EBUSY, "mem_file_path %s is the file this VM was restored from",
		                 p->mem_file_path);
	if (stat(p->mem_file_path, &st) == 0 && !S_ISREG(st.st_mode))
		return errmsg_set(err, errlen, -EINVAL, "mem_file_path %s is not a regular file", p->mem_file_path);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		char os[96];
		return errmsg_set(err, errlen, -e, "Cannot perform open on the memory backing file: %s (%s)",
		                  errmsg_os(e, os, sizeof(os)), tmp);
	}
	int ret;
	if (p->type == SNAPSHOT_DIFF) {
		ret = mem_file_write_dirty(vm, fd, s->dirty_log, taken);
	} else {
		ret = mem_file_write_full(&vm->gm, fd);
		/* the next Diff is relative to this snapshot */
		if (ret == 0 && s->dirty_log)
			ret = mem_dirty_log_reset(vm);
	}
	if (ret == 0)
		ret = mem_file_write_trailer(fd, vm->gm.map_size, mem_id,
		                             p->type == SNAPSHOT_DIFF ? *taken : NULL);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		errmsg_set(err, errlen, ret, "writing guest memory to %s: %s", tmp, strerror(-ret));
	return ret;
}

int snapshot_save(struct snapshot_state *s, struct vm *vm, const struct machine_config *mc,
                  const struct snapshot_create_params *p, char *err, size_t errlen)
{
	struct snap_writer w;
	int ret;
	if (!p->snapshot_path || !*p->snapshot_path)
		return errmsg_set(err, errlen, -EINVAL, "snapshot_path is required");
	if (!p->mem_file_path || !*p->mem_file_path)
		return errmsg_set(err, errlen, -EINVAL, "mem_file_path is required");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = save_flush_vcpu(&vm->vcpus[i]);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "vCPU %u did not stop cleanly", i);
	}
	/* Both files are written next to their targets and renamed into
	 * place only when both are whole: a failure (ENOSPC, EIO, a kill)
	 * leaves the previous snapshot as it was. A crash between the two
	 * renames leaves a pair whose ids differ, which load refuses. */
	char mem_tmp[4096], state_tmp[4096];
	uint8_t mem_id[MEM_FILE_ID_LEN];
	ret = save_tmp_path(mem_tmp, sizeof(mem_tmp), p->mem_file_path, "mem_file_path", err, errlen);
	if (ret == 0)
		ret = save_tmp_path(state_tmp, sizeof(state_tmp), p->snapshot_path, "snapshot_path", err,
		                    errlen);
	if (ret < 0)
		return ret;
	if (getrandom(mem_id, sizeof(mem_id), 0) != (ssize_t)sizeof(mem_id))
		return errmsg_set(err, errlen, -EIO, "getrandom failed: %s", strerror(errno));
	snap_writer_init(&w);
	ret = save_state_image(s, vm, mc, mem_id, &w, err, errlen);
	uint64_t *taken = NULL; /* the pages a Diff took from the dirty log */
	if (ret == 0)
		ret = save_memory(s, vm, p, mem_tmp, mem_id, &taken, err, errlen);
	if (ret == 0)
		ret = save_write_state(state_tmp, w.buf, w.len, err, errlen);
	if (ret == 0 && rename(mem_tmp, p->mem_file_path) < 0)
		ret = errmsg_set(err, errlen, -errno, "cannot rename %s to %s: %s", mem_tmp,
		                 p->mem_file_path, strerror(errno));
	if (ret == 0 && rename(state_tmp, p->snapshot_path) < 0)
		ret = errmsg_set(err, errlen, -errno, "cannot rename %s to %s: %s", state_tmp,
		                 p->snapshot_path, strerror(errno));
	if (ret < 0) {
		unlink(mem_tmp);
		unlink(state_tmp);
		/* a failed Diff's pages go to the next one */
		mem_dirty_put_back(&vm->gm, taken);
	}
	free(taken);
	if (ret == 0)
		log_info("snapshot %s: %s (%zu bytes of state), memory in %s",
		         p->type == SNAPSHOT_DIFF ? "Diff" : "Full", p->snapshot_path, w.len, p->mem_file_path);
	snap_writer_free(&w);
	return ret;
}
