/*
 * count.S: count in RAM at COUNTER forever, without exits.
 */
	.code32
	.text
	.include "layout.inc"

	.globl _start
_start:
1:	incl COUNTER
	jmp 1b
