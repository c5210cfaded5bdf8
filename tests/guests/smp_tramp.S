/* AP start-up trampoline. smp_lib.c copies tramp_start..tramp_end to
 * TRAMP_BASE, fills the data words at its end and sends INIT + SIPI with
 * vector TRAMP_BASE >> 12, so each AP starts here in real mode with
 * CS = TRAMP_BASE >> 4, IP = 0. It goes real -> protected -> long mode on
 * the BSP's page tables, takes a stack by index and calls the entry that
 * smp_prepare was given, with that index.
 * All addresses are those of the copy (T()), never of this image. */
#include "smp.h"

#define T(sym) (TRAMP_BASE + ((sym) - tramp_start))
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18

	.section .text.tramp, "ax"
	.balign 16
	.globl tramp_start
tramp_start:
	.code16
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdt_desc - tramp_start)
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $T(tramp_pm)

	.code32
tramp_pm:
	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov T(tramp_cr3), %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PG, %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $T(tramp_lm)

	.code64
tramp_lm:
	mov $1, %eax
	lock xadd %eax, T(tramp_next)
	cmp $(SMP_MAX_CPUS - 1), %eax	/* more APs than stacks: park */
	jae 1f
	mov %eax, %edi			/* entry(index) */
	lea 1(%rax), %rdx
	shl $AP_STACK_SHIFT, %rdx
	add T(tramp_stack_base), %rdx
	mov %rdx, %rsp
	call *T(tramp_entry)
1:	cli
	hlt
	jmp 1b

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: 32-bit code, flat */
	.quad 0x00cf92000000ffff	/* 0x10: data, flat */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long T(tramp_gdt)

	.balign 8
	.globl tramp_cr3, tramp_stack_base, tramp_entry, tramp_next
tramp_cr3:
	.quad 0
tramp_stack_base:
	.quad 0
tramp_entry:
	.quad 0
tramp_next:
	.long 0
	.globl tramp_end
tramp_end:
