/* PVH entry for a long-mode guest (so QEMU's -kernel can run it too):
 * from 32-bit protected mode, paging off, %ebx = hvm_start_info, build an
 * identity map of the first 1 GiB (2 MiB pages, in .bss, like the VMM's),
 * enter long mode and call guest_start64(0, start_info). */
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define PTE_P_RW 0x3
#define PTE_PS 0x80
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov %ebx, %esi
	mov $boot_stack_top, %esp

	/* clear PML4 and PDPT (adjacent), then fill the PD */
	mov $pvh_pml4, %edi
	xor %eax, %eax
	mov $2048, %ecx
	rep stosl
	mov $pvh_pd, %edi
	mov $(PTE_P_RW | PTE_PS), %eax
	mov $512, %ecx
1:	mov %eax, (%edi)
	movl $0, 4(%edi)
	add $0x200000, %eax
	add $8, %edi
	loop 1b
	movl $(pvh_pdpt + PTE_P_RW), pvh_pml4
	movl $(pvh_pd + PTE_P_RW), pvh_pdpt

	mov $pvh_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	lgdt pvh_gdt_desc
	mov %cr0, %eax
	or $(CR0_PE | CR0_PG), %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $2f

	.code64
2:	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	xor %edi, %edi			/* no boot_params */
	mov %esi, %esi			/* start_info, zero-extended */
	call guest_start64
	jmp guest_halt

	.section .rodata
	.balign 8
pvh_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: 32-bit code, flat */
	.quad 0x00cf92000000ffff	/* 0x10: data, flat */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code */
pvh_gdt_desc:
	.word pvh_gdt_desc - pvh_gdt - 1
	.long pvh_gdt

	.section .bss.pagetables, "aw", @nobits
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4096

	.section .bss.stack, "aw", @nobits
	.balign 16
	.skip 16384
boot_stack_top:
