/*
 * remap.S: watch the remap window while the host switches it.
 *
 * Reports on MBOX: 1 when the window shows the flash (the host then
 * switches it to RAM), 2 when it shows RAM_PATTERN (the host switches it
 * back), 3 when it shows the flash again; after 2 and 3, MBOX_DATA carries
 * how many reads the guest made while waiting. While it waits, the guest
 * keeps that count in RAM, at COUNTER for the first wait and COUNTER+4 for
 * the second, so the host can see it spin without an exit. Exit status 0,
 * or 1 after reporting an unexpected value on MBOX_DATA.
 */
	.code32
	.text
	.include "layout.inc"

	.globl _start
_start:
	mov REMAP_BASE, %eax
	cmp $ROM_SIG_LO, %eax
	jne fail
	mov $1, %eax
	mov $MBOX, %dx
	out %eax, %dx

	xor %ecx, %ecx
1:	inc %ecx
	mov %ecx, COUNTER
	mov REMAP_BASE, %eax
	cmp $ROM_SIG_LO, %eax
	je 1b
	cmp $RAM_PATTERN, %eax
	jne fail
	mov %ecx, %eax
	mov $MBOX_DATA, %dx
	out %eax, %dx
	mov $2, %eax
	mov $MBOX, %dx
	out %eax, %dx

	xor %ecx, %ecx
2:	inc %ecx
	mov %ecx, COUNTER + 4
	mov REMAP_BASE, %eax
	cmp $RAM_PATTERN, %eax
	je 2b
	cmp $ROM_SIG_LO, %eax
	jne fail
	mov %ecx, %eax
	mov $MBOX_DATA, %dx
	out %eax, %dx
	mov $3, %eax
	mov $MBOX, %dx
	out %eax, %dx
	xor %eax, %eax
	jmp exit

fail:	mov $MBOX_DATA, %dx
	out %eax, %dx
	mov $1, %eax
exit:	mov $DEBUG_EXIT, %dx
	out %al, %dx
	hlt
