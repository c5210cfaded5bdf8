/* snapshot_counter: a 16-bit real-mode guest, loaded flat at 0x1000, that
 * counts in guest memory (the 32-bit word at 0x5000) and prints every
 * value on COM1 as "c=XXXXXXXX\n" (hex). The count lives only in guest
 * RAM, so after a restore the first line printed proves the memory and
 * the registers came back: it must be the last line before the snapshot
 * plus one. */
	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw $0x3f8, %dx
next:
	incl 0x5000
	movl 0x5000, %ebx
	movb $'c', %al
	outb %al, %dx
	movb $'=', %al
	outb %al, %dx
	movw $8, %cx
digit:
	roll $4, %ebx
	movb %bl, %al
	andb $0xf, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 1f
	addb $7, %al
1:	outb %al, %dx
	loop digit
	movb $'\n', %al
	outb %al, %dx
	jmp next
