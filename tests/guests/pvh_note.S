/* The ELF note that makes a VMM (husk, QEMU, Firecracker) enter _start in
 * 32-bit protected mode with %ebx = hvm_start_info (Xen PVH boot ABI).
 * The descriptor is the 4-byte physical entry address. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz: "Xen\0" */
	.long 4				/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.long _start
	.balign 4
