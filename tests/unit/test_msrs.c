/* msrs_take_tsc_deadline: how a snapshot's MSR list is made ready for
 * KVM_SET_MSRS (vcpu_state.c sets the rest first, then the deadline). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>
#include <linux/kvm.h>

#include "unit_main.h"

#include "vmm/arch/x86_64/regs.h"

#define TSC 0x10
#define TSC_DEADLINE 0x6e0
#define STAR 0xc0000081
#define LSTAR 0xc0000082

static struct kvm_msrs *msrs(uint32_t n, const struct kvm_msr_entry *e)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	m->nmsrs = n;
	for (uint32_t i = 0; i < n; i++)
		m->entries[i] = e[i];
	return m;
}

/* The deadline leaves the list, which keeps its order, and keeps its value. */
static void test_armed_deadline_is_taken_out_in_order(void **state)
{
	(void)state;
	struct kvm_msrs *m = msrs(4, (struct kvm_msr_entry[]){
		{ .index = STAR, .data = 1 }, { .index = TSC_DEADLINE, .data = 5000 },
		{ .index = TSC, .data = 4000 }, { .index = LSTAR, .data = 2 } });
	struct kvm_msr_entry d = { 0 };
	assert_true(msrs_take_tsc_deadline(m, &d));
	assert_int_equal(d.index, TSC_DEADLINE);
	assert_int_equal(d.data, 5000);
	assert_int_equal(m->nmsrs, 3);
	assert_int_equal(m->entries[0].index, STAR);
	assert_int_equal(m->entries[1].index, TSC);
	assert_int_equal(m->entries[2].index, LSTAR);
	assert_int_equal(m->entries[2].data, 2);
	free(m);
}

/* A cleared deadline comes back as the saved TSC: the timer fires at once. */
static void test_zero_deadline_becomes_the_saved_tsc(void **state)
{
	(void)state;
	struct kvm_msrs *m = msrs(3, (struct kvm_msr_entry[]){
		{ .index = TSC_DEADLINE, .data = 0 }, { .index = STAR, .data = 1 },
		{ .index = TSC, .data = 0x123456789 } });
	struct kvm_msr_entry d = { 0 };
	assert_true(msrs_take_tsc_deadline(m, &d));
	assert_int_equal(d.data, 0x123456789);
	assert_int_equal(m->nmsrs, 2);
	assert_int_equal(m->entries[0].index, STAR);
	free(m);
}

/* No deadline in the list: nothing taken, nothing changed. */
static void test_list_without_deadline_is_left_alone(void **state)
{
	(void)state;
	struct kvm_msrs *m = msrs(2, (struct kvm_msr_entry[]){
		{ .index = TSC, .data = 7 }, { .index = STAR, .data = 1 } });
	struct kvm_msr_entry d = { .index = 99, .data = 42 };
	assert_false(msrs_take_tsc_deadline(m, &d));
	assert_int_equal(m->nmsrs, 2);
	assert_int_equal(d.data, 42);
	free(m);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_armed_deadline_is_taken_out_in_order),
	cmocka_unit_test(test_zero_deadline_becomes_the_saved_tsc),
	cmocka_unit_test(test_list_without_deadline_is_left_alone))
