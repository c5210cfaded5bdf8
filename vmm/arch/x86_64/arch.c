/* arch: x86_64's side of vmm/arch/arch.h. */
#include "vmm/arch/arch.h"

#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/arch/x86_64/acpi.h"
#include "vmm/arch/x86_64/cpu_template.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/arch/x86_64/regs.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/format.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define CPUID_MAX_ENTRIES 256

/* ---- the VM ---- */

int arch_vm_init(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0) {
		log_err("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	uint64_t idmap = LAYOUT_KVM_IDENTITY_MAP;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_err("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	/* speaker port dummy: the guest's PIT probing must not exit to us */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_err("KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

void arch_vm_destroy(struct vm *vm)
{
	free(vm->arch.supported_cpuid);
	vm->arch.supported_cpuid = NULL;
	free(vm->arch.host_cpuid);
	vm->arch.host_cpuid = NULL;
}

static int x86_get_supported_cpuid(struct vm *vm)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	vm->arch.supported_cpuid = calloc(1, sz);
	if (!vm->arch.supported_cpuid)
		return -ENOMEM;
	vm->arch.supported_cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->arch.supported_cpuid) < 0) {
		int ret = -errno;
		log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return ret;
	}
	return 0;
}

/* Fetched on first use: a restored VM takes its CPUID from the snapshot and
 * never pays for the query (about 0.7 ms here). */
const struct kvm_cpuid2 *x86_supported_cpuid(struct vm *vm)
{
	if (!vm->arch.supported_cpuid && x86_get_supported_cpuid(vm) < 0) {
		free(vm->arch.supported_cpuid);
		vm->arch.supported_cpuid = NULL;
	}
	return vm->arch.supported_cpuid;
}

/* A software KVM (PVM) lists fewer bits than its vCPUs then report
 * through KVM_GET_CPUID2 -- guest code runs on the CPU and sees its
 * features -- so a snapshot taken on this very host carries them; a bit
 * neither KVM nor the CPU has still refuses the restore. */
const struct kvm_cpuid2 *x86_host_cpuid(struct vm *vm)
{
	const struct kvm_cpuid2 *sup = x86_supported_cpuid(vm);
	if (vm->arch.host_cpuid || !sup)
		return vm->arch.host_cpuid;
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *h = malloc(sz);
	if (!h)
		return NULL;
	memcpy(h, sup, sz);
	for (uint32_t i = 0; i < h->nent; i++) {
		struct kvm_cpuid_entry2 *e = &h->entries[i];
		unsigned a, b, c, d;
		if (__get_cpuid_count(e->function, e->index, &a, &b, &c, &d)) {
			e->eax |= a, e->ebx |= b, e->ecx |= c, e->edx |= d;
		}
	}
	vm->arch.host_cpuid = h;
	return h;
}

/* ---- vCPUs ---- */

int arch_vcpus_created(struct vm *vm)
{
	(void)vm; /* the irqchip exists since arch_vm_init */
	return 0;
}

/* A KVM may take KVM_SET_CPUID2 and still show its guests other bits
 * (PVM's guests run CPUID on the CPU itself): read the table back, so
 * that a template that cannot show fails InstanceStart by name instead
 * of being silently without effect. */
static int x86_check_template_taken(struct vcpu *vcpu, const struct cpu_config *tmpl)
{
	struct kvm_cpuid2 *got = calloc(1, sizeof(*got) + CPUID_MAX_ENTRIES * sizeof(got->entries[0]));
	if (!got)
		return -ENOMEM;
	got->nent = CPUID_MAX_ENTRIES;
	int ret = 0;
	if (ioctl(vcpu->fd, KVM_GET_CPUID2, got) < 0)
		ret = errmsg_set(vcpu->vm->error, sizeof(vcpu->vm->error), -errno, "KVM_GET_CPUID2: %s",
		                 strerror(errno));
	else
		ret = cpu_template_check_taken(tmpl, got, vcpu->vm->error, sizeof(vcpu->vm->error));
	free(got);
	return ret;
}

static int x86_set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *sup = x86_supported_cpuid(vcpu->vm);
	if (!sup)
		return -EIO;
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, sup, sz);
	const struct cpu_config *tmpl = vcpu->vm->arch.cpu_template;
	int ret = cpuid_normalize(c, vcpu->id, vcpu->vm->nr_vcpus, false);
	if (tmpl)
		cpu_template_apply_cpuid(tmpl, c);
	if (ret == 0 && ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	if (ret == 0 && tmpl)
		ret = x86_check_template_taken(vcpu, tmpl);
	free(c);
	return ret;
}

int arch_vcpu_init(struct vcpu *vcpu, const struct boot_info *bi)
{
	const char *step = "CPUID";
	int ret = x86_set_cpuid(vcpu);
	if (ret == 0) {
		step = "MSRs";
		ret = msrs_setup_boot(vcpu->vm->kvm_fd, vcpu->fd);
	}
	if (ret == 0 && vcpu->vm->arch.cpu_template) {
		step = "the CPU template's MSRs";
		ret = cpu_template_apply_msrs(vcpu->vm->arch.cpu_template, vcpu->fd);
	}
	if (ret == 0) {
		step = "FPU";
		ret = regs_setup_fpu(vcpu->fd);
	}
	if (ret == 0) {
		step = "LAPIC";
		ret = regs_setup_lapic(vcpu->fd);
	}
	/* APs keep their reset state and wait for INIT/SIPI from the BSP */
	if (ret == 0 && vcpu->id == 0) {
		step = "registers";
		ret = regs_setup_bsp(vcpu->fd, bi);
	}
	if (ret < 0)
		log_err("vCPU %u: setting %s failed: %s", vcpu->id, step, strerror(-ret));
	return ret;
}

/* ---- CPU templates ---- */

int arch_vm_cpu_template(struct vm *vm, enum cpu_template t, const struct cpu_config *custom, char *err,
                         size_t errlen)
{
	const struct cpu_config *tmpl = custom && custom->set ? custom : cpu_template_static(t);
	if (!tmpl)
		return 0;
	/* a static template was checked against the vendor when it was set;
	 * the host is the same */
	const struct kvm_cpuid2 *sup = x86_supported_cpuid(vm);
	if (!sup)
		return errmsg_set(err, errlen, -EIO, "KVM_GET_SUPPORTED_CPUID failed");
	int ret = cpu_template_check_cpuid(tmpl, sup, err, errlen);
	if (ret == 0)
		ret = cpu_template_check_msrs(tmpl, vm->kvm_fd, err, errlen);
	if (ret == 0)
		vm->arch.cpu_template = tmpl;
	return ret;
}

/* ---- booting ---- */

int arch_load_kernel(const struct guest_mem *gm, const uint8_t *img, size_t len, const char *path,
                     struct boot_info *bi)
{
	int ret = loader_load_kernel(gm, img, len, bi);
	if (ret < 0) {
		log_err("kernel %s: %s", path,
		        ret == -ENOMEM ? "does not fit in guest memory" : "not a loadable ELF or bzImage");
		return ret;
	}
	log_info("kernel %s: %s, entry 0x%llx", path,
	         bi->has_setup_header ? "bzImage, 64-bit boot protocol" :
	         bi->mode == BOOT_PVH ? "ELF, PVH entry" : "ELF, 64-bit entry with boot_params",
	         (unsigned long long)bi->entry);
	return 0;
}

int arch_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	return loader_load_initrd(gm, img, len, bi);
}

/* The MP table is written in both modes: a kernel built without ACPI
 * still finds its CPUs, and one with ACPI ignores it for the MADT. */
int arch_write_boot_tables(const struct vm *vm, const struct boot_info *bi, const char *cmdline,
                           const struct arch_devices *devs)
{
	struct boot_info b = *bi;
	int ret = loader_load_cmdline(&vm->gm, cmdline);
	if (ret == 0)
		ret = mptable_write(&vm->gm, vm->nr_vcpus);
	if (ret == 0 && devs->acpi) {
		ret = acpi_write(&vm->gm, vm->nr_vcpus, devs, &b.rsdp_addr);
		if (ret < 0)
			log_err("ACPI tables: %s", strerror(-ret));
	}
	if (ret == 0)
		ret = bootparams_write(&vm->gm, &b, strlen(cmdline));
	if (ret == 0)
		ret = regs_write_tables(&vm->gm, &b);
	return ret;
}

uint32_t arch_snapshot_id(void)
{
	return SNAP_ARCH_X86_64;
}
