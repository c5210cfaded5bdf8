/* Two entries, one guest. net_guest.elf: PVH (XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, paging
 * off, %ebx = hvm_start_info. Build identity page tables for the first
 * GiB and the 3..4 GiB MMIO range (uncached), enter long mode, call
 * guest_main(start_info, 0); QEMU microvm boots this one. net_guest64.elf:
 * the Linux 64-bit entry below, guest_main(0, boot_params). */
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
	cld
	mov %ebx, %esi                 /* keep start_info */
	/* page tables: PML4 -> PDPT -> pd_low (0..1 GiB), pd_high (3..4 GiB);
	 * simple addressing only: PVM emulates this code */
	mov $pml4, %edi
	xor %eax, %eax
	mov $(4 * 1024), %ecx          /* four zeroed pages */
	rep stosl
	mov $pd_low, %edi
	mov $0x83, %eax                /* present, writable, 2 MiB */
	mov $512, %ecx
1:	mov %eax, (%edi)
	add $0x200000, %eax
	add $8, %edi
	loop 1b
	mov $pd_high, %edi
	mov $(0xc0000000 | 0x9b), %eax /* + write-through, cache disable */
	mov $512, %ecx
2:	mov %eax, (%edi)
	add $0x200000, %eax
	add $8, %edi
	loop 2b
	movl $(pdpt + 3), pml4
	movl $(pd_low + 3), pdpt
	movl $(pd_high + 3), pdpt + 24
	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                 /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	lgdt gdt_desc
	mov %cr0, %eax
	or $0x80000001, %eax           /* PG | PE */
	mov %eax, %cr0
	ljmp $0x18, $_start64

	/* Linux 64-bit entry (no PVH note; net_guest64.elf): long mode on
	 * the VMM's 1 GiB identity map, %rsi = boot_params. Build the same
	 * tables as above (they also map the MMIO gap) and switch to them. */
	.code64
	.globl _start64_linux
_start64_linux:
	cli
	cld
	mov %rsi, %r12                 /* boot_params */
	lea pml4(%rip), %rdi
	xor %eax, %eax
	mov $(4 * 1024), %ecx
	rep stosl
	lea pd_low(%rip), %rdi
	mov $0x83, %eax
	mov $512, %ecx
3:	mov %rax, (%rdi)
	add $0x200000, %rax
	add $8, %rdi
	loop 3b
	lea pd_high(%rip), %rdi
	mov $(0xc0000000 | 0x9b), %eax
	mov $512, %ecx
4:	mov %rax, (%rdi)
	add $0x200000, %rax
	add $8, %rdi
	loop 4b
	lea pdpt(%rip), %rax
	or $3, %rax
	mov %rax, pml4(%rip)
	lea pd_low(%rip), %rax
	or $3, %rax
	mov %rax, pdpt(%rip)
	lea pd_high(%rip), %rax
	or $3, %rax
	mov %rax, pdpt + 24(%rip)
	lea pml4(%rip), %rax
	mov %rax, %cr3
	lea stack_top(%rip), %rsp
	xor %ebp, %ebp
	xor %edi, %edi                 /* no start_info */
	mov %r12, %rsi
	call guest_main
5:	hlt
	jmp 5b

_start64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	lea stack_top(%rip), %rsp
	xor %ebp, %ebp
	mov %esi, %edi                 /* guest_main(start_info, 0) */
	xor %esi, %esi
	call guest_main
2:	hlt
	jmp 2b

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff       /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff       /* 0x10: data */
	.quad 0x00af9a000000ffff       /* 0x18: 64-bit code */
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
