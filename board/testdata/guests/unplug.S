/*
 * unplug.S: poll the test device's counter while the host unplugs it.
 *
 * While the counter counts (each read one more than the last), report the
 * number of such reads on MBOX every 1024 reads. At the first read that
 * does not count on, report on MBOX_DATA that value, then the number of
 * reads that counted; then read AFTER_READS more times, each of which must
 * give that same value. Exit status: 0 when all held and the value is 0
 * (nothing answers there any more), else the OR of 1 (the value is not 0),
 * 2 (the counter never counted) and 4 (a later read differed).
 */
	.code32
	.text
	.include "layout.inc"

	.globl _start
_start:
	mov $MBOX, %dx
	mov TESTDEV_COUNTER, %ebx
	xor %ecx, %ecx
1:	mov TESTDEV_COUNTER, %eax
	inc %ebx
	cmp %ebx, %eax
	jne 2f
	inc %ecx
	test $0x3ff, %ecx
	jnz 1b
	mov %ecx, %eax
	out %eax, %dx
	jmp 1b

2:	mov %eax, %ebx
	mov $MBOX_DATA, %dx
	out %eax, %dx
	mov %ecx, %eax
	out %eax, %dx
	xor %edi, %edi
	mov $AFTER_READS, %esi
3:	mov TESTDEV_COUNTER, %eax
	cmp %ebx, %eax
	je 4f
	or $4, %edi
4:	dec %esi
	jnz 3b

	test %ebx, %ebx
	jz 5f
	or $1, %edi
5:	test %ecx, %ecx
	jnz 6f
	or $2, %edi
6:	mov %edi, %eax
	mov $DEBUG_EXIT, %dx
	out %al, %dx
	hlt
