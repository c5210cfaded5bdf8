/* The aarch64 snapshot sections as a hostile file could carry them: the
 * checks that run before anything is applied to KVM. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"
#include <linux/kvm.h>

#include "vmm/arch/arch.h"
#include "vmm/snapshot/format.h"

struct one_reg { uint64_t id; uint8_t value[16]; };       /* vcpu_state.c's */
struct vgic_reg { uint32_t group, pad; uint64_t attr, value; }; /* vm_state.c's */

#define PC_ID (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | 0x40)

static struct snap_file f;
static struct snap_writer w;

/* A file of the sections given (type, data, len), parsed into f. */
static void build(uint32_t type, const void *data, size_t len, bool with_mp_state)
{
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	char err[128];
	snap_writer_init(&w);
	if (with_mp_state)
		assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU_MP_STATE, 0, &mp, sizeof(mp)), 0);
	assert_int_equal(snap_writer_add(&w, type, 0, data, len), 0);
	assert_int_equal(snap_writer_finish(&w, SNAP_ARCH_AARCH64, "t"), 0);
	assert_int_equal(snap_parse(w.buf, w.len, SNAP_ARCH_AARCH64, &f, err, sizeof(err)), 0);
}

static int teardown(void **state)
{
	(void)state;
	snap_file_free(&f);
	free(w.buf);
	w.buf = NULL;
	return 0;
}

static void test_vcpu_registers_accepted(void **state)
{
	(void)state;
	char err[128] = "";
	struct one_reg regs[2] = { { .id = PC_ID }, { .id = PC_ID + 2 } };
	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs), true);
	assert_int_equal(vcpu_state_check(NULL, &f, 0, err, sizeof(err)), 0);
	/* vCPU 1 has nothing in this file */
	assert_int_equal(vcpu_state_check(NULL, &f, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vCPU 1"));
}

static void test_vcpu_registers_refused(void **state)
{
	(void)state;
	char err[128] = "";
	struct one_reg regs[2] = { { .id = PC_ID }, { .id = 0x4000000000000000ULL } }; /* x86's prefix */
	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs), true);
	assert_int_equal(vcpu_state_check(NULL, &f, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an aarch64 one"));
	teardown(NULL);

	regs[1].id = KVM_REG_ARM64 | KVM_REG_SIZE_U2048; /* wider than the 16 bytes saved */
	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs), true);
	assert_int_equal(vcpu_state_check(NULL, &f, 0, err, sizeof(err)), -EINVAL);
	teardown(NULL);

	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs) - 1, true); /* not whole entries */
	assert_int_equal(vcpu_state_check(NULL, &f, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "malformed"));
	teardown(NULL);

	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs), false); /* no power state */
	assert_int_equal(vcpu_state_check(NULL, &f, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "power state"));
}

static void test_vgic_state(void **state)
{
	(void)state;
	char err[128] = "";
	struct vgic_reg regs[2] = { { .group = KVM_DEV_ARM_VGIC_GRP_DIST_REGS },
	                            { .group = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS } };
	build(SNAP_SEC_VM_VGIC_V3, regs, sizeof(regs), false);
	assert_int_equal(vm_state_check(&f, err, sizeof(err)), 0);
	teardown(NULL);

	regs[1].group = KVM_DEV_ARM_VGIC_GRP_CTRL; /* not state: CTRL_INIT and friends */
	build(SNAP_SEC_VM_VGIC_V3, regs, sizeof(regs), false);
	assert_int_equal(vm_state_check(&f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "attribute group"));
	teardown(NULL);

	build(SNAP_SEC_VCPU_ONE_REGS, regs, sizeof(regs), false); /* no GIC section at all */
	assert_int_equal(vm_state_check(&f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "GICv3 state missing"));
}

UNIT_TEST_MAIN(
	cmocka_unit_test_teardown(test_vcpu_registers_accepted, teardown),
	cmocka_unit_test_teardown(test_vcpu_registers_refused, teardown),
	cmocka_unit_test_teardown(test_vgic_state, teardown))
