/* The page tables and the stack of both entries (start.S, start64.S): the
 * first GiB identity mapped and 3..4 GiB uncached, filled in by the entry. */
	.globl bg_pml4, bg_pdpt, bg_pd_low, bg_pd_high, bg_stack_top
	.section .bss
	.balign 4096
bg_pml4:	.skip 4096
bg_pdpt:	.skip 4096
bg_pd_low:	.skip 4096
bg_pd_high:	.skip 4096
	.balign 16
	.skip 32768
bg_stack_top:
	.section .note.GNU-stack, "", @progbits
