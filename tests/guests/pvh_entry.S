/* PVH entry for a guest that stays in 32-bit protected mode, paging off
 * (pvh_hello): %ebx = hvm_start_info; no stack is provided. */
	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov $boot_stack_top, %esp
	push %ebx
	call pvh_main
	jmp guest_halt

	.section .bss.stack, "aw", @nobits
	.balign 16
	.skip 8192
boot_stack_top:
