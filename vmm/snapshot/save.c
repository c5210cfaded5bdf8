/* save: write a paused VM's memory file and state file. */
#include "vmm/snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/arch/x86_64/vcpu_state.h"
#include "vmm/arch/x86_64/vm_state.h"
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
                        const struct machine_config *mc, struct snap_writer *w)
{
	struct snap_machine m = {
		.vcpu_count = vm->nr_vcpus,
		.mem_size_mib = vm->gm.ram_size >> 20,
	};
	if (mc && mc->smt)
		m.flags |= SNAP_MACHINE_SMT;
	if (mc && mc->track_dirty_pages)
		m.flags |= SNAP_MACHINE_TRACK_DIRTY;
	struct snap_memory mem;
	mem_file_layout(&vm->gm, &mem);
	snap_writer_add(w, SNAP_SEC_MACHINE, 0, &m, sizeof(m));
	if (s->vm_config_json)
		snap_writer_add(w, SNAP_SEC_VM_CONFIG, 0, s->vm_config_json, strlen(s->vm_config_json));
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
                            struct snap_writer *w, char *err, size_t errlen)
{
	int ret = save_machine(s, vm, mc, w);
	if (ret == 0)
		ret = vm_state_save(vm, w);
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_state_save(vm, vm->vcpus[i].fd, i, w);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "reading KVM state failed: %s", strerror(-ret));
	ret = save_devices(s, w, err, errlen);
	if (ret < 0)
		return ret;
	ret = snap_writer_finish(w, SNAP_ARCH_X86_64, HUSK_VERSION);
	if (ret < 0)
		return errmsg_set(err, errlen, ret, "building the state file failed: %s", strerror(-ret));
	return 0;
}

static int save_write_file(const char *path, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return errmsg_set(err, errlen, -ENAMETOOLONG, "snapshot_path too long");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errmsg_set(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
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
	if (ret == 0 && rename(tmp, path) < 0)
		ret = errmsg_set(err, errlen, -errno, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int save_memory(struct snapshot_state *s, struct vm *vm, const struct snapshot_create_params *p,
                       char *err, size_t errlen)
{
	int fd = open(p->mem_file_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int ret = errmsg_set(err, errlen, -errno, "cannot open mem_file_path %s: %s",
		                    p->mem_file_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	int ret = 0;
	/* truncating the file our RAM is a private mapping of would turn
	 * every page the guest has not touched yet into SIGBUS */
	if (s->mem_backed && st.st_dev == s->mem_dev && st.st_ino == s->mem_ino) {
		ret = errmsg_set(err, errlen, -EBUSY, "mem_file_path %s is the file this VM was restored from",
		                p->mem_file_path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = errmsg_set(err, errlen, -EINVAL, "mem_file_path %s is not a regular file", p->mem_file_path);
		goto out;
	}
	if (p->type == SNAPSHOT_DIFF) {
		ret = mem_file_write_dirty(vm, fd);
	} else {
		ret = mem_file_write_full(&vm->gm, fd);
		/* the next Diff is relative to this snapshot */
		if (ret == 0 && s->dirty_log)
			ret = mem_dirty_log_reset(vm);
	}
	if (ret < 0)
		errmsg_set(err, errlen, ret, "writing guest memory to %s: %s", p->mem_file_path, strerror(-ret));
out:
	close(fd);
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
	if (p->type == SNAPSHOT_DIFF && !s->dirty_log)
		return errmsg_set(err, errlen, -EINVAL,
		                 "Diff snapshot needs track_dirty_pages (or enable_diff_snapshots on load)");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = save_flush_vcpu(&vm->vcpus[i]);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "vCPU %u did not stop cleanly", i);
	}
	snap_writer_init(&w);
	ret = save_state_image(s, vm, mc, &w, err, errlen);
	if (ret == 0)
		ret = save_memory(s, vm, p, err, errlen);
	if (ret == 0)
		ret = save_write_file(p->snapshot_path, w.buf, w.len, err, errlen);
	if (ret == 0)
		log_info("snapshot %s: %s (%zu bytes of state), memory in %s",
		         p->type == SNAPSHOT_DIFF ? "Diff" : "Full", p->snapshot_path, w.len, p->mem_file_path);
	snap_writer_free(&w);
	return ret;
}
