/* PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) for the virtio-blk test guest:
 * 32-bit protected mode, paging off, %ebx = hvm_start_info. Identity-map
 * the first GiB and 3..4 GiB (uncached, for the virtio-mmio slots at
 * 0xd0001000), enter long mode, call blk_main_pvh(start_info). This build
 * is for QEMU microvm; husk boots start64.S's (64-bit entry). */
	.section .note.Xen, "a"
	.balign 4
	.long 4
	.long 4
	.long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start32

	.section .text.start, "ax"
	.code32
	.globl _start32
_start32:
	cli
	mov %ebx, %esi
	lea bg_pdpt, %eax
	or $0x3, %eax
	mov %eax, bg_pml4
	lea bg_pd_low, %eax
	or $0x3, %eax
	mov %eax, bg_pdpt
	lea bg_pd_high, %eax
	or $0x3, %eax
	mov %eax, bg_pdpt + 24
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax                 /* present, writable, 2 MiB page */
	mov %eax, bg_pd_low(,%ecx,8)
	mov %ecx, %eax
	shl $21, %eax
	add $0xc0000000, %eax
	or $0x9b, %eax                 /* + PWT | PCD: device memory */
	mov %eax, bg_pd_high(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	lea bg_pml4, %eax
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
	lgdt bg_gdt_desc
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
	lea bg_stack_top(%rip), %rsp
	xor %ebp, %ebp
	mov %esi, %edi
	call blk_main_pvh
2:	hlt
	jmp 2b

	.section .rodata
	.balign 8
bg_gdt:
	.quad 0
	.quad 0x00af9a000000ffff       /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff       /* 0x10: data */
bg_gdt_desc:
	.word bg_gdt_desc - bg_gdt - 1
	.long bg_gdt

	.section .note.GNU-stack, "", @progbits
