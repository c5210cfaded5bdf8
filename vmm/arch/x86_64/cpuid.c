/* cpuid: per-vCPU view of the CPUID leaves KVM supports. KVM reports the
 * host's values; a guest must instead see its own APIC id, a topology that
 * matches the number of vCPUs (or Linux miscounts cores and packages), and
 * the hypervisor bit. */
#include <errno.h>

#include "vmm/arch/x86_64/cpuid.h"

#define LEAF_FEATURES 0x1
#define LEAF_CACHE 0x4
#define LEAF_TOPOLOGY 0xb
#define LEAF_TOPOLOGY_V2 0x1f
#define LEAF_AMD_SIZES 0x80000008

#define ECX_HYPERVISOR (1u << 31)
#define EDX_HTT (1u << 28)

#define TOPO_LEVEL_SMT 1
#define TOPO_LEVEL_CORE 2

/* Bits needed to number n things: ceil(log2(n)). */
static unsigned order_of(unsigned n)
{
	unsigned bits = 0;
	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void fix_features(struct kvm_cpuid_entry2 *e, unsigned id, unsigned nr)
{
	/* EBX: [31:24] initial APIC id, [23:16] logical processors per package */
	e->ebx = (e->ebx & 0xffff) | (id << 24) | ((nr > 255 ? 255 : nr) << 16);
	e->ecx |= ECX_HYPERVISOR;
	if (nr > 1)
		e->edx |= EDX_HTT;
	else
		e->edx &= ~EDX_HTT;
}

static void fix_cache(struct kvm_cpuid_entry2 *e, unsigned nr, unsigned threads_per_core)
{
	unsigned level = (e->eax >> 5) & 0x7;
	if ((e->eax & 0x1f) == 0)
		return; /* no cache at this index */
	unsigned sharing = level >= 3 ? nr : threads_per_core;
	unsigned cores = (nr + threads_per_core - 1) / threads_per_core;
	e->eax &= 0x3fff; /* keep type, level, self-init, associativity */
	e->eax |= ((sharing - 1) & 0xfff) << 14;
	e->eax |= ((cores - 1) & 0x3f) << 26;
}

static void fix_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned nr, unsigned threads_per_core)
{
	unsigned shift_smt = order_of(threads_per_core);
	e->edx = id; /* x2APIC id, every subleaf */
	switch (e->index) {
	case 0:
		e->eax = shift_smt;
		e->ebx = threads_per_core;
		e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
		break;
	case 1:
		e->eax = order_of(nr) > shift_smt ? order_of(nr) : shift_smt;
		e->ebx = nr;
		e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index & 0xff; /* level type 0: invalid, ends the walk */
		break;
	}
}

int cpuid_normalize(struct kvm_cpuid2 *cpuid, unsigned vcpu_id, unsigned nr_vcpus, bool smt)
{
	if (!cpuid || nr_vcpus == 0 || nr_vcpus > 255 || vcpu_id >= nr_vcpus)
		return -EINVAL;
	unsigned tpc = smt && nr_vcpus > 1 ? 2 : 1;

	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case LEAF_FEATURES:
			fix_features(e, vcpu_id, nr_vcpus);
			break;
		case LEAF_CACHE:
			fix_cache(e, nr_vcpus, tpc);
			break;
		case LEAF_TOPOLOGY:
		case LEAF_TOPOLOGY_V2:
			fix_topology(e, vcpu_id, nr_vcpus, tpc);
			break;
		case LEAF_AMD_SIZES:
			/* ECX[7:0]: physical cores - 1; [15:12]: APIC id bits */
			e->ecx = (e->ecx & ~0xf0ffu) | ((nr_vcpus - 1) & 0xff) | (order_of(nr_vcpus) << 12);
			break;
		default:
			break;
		}
	}
	return 0;
}
