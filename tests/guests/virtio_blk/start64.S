/* 64-bit entry (an ELF without a PVH note: husk enters it in long mode
 * with %rsi = boot_params and the first GiB identity mapped). Build our
 * own tables that also map 3..4 GiB uncached, where the virtio-mmio slots
 * are, switch to them and call blk_main_linux(boot_params). */
	.section .text.start, "ax"
	.code64
	.globl _start64
_start64:
	cli
	lea bg_stack_top(%rip), %rsp
	mov %rsi, %r12
	lea bg_pdpt(%rip), %rax
	or $0x3, %rax
	mov %rax, bg_pml4(%rip)
	lea bg_pd_low(%rip), %rax
	or $0x3, %rax
	mov %rax, bg_pdpt(%rip)
	lea bg_pd_high(%rip), %rax
	or $0x3, %rax
	mov %rax, bg_pdpt+24(%rip)
	xor %ecx, %ecx
	lea bg_pd_low(%rip), %rdi
	lea bg_pd_high(%rip), %rsi
1:	mov %rcx, %rax
	shl $21, %rax
	or $0x83, %rax                 /* present, writable, 2 MiB page */
	mov %rax, (%rdi,%rcx,8)
	mov %rcx, %rax
	shl $21, %rax
	mov $0xc0000000, %rdx
	add %rdx, %rax
	or $0x9b, %rax                 /* + PWT | PCD: device memory */
	mov %rax, (%rsi,%rcx,8)
	inc %rcx
	cmp $512, %rcx
	jne 1b
	lea bg_pml4(%rip), %rax
	mov %rax, %cr3
	mov %r12, %rdi
	xor %ebp, %ebp
	call blk_main_linux
2:	hlt
	jmp 2b

	.section .note.GNU-stack, "", @progbits
