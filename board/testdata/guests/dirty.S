/*
 * dirty.S: write two known sets of RAM pages, waiting for the host between
 * them.
 *
 * First set: pages 0, 3 and 4 (one write across their boundary) and 15 of
 * DIRTY_BASE; then report 1 on MBOX and wait until MBOX reads 2. Second
 * set: page 7 (twice) and page 16; report 2 and wait until MBOX reads 3;
 * exit with status 0.
 */
	.code32
	.text
	.include "layout.inc"

	.globl _start
_start:
	movb $1, DIRTY_BASE
	movl $0x11223344, DIRTY_BASE + 0x3ffe
	movw $5, DIRTY_BASE + 0xf000
	mov $MBOX, %dx
	mov $1, %eax
	out %eax, %dx
1:	in %dx, %eax
	cmp $2, %eax
	jne 1b

	movb $2, DIRTY_BASE + 0x7000
	movb $2, DIRTY_BASE + 0x7fff
	movl $3, DIRTY_BASE + 0x10123
	mov $2, %eax
	out %eax, %dx
2:	in %dx, %eax
	cmp $3, %eax
	jne 2b

	xor %eax, %eax
	mov $DEBUG_EXIT, %dx
	out %al, %dx
	hlt
