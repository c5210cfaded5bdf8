/* fdt: the guest's device tree (Documentation/devicetree/bindings). Each
 * node has its own small writer; the root calls them in order. */
#include "vmm/arch/aarch64/fdt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libfdt.h>

#include "vmm/arch/aarch64/gic.h"

/* interrupt specifier cells (bindings/interrupt-controller/arm,gic*.yaml) */
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_EDGE_RISING 1
#define IRQ_LEVEL_HIGH 4
/* the arch timer's PPIs: secure, non-secure, virtual, hypervisor */
static const uint32_t timer_ppis[] = { 13, 14, 11, 10 };
#define GIC_MAINTENANCE_PPI 9

/* A failed libfdt call ends the build; every writer returns through it. */
#define TRY(call)                                     \
	do {                                          \
		int err_ = (call);                    \
		if (err_ < 0)                         \
			return err_;                  \
	} while (0)

uint64_t fdt_vcpu_mpidr(unsigned id)
{
	/* KVM's reset MPIDR: 16 vCPUs per Aff0 cluster, then Aff1, Aff2 */
	return (id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8 | (uint64_t)((id >> 12) & 0xff) << 16;
}

static int fdt_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int fdt_irq(void *fdt, uint32_t type, uint32_t nr, uint32_t flags)
{
	fdt32_t irq[3] = { cpu_to_fdt32(type), cpu_to_fdt32(nr), cpu_to_fdt32(flags) };
	return fdt_property(fdt, "interrupts", irq, sizeof(irq));
}

static int fdt_begin_at(void *fdt, const char *name, uint64_t addr)
{
	char node[64];
	snprintf(node, sizeof(node), "%s@%llx", name, (unsigned long long)addr);
	return fdt_begin_node(fdt, node);
}

static int fdt_chosen(void *fdt, const struct fdt_machine *m)
{
	char stdout_path[64];
	snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx", LAYOUT_SERIAL_MMIO);
	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", m->cmdline));
	TRY(fdt_property_string(fdt, "stdout-path", stdout_path));
	if (m->initrd_size) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", m->initrd_addr));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", m->initrd_addr + m->initrd_size));
	}
	return fdt_end_node(fdt);
}

static int fdt_memory(void *fdt, const struct fdt_machine *m)
{
	TRY(fdt_begin_at(fdt, "memory", LAYOUT_RAM_BASE));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(fdt_reg(fdt, LAYOUT_RAM_BASE, m->ram_size));
	return fdt_end_node(fdt);
}

static int fdt_cpus(void *fdt, const struct fdt_machine *m)
{
	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned i = 0; i < m->nr_vcpus; i++) {
		uint64_t mpidr = fdt_vcpu_mpidr(i);
		TRY(fdt_begin_at(fdt, "cpu", mpidr));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_string(fdt, "compatible", "arm,arm-v8"));
		/* secondaries start powered off; the guest wakes them by CPU_ON */
		TRY(fdt_property_string(fdt, "enable-method", "psci"));
		TRY(fdt_property_u32(fdt, "reg", (uint32_t)mpidr));
		TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int fdt_psci(void *fdt)
{
	/* KVM implements PSCI 0.2+ in the kernel (KVM_ARM_VCPU_PSCI_0_2),
	 * reached with HVC */
	static const char compat[] = "arm,psci-0.2\0arm,psci";
	TRY(fdt_begin_node(fdt, "psci"));
	TRY(fdt_property(fdt, "compatible", compat, sizeof(compat)));
	TRY(fdt_property_string(fdt, "method", "hvc"));
	return fdt_end_node(fdt);
}

static int fdt_gic(void *fdt, const struct fdt_machine *m)
{
	TRY(fdt_begin_at(fdt, "intc", LAYOUT_GIC_DIST));
	if (m->gic_version == 3) {
		fdt64_t reg[4] = { cpu_to_fdt64(LAYOUT_GIC_DIST), cpu_to_fdt64(LAYOUT_GIC_DIST_SIZE),
		                   cpu_to_fdt64(gic_redist_base(m->nr_vcpus)),
		                   cpu_to_fdt64(m->nr_vcpus * LAYOUT_GIC_REDIST_SIZE) };
		TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
		TRY(fdt_irq(fdt, GIC_PPI, GIC_MAINTENANCE_PPI, IRQ_LEVEL_HIGH));
	} else {
		fdt64_t reg[4] = { cpu_to_fdt64(LAYOUT_GIC_DIST), cpu_to_fdt64(LAYOUT_GIC_V2_DIST_SIZE),
		                   cpu_to_fdt64(LAYOUT_GIC_V2_CPU), cpu_to_fdt64(LAYOUT_GIC_V2_CPU_SIZE) };
		TRY(fdt_property_string(fdt, "compatible", "arm,cortex-a15-gic"));
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	}
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(fdt_property_u32(fdt, "phandle", FDT_GIC_PHANDLE));
	return fdt_end_node(fdt);
}

static int fdt_timer(void *fdt, const struct fdt_machine *m)
{
	/* GICv2 PPIs name the CPUs they reach in bits 8..15 */
	uint32_t cpus = m->gic_version == 2 ? ((1u << (m->nr_vcpus > 8 ? 8 : m->nr_vcpus)) - 1) << 8 : 0;
	fdt32_t irqs[3 * 4];
	for (unsigned i = 0; i < 4; i++) {
		irqs[3 * i] = cpu_to_fdt32(GIC_PPI);
		irqs[3 * i + 1] = cpu_to_fdt32(timer_ppis[i]);
		irqs[3 * i + 2] = cpu_to_fdt32(IRQ_LEVEL_HIGH | cpus);
	}
	TRY(fdt_begin_node(fdt, "timer"));
	TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	TRY(fdt_property(fdt, "always-on", NULL, 0));
	TRY(fdt_property(fdt, "interrupts", irqs, sizeof(irqs)));
	return fdt_end_node(fdt);
}

/* husk's 16550 model (devices/serial.c), byte registers on MMIO. Its
 * interrupt is an irqfd pulse, so edge-triggered, as every SPI here. */
static int fdt_serial(void *fdt)
{
	TRY(fdt_begin_at(fdt, "uart", LAYOUT_SERIAL_MMIO));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	TRY(fdt_reg(fdt, LAYOUT_SERIAL_MMIO, LAYOUT_SERIAL_SIZE));
	TRY(fdt_property_u32(fdt, "clock-frequency", LAYOUT_SERIAL_CLOCK));
	TRY(fdt_irq(fdt, GIC_SPI, LAYOUT_COM1_IRQ, IRQ_EDGE_RISING));
	return fdt_end_node(fdt);
}

static int fdt_mmio_dev(void *fdt, const char *name, const char *compat, const struct arch_mmio_dev *d)
{
	TRY(fdt_begin_at(fdt, name, d->base));
	TRY(fdt_property_string(fdt, "compatible", compat));
	TRY(fdt_reg(fdt, d->base, d->size));
	TRY(fdt_irq(fdt, GIC_SPI, d->gsi, IRQ_EDGE_RISING));
	/* virtio rings are in ordinary cacheable RAM */
	TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	return fdt_end_node(fdt);
}

static int fdt_devices(void *fdt, const struct arch_devices *devs)
{
	for (unsigned i = 0; i < devs->nr_virtio; i++)
		TRY(fdt_mmio_dev(fdt, "virtio_mmio", "virtio,mmio", &devs->virtio[i]));
	if (devs->vmgenid.size)
		TRY(fdt_mmio_dev(fdt, "vmgenid", "microsoft,vmgenid", &devs->vmgenid));
	return 0;
}

static int fdt_root(void *fdt, const struct fdt_machine *m)
{
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	TRY(fdt_property_string(fdt, "model", "husk"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_u32(fdt, "interrupt-parent", FDT_GIC_PHANDLE));
	TRY(fdt_chosen(fdt, m));
	TRY(fdt_memory(fdt, m));
	TRY(fdt_cpus(fdt, m));
	TRY(fdt_psci(fdt));
	TRY(fdt_gic(fdt, m));
	TRY(fdt_timer(fdt, m));
	TRY(fdt_serial(fdt));
	TRY(fdt_devices(fdt, m->devs));
	return fdt_end_node(fdt);
}

int fdt_build(void *buf, size_t size, const struct fdt_machine *m)
{
	if (size > INT32_MAX || m->nr_vcpus == 0)
		return -EINVAL;
	int err = fdt_create(buf, (int)size);
	if (err == 0)
		err = fdt_finish_reservemap(buf);
	if (err == 0)
		err = fdt_root(buf, m);
	if (err == 0)
		err = fdt_finish(buf);
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err < 0 ? -EINVAL : 0;
}
