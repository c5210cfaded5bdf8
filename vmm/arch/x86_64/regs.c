/* regs: boot register state for the two entry modes of boot.h. */
#include "vmm/arch/x86_64/regs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/arch/x86_64/layout.h"

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

/* GDT slots: null, code, data, tss; the selector is slot * 8. */
enum { GDT_NULL, GDT_CODE, GDT_DATA, GDT_TSS, GDT_ENTRIES };

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

static struct kvm_segment segment_from_gdt(uint64_t e, unsigned slot)
{
	return (struct kvm_segment){
		.base = ((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000),
		.limit = (uint32_t)(((e >> 32) & 0xf0000) | (e & 0xffff)),
		.selector = (uint16_t)(slot * 8),
		.type = (e >> 40) & 0xf,
		.present = (e >> 47) & 1,
		.dpl = (e >> 45) & 3,
		.db = (e >> 54) & 1,
		.s = (e >> 44) & 1,
		.l = (e >> 53) & 1,
		.g = (e >> 55) & 1,
		.avl = (e >> 52) & 1,
	};
}

/* flags: G(15) DB(14) L(13) | P(7) DPL(6:5) S(4) TYPE(3:0) */
static void gdt_build(uint64_t gdt[GDT_ENTRIES], bool long_mode)
{
	gdt[GDT_NULL] = 0;
	gdt[GDT_CODE] = long_mode ? gdt_entry(0xa09b, 0, 0xfffff) : gdt_entry(0xc09b, 0, 0xfffff);
	gdt[GDT_DATA] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[GDT_TSS] = gdt_entry(0x808b, 0, 0xfffff);
}

static int regs_write_gdt(const struct guest_mem *gm, bool long_mode)
{
	uint64_t gdt[GDT_ENTRIES];
	gdt_build(gdt, long_mode);
	return gm_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
}

int regs_write_tables(const struct guest_mem *gm, const struct boot_info *bi)
{
	uint64_t *pml4 = gm_ptr(gm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gm_ptr(gm, LAYOUT_PDPT, 4096);
	uint64_t *pd = gm_ptr(gm, LAYOUT_PD, 4096);
	uint64_t *idt = gm_ptr(gm, LAYOUT_IDT, 8);
	if (!pml4 || !pdpt || !pd || !idt)
		return -ENOMEM;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* identity map the first 1 GiB with 2 MiB pages: enough to reach the
	 * kernel, boot_params and cmdline; the kernel builds its own tables */
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	pdpt[0] = LAYOUT_PD | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	*idt = 0;
	return regs_write_gdt(gm, bi->mode == BOOT_LINUX64);
}

static int regs_setup_sregs(int vcpu_fd, bool long_mode)
{
	struct kvm_sregs sregs;
	uint64_t gdt[GDT_ENTRIES];
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	gdt_build(gdt, long_mode);
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = LAYOUT_IDT;
	sregs.idt.limit = 7;
	sregs.cs = segment_from_gdt(gdt[GDT_CODE], GDT_CODE);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		segment_from_gdt(gdt[GDT_DATA], GDT_DATA);
	sregs.tr = segment_from_gdt(gdt[GDT_TSS], GDT_TSS);
	if (long_mode) {
		sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	} else {
		/* PVH: 32-bit protected mode, paging off */
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	return ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0 ? -errno : 0;
}

int regs_setup_bsp(int vcpu_fd, const struct boot_info *bi)
{
	bool long_mode = bi->mode == BOOT_LINUX64;
	int ret = regs_setup_sregs(vcpu_fd, long_mode);
	if (ret < 0)
		return ret;
	struct kvm_regs regs = {
		.rflags = 0x2,
		.rip = bi->entry,
		.rsp = LAYOUT_BOOT_STACK,
		.rbp = LAYOUT_BOOT_STACK,
	};
	if (long_mode)
		regs.rsi = LAYOUT_ZERO_PAGE;
	else
		regs.rbx = LAYOUT_PVH_START_INFO;
	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

int regs_setup_fpu(int vcpu_fd)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	return ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_delivery(struct kvm_lapic_state *l, int reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&l->regs[reg], &v, 4);
}

int regs_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state l;
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	lapic_set_delivery(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_delivery(&l, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(vcpu_fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}
