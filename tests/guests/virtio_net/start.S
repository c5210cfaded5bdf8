/* PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, paging
 * off, %ebx = hvm_start_info. Build identity page tables for the first
 * GiB and the 3..4 GiB MMIO range (uncached), enter long mode, call
 * guest_main(start_info). The same ELF boots on husk and QEMU microvm. */
	.section .note.Xen, "a"
	.balign 4
	.long 4            /* name size: "Xen\0" */
	.long 4            /* desc size */
	.long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start32

	.section .text.start, "ax"
	.code32
	.globl _start32
_start32:
	cli
	mov %ebx, %esi                 /* keep start_info */
	/* PML4[0] -> PDPT; PDPT[0] -> pd_low; PDPT[3] -> pd_high */
	lea pdpt, %eax
	or $0x3, %eax
	mov %eax, pml4
	lea pd_low, %eax
	or $0x3, %eax
	mov %eax, pdpt
	lea pd_high, %eax
	or $0x3, %eax
	mov %eax, pdpt + 24
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax                 /* present, writable, 2 MiB */
	mov %eax, pd_low(,%ecx,8)
	mov %ecx, %eax
	shl $21, %eax
	add $0xc0000000, %eax
	or $0x9b, %eax                 /* + write-through, cache disable */
	mov %eax, pd_high(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	lea pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                 /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax           /* PG | PE */
	mov %eax, %cr0
	lgdt gdt_desc
	ljmp $0x08, $_start64

	.code64
_start64:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	lea stack_top(%rip), %rsp
	xor %ebp, %ebp
	mov %esi, %edi                 /* guest_main(start_info) */
	call guest_main
2:	hlt
	jmp 2b

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff       /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff       /* 0x10: data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.section .bss
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd_low:	.skip 4096
pd_high: .skip 4096
	.balign 16
	.skip 65536
stack_top:
	.section .note.GNU-stack, "", @progbits
