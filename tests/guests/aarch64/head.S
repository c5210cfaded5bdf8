/* The arm64 Image header (Documentation/arch/arm64/booting.rst) husk's
 * loader checks, then the entry: x0 holds the FDT's address. Each vCPU
 * gets a 64 KiB stack by its index (the boot vCPU 0; a secondary gets its
 * index as PSCI CPU_ON's context id, in x0 too). */
	.section .text.head, "ax"
	.globl _start
_start:
	b	boot_entry		/* code0 */
	.long	0			/* code1 */
	.quad	0			/* text_offset */
	.quad	_image_end - _start	/* image_size */
	.quad	0xa			/* flags: little-endian, 4 KiB pages, anywhere */
	.quad	0, 0, 0			/* res2..res4 */
	.ascii	"ARM\x64"		/* magic */
	.long	0			/* res5 */

boot_entry:
	mov	x1, #0
	bl	set_stack
	bl	guest_main		/* x0: the FDT */
	b	hang

	.globl	secondary_entry
secondary_entry:
	mov	x1, x0
	bl	set_stack
	bl	secondary_main		/* x0: the vCPU index */
hang:
	wfi
	b	hang

/* sp = stacks_top - index * 64 KiB (x1: index; x0 kept) */
set_stack:
	ldr	x2, =stacks_top
	lsl	x1, x1, #16
	sub	x2, x2, x1
	mov	sp, x2
	ret
