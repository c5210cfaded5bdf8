/* Linux 64-bit boot entry: long mode, the VMM's identity map of the first
 * 1 GiB, %rsi = boot_params (zero page). */
	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	cli
	cld
	mov $boot_stack_top, %rsp
	mov %rsi, %rdi			/* boot_params */
	xor %esi, %esi			/* no start_info */
	call guest_start64
	jmp guest_halt

	.section .bss.stack, "aw", @nobits
	.balign 16
	.skip 16384
boot_stack_top:
