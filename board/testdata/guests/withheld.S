/*
 * withheld.S: read and increment the RAM word at WITHHELD forever. KVM
 * has no slot there, so every access exits as MMIO; each value read is
 * reported on MBOX.
 */
	.code32
	.text
	.include "layout.inc"

	.globl _start
_start:
	mov $MBOX, %dx
1:	mov WITHHELD, %eax
	out %eax, %dx
	incl WITHHELD
	jmp 1b
