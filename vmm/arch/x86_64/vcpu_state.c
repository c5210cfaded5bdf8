/* vcpu_state: capture and apply one x86_64 vCPU's KVM state (order and
 * reasons in vcpu_state.h). */
#include "vmm/arch/x86_64/vcpu_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/arch/x86_64/cpu_template.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/arch/x86_64/regs.h"
#include "vmm/log.h"
#include "vmm/errmsg.h"
#include "vmm/vm.h"

#define VCPU_STATE_MAX_CPUID 256
#define VCPU_STATE_MAX_MSRS 4096

static bool vs_has_cap(const struct vm *vm, int cap)
{
	return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* Bytes KVM_GET/SET_XSAVE move for this VM: the KVM_CAP_XSAVE2 size when
 * there is one (it grows with dynamically enabled features like AMX), else
 * the classic 4 KiB; 0 when the host has no XSAVE at all. */
static size_t vs_xsave_size(const struct vm *vm)
{
	if (!vs_has_cap(vm, KVM_CAP_XSAVE))
		return 0;
	int n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

/* ---- save ---- */

/* Get a fixed-size struct with one ioctl and add it as a section. */
static int vs_save_fixed(int fd, unsigned long req, const char *name, uint32_t type,
                         unsigned index, void *buf, size_t len, struct snap_writer *w)
{
	memset(buf, 0, len);
	if (ioctl(fd, req, buf) < 0) {
		int ret = -errno;
		log_err("vCPU %u: %s: %s", index, name, strerror(errno));
		return ret;
	}
	return snap_writer_add(w, type, index, buf, len);
}

static int vs_msr_index_list(const struct vm *vm, struct kvm_msr_list **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	if (probe.nmsrs > VCPU_STATE_MAX_MSRS)
		return -E2BIG;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int ret = -errno;
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

/* Read every MSR on KVM's list. KVM_GET_MSRS stops at the first MSR it
 * cannot read and returns how many it did, so read in runs and step over
 * each refused one: what is saved is exactly what this vCPU can give. */
static int vs_save_msrs(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	struct kvm_msr_list *list = NULL;
	int ret = vs_msr_index_list(vm, &list);
	if (ret < 0) {
		log_err("KVM_GET_MSR_INDEX_LIST: %s", strerror(-ret));
		return ret;
	}
	uint32_t n = list->nmsrs, kept = 0, skipped = 0;
	struct kvm_msrs *out = calloc(1, sizeof(*out) + (n ? n : 1) * sizeof(out->entries[0]));
	struct kvm_msrs *run = calloc(1, sizeof(*run) + (n ? n : 1) * sizeof(run->entries[0]));
	if (!out || !run) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n;) {
		run->nmsrs = n - i;
		for (uint32_t k = 0; k < run->nmsrs; k++)
			run->entries[k] = (struct kvm_msr_entry){ .index = list->indices[i + k] };
		int got = ioctl(vcpu_fd, KVM_GET_MSRS, run);
		if (got < 0) {
			ret = -errno;
			log_err("vCPU %u: KVM_GET_MSRS: %s", index, strerror(errno));
			goto out;
		}
		memcpy(&out->entries[kept], run->entries, (size_t)got * sizeof(run->entries[0]));
		kept += (uint32_t)got;
		i += (uint32_t)got;
		if (i < n) {
			log_debug("vCPU %u: MSR 0x%x not readable, not saved", index, list->indices[i]);
			skipped++;
			i++;
		}
	}
	out->nmsrs = kept;
	log_debug("vCPU %u: %u MSRs saved, %u of KVM's list skipped", index, kept, skipped);
	ret = snap_writer_add(w, SNAP_SEC_VCPU_MSRS, index, out,
	                      sizeof(*out) + (uint64_t)kept * sizeof(out->entries[0]));
out:
	free(list);
	free(out);
	free(run);
	return ret;
}

static int vs_save_cpuid(int vcpu_fd, unsigned index, struct snap_writer *w)
{
	size_t sz = sizeof(struct kvm_cpuid2) + VCPU_STATE_MAX_CPUID * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	if (!c)
		return -ENOMEM;
	c->nent = VCPU_STATE_MAX_CPUID;
	int ret = 0;
	if (ioctl(vcpu_fd, KVM_GET_CPUID2, c) < 0) {
		ret = -errno;
		log_err("vCPU %u: KVM_GET_CPUID2: %s", index, strerror(errno));
	} else {
		ret = snap_writer_add(w, SNAP_SEC_VCPU_CPUID, index, c,
		                      sizeof(*c) + (uint64_t)c->nent * sizeof(c->entries[0]));
	}
	free(c);
	return ret;
}

static int vs_save_fpu(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	size_t xs = vs_xsave_size(vm);
	if (xs == 0) {
		struct kvm_fpu fpu;
		return vs_save_fixed(vcpu_fd, KVM_GET_FPU, "KVM_GET_FPU", SNAP_SEC_VCPU_FPU, index,
		                     &fpu, sizeof(fpu), w);
	}
	void *buf = calloc(1, xs);
	if (!buf)
		return -ENOMEM;
	unsigned long req = xs > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
	int ret = vs_save_fixed(vcpu_fd, req, "KVM_GET_XSAVE", SNAP_SEC_VCPU_XSAVE, index, buf, xs, w);
	free(buf);
	return ret;
}

static int vs_save_tsc_khz(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	if (!vs_has_cap(vm, KVM_CAP_GET_TSC_KHZ))
		return 0;
	int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0) {
		log_warn("vCPU %u: KVM_GET_TSC_KHZ: %s; TSC rate not saved", index, strerror(errno));
		return 0;
	}
	uint64_t v = (uint64_t)khz;
	return snap_writer_add(w, SNAP_SEC_VCPU_TSC_KHZ, index, &v, sizeof(v));
}

int vcpu_state_save(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	union {
		struct kvm_mp_state mp;
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_xcrs xcrs;
		struct kvm_lapic_state lapic;
		struct kvm_vcpu_events events;
		struct kvm_debugregs dbg;
	} u;
	/* mp_state first: see vcpu_state.h */
	int ret = vs_save_fixed(vcpu_fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE", SNAP_SEC_VCPU_MP_STATE,
	                        index, &u.mp, sizeof(u.mp), w);
	if (ret == 0)
		ret = vs_save_fixed(vcpu_fd, KVM_GET_REGS, "KVM_GET_REGS", SNAP_SEC_VCPU_REGS, index,
		                    &u.regs, sizeof(u.regs), w);
	if (ret == 0)
		ret = vs_save_fixed(vcpu_fd, KVM_GET_SREGS, "KVM_GET_SREGS", SNAP_SEC_VCPU_SREGS, index,
		                    &u.sregs, sizeof(u.sregs), w);
	if (ret == 0)
		ret = vs_save_fpu(vm, vcpu_fd, index, w);
	if (ret == 0 && vs_has_cap(vm, KVM_CAP_XCRS))
		ret = vs_save_fixed(vcpu_fd, KVM_GET_XCRS, "KVM_GET_XCRS", SNAP_SEC_VCPU_XCRS, index,
		                    &u.xcrs, sizeof(u.xcrs), w);
	if (ret == 0)
		ret = vs_save_msrs(vm, vcpu_fd, index, w);
	if (ret == 0)
		ret = vs_save_fixed(vcpu_fd, KVM_GET_LAPIC, "KVM_GET_LAPIC", SNAP_SEC_VCPU_LAPIC, index,
		                    &u.lapic, sizeof(u.lapic), w);
	if (ret == 0 && vs_has_cap(vm, KVM_CAP_VCPU_EVENTS))
		ret = vs_save_fixed(vcpu_fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", SNAP_SEC_VCPU_EVENTS,
		                    index, &u.events, sizeof(u.events), w);
	if (ret == 0 && vs_has_cap(vm, KVM_CAP_DEBUGREGS))
		ret = vs_save_fixed(vcpu_fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", SNAP_SEC_VCPU_DEBUGREGS,
		                    index, &u.dbg, sizeof(u.dbg), w);
	if (ret == 0)
		ret = vs_save_cpuid(vcpu_fd, index, w);
	if (ret == 0)
		ret = vs_save_tsc_khz(vm, vcpu_fd, index, w);
	return ret;
}

/* ---- check ---- */

struct vs_fixed {
	uint32_t type;
	const char *name;
	size_t len;
	int cap;       /* needed on this host when the section is present; 0: none */
	bool required; /* must be in every snapshot */
};

static const struct vs_fixed vs_fixed_sections[] = {
	{ SNAP_SEC_VCPU_MP_STATE, "mp_state", sizeof(struct kvm_mp_state), 0, true },
	{ SNAP_SEC_VCPU_REGS, "regs", sizeof(struct kvm_regs), 0, true },
	{ SNAP_SEC_VCPU_SREGS, "sregs", sizeof(struct kvm_sregs), 0, true },
	{ SNAP_SEC_VCPU_LAPIC, "LAPIC", sizeof(struct kvm_lapic_state), 0, true },
	{ SNAP_SEC_VCPU_FPU, "FPU", sizeof(struct kvm_fpu), 0, false },
	{ SNAP_SEC_VCPU_XCRS, "xcrs", sizeof(struct kvm_xcrs), KVM_CAP_XCRS, false },
	{ SNAP_SEC_VCPU_EVENTS, "vcpu_events", sizeof(struct kvm_vcpu_events), KVM_CAP_VCPU_EVENTS, false },
	{ SNAP_SEC_VCPU_DEBUGREGS, "debugregs", sizeof(struct kvm_debugregs), KVM_CAP_DEBUGREGS, false },
	{ SNAP_SEC_VCPU_TSC_KHZ, "TSC kHz", sizeof(uint64_t), KVM_CAP_GET_TSC_KHZ, false },
};

static int vs_check_fixed(const struct vm *vm, const struct snap_file *f, unsigned index,
                          char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(vs_fixed_sections) / sizeof(vs_fixed_sections[0]); i++) {
		const struct vs_fixed *d = &vs_fixed_sections[i];
		const struct snap_section *s = snap_find(f, d->type, index);
		if (!s) {
			if (d->required)
				return errmsg_set(err, errlen, -EINVAL, "vCPU %u: %s missing", index, d->name);
			continue;
		}
		if (s->len != d->len)
			return errmsg_set(err, errlen, -EINVAL, "vCPU %u: %s is %llu bytes, expected %zu",
			               index, d->name, (unsigned long long)s->len, d->len);
		if (d->cap && !vs_has_cap(vm, d->cap))
			return errmsg_set(err, errlen, -ENOTSUP, "vCPU %u: snapshot has %s, this KVM cannot set it",
			               index, d->name);
	}
	return 0;
}

/* A variable-size section: a 4-byte count, 4 bytes of padding, then count
 * entries of entry_size; the length must be exactly that. */
static int vs_check_counted(const struct snap_file *f, uint32_t type, unsigned index,
                            const char *name, size_t entry_size, uint32_t max,
                            char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(f, type, index);
	uint32_t count;
	if (!s)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: %s missing", index, name);
	if (s->len < 8)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: %s truncated", index, name);
	memcpy(&count, s->data, sizeof(count));
	if (count > max || s->len != 8 + (uint64_t)count * entry_size)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: %s has %u entries in %llu bytes",
		               index, name, count, (unsigned long long)s->len);
	return 0;
}

static int vs_check_fpu(const struct vm *vm, const struct snap_file *f, unsigned index,
                        char *err, size_t errlen)
{
	const struct snap_section *xs = snap_find(f, SNAP_SEC_VCPU_XSAVE, index);
	const struct snap_section *fpu = snap_find(f, SNAP_SEC_VCPU_FPU, index);
	size_t host = vs_xsave_size(vm);
	if (!xs && !fpu)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: no XSAVE or FPU state", index);
	if (!xs)
		return 0;
	if (host == 0)
		return errmsg_set(err, errlen, -ENOTSUP, "vCPU %u: snapshot has XSAVE state, this KVM has no XSAVE",
		               index);
	if (xs->len < sizeof(struct kvm_xsave) || xs->len > host)
		return errmsg_set(err, errlen, -EINVAL,
		               "vCPU %u: XSAVE area is %llu bytes, this host takes %zu..%zu",
		               index, (unsigned long long)xs->len, sizeof(struct kvm_xsave), host);
	return 0;
}

/* The CPU configuration the snapshot was taken with -- its CPU template,
 * if any, is in this table -- must be one this host can give. The
 * section's size was checked (vs_check_counted). */
static int vs_check_cpuid_supported(const struct vm *vm, const struct snap_file *f, unsigned index,
                                    char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(f, SNAP_SEC_VCPU_CPUID, index);
	if (!s)
		return 0;
	/* the cast: x86_host_cpuid only fills its cache in vm->arch */
	const struct kvm_cpuid2 *host = x86_host_cpuid((struct vm *)vm);
	if (!host)
		return errmsg_set(err, errlen, -EIO, "KVM_GET_SUPPORTED_CPUID failed");
	struct kvm_cpuid2 *c = malloc((size_t)s->len); /* aligned, unlike the file's bytes */
	if (!c)
		return -ENOMEM;
	memcpy(c, s->data, (size_t)s->len);
	char why[160];
	int ret = cpuid_check_supported(c, host, why, sizeof(why));
	if (ret < 0)
		errmsg_set(err, errlen, ret, "vCPU %u: %s", index, why);
	free(c);
	return ret;
}

int vcpu_state_check(const struct vm *vm, const struct snap_file *f, unsigned index,
                     char *err, size_t errlen)
{
	int ret = vs_check_fixed(vm, f, index, err, errlen);
	if (ret == 0)
		ret = vs_check_fpu(vm, f, index, err, errlen);
	if (ret == 0)
		ret = vs_check_counted(f, SNAP_SEC_VCPU_MSRS, index, "MSRs", sizeof(struct kvm_msr_entry),
		                       VCPU_STATE_MAX_MSRS, err, errlen);
	if (ret == 0)
		ret = vs_check_counted(f, SNAP_SEC_VCPU_CPUID, index, "CPUID", sizeof(struct kvm_cpuid_entry2),
		                       VCPU_STATE_MAX_CPUID, err, errlen);
	if (ret == 0)
		ret = vs_check_cpuid_supported(vm, f, index, err, errlen);
	return ret;
}

/* ---- apply ---- */

/* Copy a section into an aligned buffer of at least min_len bytes (zero
 * padded) and hand it to one ioctl. Missing optional sections are skipped. */
static int vs_apply_section(int vcpu_fd, const struct snap_file *f, uint32_t type, unsigned index,
                            unsigned long req, const char *name, size_t min_len,
                            char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(f, type, index);
	if (!s)
		return 0;
	size_t len = s->len > min_len ? (size_t)s->len : min_len;
	void *buf = calloc(1, len ? len : 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s->data, (size_t)s->len);
	int ret = 0;
	if (ioctl(vcpu_fd, req, buf) < 0)
		ret = errmsg_set(err, errlen, -errno, "vCPU %u: %s: %s", index, name, strerror(errno));
	free(buf);
	return ret;
}

static int vs_apply_tsc_khz(int vcpu_fd, const struct snap_file *f, unsigned index,
                            char *err, size_t errlen)
{
	uint64_t khz;
	if (snap_get(f, SNAP_SEC_VCPU_TSC_KHZ, index, &khz, sizeof(khz)) < 0)
		return 0;
	int now = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (now > 0 && (uint64_t)now == khz)
		return 0;
	if (khz == 0 || khz > INT32_MAX || ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		return errmsg_set(err, errlen, -ENOTSUP,
		               "vCPU %u: TSC runs at %d kHz here, snapshot needs %llu kHz and KVM cannot scale it",
		               index, now, (unsigned long long)khz);
	return 0;
}

static int vs_set_msrs(int vcpu_fd, struct kvm_msrs *m, unsigned index, char *err, size_t errlen)
{
	int set = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (set < 0)
		return errmsg_set(err, errlen, -errno, "vCPU %u: KVM_SET_MSRS: %s", index, strerror(errno));
	if ((uint32_t)set != m->nmsrs)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: KVM refused MSR 0x%x (%d of %u set)",
		                  index, m->entries[set].index, set, m->nmsrs);
	return 0;
}

/* Every MSR but TSC_DEADLINE, then TSC_DEADLINE on its own (why: regs.h
 * msrs_take_tsc_deadline). */
static int vs_apply_msrs(int vcpu_fd, const struct snap_file *f, unsigned index,
                         char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(f, SNAP_SEC_VCPU_MSRS, index);
	struct kvm_msrs *m = malloc((size_t)s->len);
	if (!m)
		return -ENOMEM;
	memcpy(m, s->data, (size_t)s->len);
	struct kvm_msr_entry deadline;
	bool has_deadline = msrs_take_tsc_deadline(m, &deadline);
	int ret = vs_set_msrs(vcpu_fd, m, index, err, errlen);
	if (ret == 0 && has_deadline) {
		/* m had room for it: it came out of m */
		m->entries[0] = deadline;
		m->nmsrs = 1;
		ret = vs_set_msrs(vcpu_fd, m, index, err, errlen);
	}
	free(m);
	return ret;
}

static int vs_apply_events(int vcpu_fd, const struct snap_file *f, unsigned index,
                           char *err, size_t errlen)
{
	struct kvm_vcpu_events ev;
	if (snap_get(f, SNAP_SEC_VCPU_EVENTS, index, &ev, sizeof(ev)) < 0)
		return 0;
	/* GET does not mark these valid; without the flags SET ignores a
	 * pending NMI and the SIPI vector an AP waits with */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return errmsg_set(err, errlen, -errno, "vCPU %u: KVM_SET_VCPU_EVENTS: %s", index, strerror(errno));
	return 0;
}

/* The sections applied with one KVM_SET_* each, in this order (CPUID
 * first: the registers after it are checked against it). */
static const struct vs_set {
	uint32_t type;
	unsigned long req;
	const char *name;
} vs_sets[] = {
	{ SNAP_SEC_VCPU_CPUID, KVM_SET_CPUID2, "KVM_SET_CPUID2" },
	{ SNAP_SEC_VCPU_MP_STATE, KVM_SET_MP_STATE, "KVM_SET_MP_STATE" },
	{ SNAP_SEC_VCPU_REGS, KVM_SET_REGS, "KVM_SET_REGS" },
	{ SNAP_SEC_VCPU_SREGS, KVM_SET_SREGS, "KVM_SET_SREGS" },
	{ SNAP_SEC_VCPU_XSAVE, KVM_SET_XSAVE, "KVM_SET_XSAVE" },
	{ SNAP_SEC_VCPU_FPU, KVM_SET_FPU, "KVM_SET_FPU" },
	{ SNAP_SEC_VCPU_XCRS, KVM_SET_XCRS, "KVM_SET_XCRS" },
	{ SNAP_SEC_VCPU_DEBUGREGS, KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS" },
	{ SNAP_SEC_VCPU_LAPIC, KVM_SET_LAPIC, "KVM_SET_LAPIC" },
};

int vcpu_state_apply(const struct vm *vm, int vcpu_fd, const struct snap_file *f,
                     unsigned index, char *err, size_t errlen)
{
	int ret = vs_apply_tsc_khz(vcpu_fd, f, index, err, errlen);
	for (size_t i = 0; ret == 0 && i < sizeof(vs_sets) / sizeof(vs_sets[0]); i++) {
		const struct vs_set *v = &vs_sets[i];
		/* KVM_SET_XSAVE reads the VM's whole XSAVE2 size: pad a smaller
		 * saved area with zeros (its XSTATE_BV says those components
		 * are absent) */
		size_t min_len = v->type == SNAP_SEC_VCPU_XSAVE ? vs_xsave_size(vm) : 0;
		ret = vs_apply_section(vcpu_fd, f, v->type, index, v->req, v->name, min_len, err, errlen);
	}
	if (ret == 0)
		ret = vs_apply_msrs(vcpu_fd, f, index, err, errlen);
	if (ret == 0)
		ret = vs_apply_events(vcpu_fd, f, index, err, errlen);
	return ret;
}
