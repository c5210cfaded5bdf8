/* Entry in 64-bit long mode (ELF without a PVH note): the VMM's identity
 * map covers the first GiB; main maps the MMIO gap itself. */
	.section .text.start, "ax"
	.globl _start
	.code64
_start:
	cli
	lea stack_top(%rip), %rsp
	xor %ebp, %ebp
	call guest_main
1:	hlt
	jmp 1b

	.section .bss
	.balign 16
	.skip 65536
stack_top:
	.section .note.GNU-stack, "", @progbits
