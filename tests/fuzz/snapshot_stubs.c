/* The snapshot target links the VM side stubbed (api_stubs.c) and no
 * arch code: the architecture's snapshot id is answered, and KVM's
 * supported CPUID offers every feature bit, so a state file's CPUID
 * passes its check and the fuzzer reaches what follows.
 * Of the device kinds it links blk and rng; the classes of the others are
 * only compared by address (the API and metrics look for them). */
#include <linux/kvm.h>
#include <stdlib.h>

#include "devices/mmds/tcp.h"
#include "devices/virtio/class.h"
#include "vmm/cli.h"
#include "vmm/arch/arch.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/snapshot/format.h"

uint32_t arch_snapshot_id(void) { return SNAP_ARCH_X86_64; }

static const uint32_t feature_leaves[][2] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0x7, 1 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 }, { 0x80000008, 0 },
};
#define NR_LEAVES (sizeof(feature_leaves) / sizeof(feature_leaves[0]))

static union {
	struct kvm_cpuid2 hdr;
	char bytes[sizeof(struct kvm_cpuid2) + NR_LEAVES * sizeof(struct kvm_cpuid_entry2)];
} all_supported;

const struct kvm_cpuid2 *x86_supported_cpuid(struct vm *vm)
{
	(void)vm;
	all_supported.hdr.nent = NR_LEAVES;
	for (size_t i = 0; i < NR_LEAVES; i++)
		all_supported.hdr.entries[i] = (struct kvm_cpuid_entry2){
			.function = feature_leaves[i][0], .index = feature_leaves[i][1],
			.eax = ~0u, .ebx = ~0u, .ecx = ~0u, .edx = ~0u,
		};
	return &all_supported.hdr;
}

/* the restore check also takes the host CPU's own bits (x86_host_cpuid):
 * here the same every-feature table */
const struct kvm_cpuid2 *x86_host_cpuid(struct vm *vm)
{
	return x86_supported_cpuid(vm);
}

/* MMDS is attached only to a created VM */
struct mmds_stack *mmds_stack_new(struct mmds *m, uint32_t ip) { (void)m; (void)ip; abort(); }

const struct virtio_class net_class;
const struct virtio_class vsock_class;
const struct virtio_class balloon_class;
/* the resources list their devices' husk run options (never parsed here) */
const struct cli_opt net_cli_opt;
const struct cli_opt vsock_cli_opt;
const struct cli_opt balloon_cli_opt;
