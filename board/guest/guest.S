/*
 * guest.S: qmem's test guest. It checks the devices of the test board from
 * the inside, prints what it finds on the UART and reports the number of
 * failed checks through the debug-exit port.
 *
 * Build: ./build.sh (as --32, objcopy -O binary); guest.bin is committed.
 * The layout below is repeated as Go constants in guest.go; a test checks
 * that every .equ here matches its constant.
 *
 * Entry: at LOAD_ADDR in 32-bit protected mode with flat code and data
 * segments already loaded by the host (there is no GDT in memory: never
 * reload a segment register), paging off, interrupts off, ESP = STACK_TOP.
 *
 * The image is a flat binary with no relocations: an absolute address of a
 * label is written LOAD_ADDR + (label - _start), which the assembler resolves.
 *
 * Registers across the program: %ebx = checks passed, %ebp = checks failed.
 * A check leaves %eax = 0 when it passed and calls report.
 */
	.code32
	.text

	.equ LOAD_ADDR,           0x00001000
	.equ STACK_TOP,           0x00080000
	.equ STRING_IO_BUF,       0x00070000

	.equ UART_THR,            0x3f8	/* COM1 transmit holding register */
	.equ UART_LSR,            0x3fd	/* line status register */
	.equ UART_LSR_THRE,       0x20	/* THR empty: ready to take a byte */

	.equ ROM_BASE,            0xffff0000	/* 64 KiB flash, romd mode */
	.equ ROM_SIG_LO,          0x4d454d51	/* "QMEM" */
	.equ ROM_SIG_HI,          0x314d4f52	/* "ROM1" */

	.equ TESTDEV_BASE,        0xfe000000
	.equ TESTDEV_REG_ID,      0x0
	.equ TESTDEV_REG_SCRATCH, 0x4
	.equ TESTDEV_REG_COUNTER, 0x8
	.equ TESTDEV_ID,          0x4d454d51	/* "QMEM" */
	.equ SCRATCH_PATTERN,     0x12345678

	.equ REMAP_BASE,          0x000e0000	/* 64 KiB window */
	.equ REMAP_PORT,          0x5f0
	.equ REMAP_ROM,           0
	.equ REMAP_RAM,           1
	.equ REMAP_PATTERN,       0xa5c3f00f

	.equ UNASSIGNED_PORT,     0x1234
	.equ DEBUG_EXIT_PORT,     0x501

/* PUTS msg: print the NUL-terminated string at label msg. */
.macro PUTS msg
	mov $(LOAD_ADDR + \msg - _start), %esi
	call puts
.endm

/* CHECK name: count and print the check that just set %eax (0: passed). */
.macro CHECK name
	mov $(LOAD_ADDR + \name - _start), %esi
	call report
.endm

	.globl _start
_start:
	cld
	xor %ebx, %ebx
	xor %ebp, %ebp
	PUTS msg_hello

	/* 1: the flash starts with its signature. */
	mov $ROM_BASE, %esi
	call signature_at
	CHECK name_rom

	/* 2: the test device's ID register. */
	mov TESTDEV_BASE + TESTDEV_REG_ID, %eax
	xor $TESTDEV_ID, %eax
	CHECK name_id

	/* 3: the scratch register keeps what was written. */
	movl $SCRATCH_PATTERN, TESTDEV_BASE + TESTDEV_REG_SCRATCH
	mov TESTDEV_BASE + TESTDEV_REG_SCRATCH, %eax
	xor $SCRATCH_PATTERN, %eax
	CHECK name_scratch

	/* 4: the counter register counts its reads: second = first + 1. */
	mov TESTDEV_BASE + TESTDEV_REG_COUNTER, %ecx
	mov TESTDEV_BASE + TESTDEV_REG_COUNTER, %eax
	sub %ecx, %eax
	dec %eax
	CHECK name_counter

	/* 5: writes to the flash in romd mode change nothing. */
	movl $0xdeadbeef, ROM_BASE
	movb $0, ROM_BASE + 4
	mov $ROM_BASE, %esi
	call signature_at
	CHECK name_rom_write

	/* 6: the remap window shows the flash in ROM mode and RAM in RAM mode.
	 * %edi collects the failures of the steps. */
	mov $REMAP_BASE, %esi
	call signature_at
	mov %eax, %edi
	mov $REMAP_PORT, %dx
	mov $REMAP_RAM, %al
	out %al, %dx
	movl $REMAP_PATTERN, REMAP_BASE
	movl $~REMAP_PATTERN, REMAP_BASE + 4
	mov REMAP_BASE, %eax
	xor $REMAP_PATTERN, %eax
	or %eax, %edi
	mov REMAP_BASE + 4, %eax
	xor $~REMAP_PATTERN, %eax
	or %eax, %edi
	mov $REMAP_PORT, %dx
	mov $REMAP_ROM, %al
	out %al, %dx
	mov $REMAP_BASE, %esi
	call signature_at
	or %edi, %eax
	CHECK name_remap

	/* 7: an unassigned port reads all ones, 8 and 32 bits wide. */
	mov $UNASSIGNED_PORT, %dx
	in %dx, %al
	movzbl %al, %ecx
	xor $0xff, %ecx
	in %dx, %eax
	not %eax
	or %ecx, %eax
	CHECK name_unassigned

	/* 8: string I/O: REP INSB of 16 bytes from the unassigned port fills
	 * a zeroed buffer with all ones (KVM batches it: one exit, count > 1). */
	xor %eax, %eax
	mov $STRING_IO_BUF, %edi
	mov $4, %ecx
	rep stosl
	mov $STRING_IO_BUF, %edi
	mov $16, %ecx
	mov $UNASSIGNED_PORT, %dx
	rep insb
	mov STRING_IO_BUF, %eax
	and STRING_IO_BUF + 4, %eax
	and STRING_IO_BUF + 8, %eax
	and STRING_IO_BUF + 12, %eax
	not %eax
	CHECK name_string_io

	/* "guest: N checks passed, M failed", then exit with M. */
	PUTS msg_result
	mov %ebx, %eax
	call print_dec
	PUTS msg_passed
	mov %ebp, %eax
	call print_dec
	PUTS msg_failed
	mov %ebp, %eax
	mov $DEBUG_EXIT_PORT, %dx
	out %al, %dx
1:	hlt			/* the host should have ended the run already */
	jmp 1b

/* signature_at: %eax = 0 if the 8 bytes at %esi are "QMEMROM1".
 * Clobbers %eax. */
signature_at:
	push %ecx
	mov (%esi), %eax
	xor $ROM_SIG_LO, %eax
	mov 4(%esi), %ecx
	xor $ROM_SIG_HI, %ecx
	or %ecx, %eax
	pop %ecx
	ret

/* report: count the check just made and print
 * "guest: check N <name>: ok" or ": FAILED".
 * In: %eax = 0 if it passed, %esi = its name. Updates %ebx or %ebp. */
report:
	push %eax
	push %esi
	PUTS msg_check
	mov %ebx, %eax
	add %ebp, %eax
	inc %eax
	call print_dec
	mov $' ', %al
	call putc
	pop %esi
	call puts
	pop %eax
	test %eax, %eax
	jnz 1f
	inc %ebx
	PUTS msg_ok
	ret
1:	inc %ebp
	PUTS msg_fail
	ret

/* print_dec: print %eax in decimal. Preserves all registers. */
print_dec:
	pusha
	mov $10, %ecx
	xor %edi, %edi
1:	xor %edx, %edx
	div %ecx
	push %edx
	inc %edi
	test %eax, %eax
	jnz 1b
2:	pop %eax
	add $'0', %al
	call putc
	dec %edi
	jnz 2b
	popa
	ret

/* puts: print the NUL-terminated string at %esi. Preserves all registers. */
puts:
	pusha
1:	lodsb
	test %al, %al
	jz 2f
	call putc
	jmp 1b
2:	popa
	ret

/* putc: send %al to the UART once it can take it. Preserves all registers. */
putc:
	push %edx
	push %eax
	mov $UART_LSR, %dx
1:	in %dx, %al
	test $UART_LSR_THRE, %al
	jz 1b
	pop %eax
	mov $UART_THR, %dx
	out %al, %dx
	pop %edx
	ret

msg_hello:	.asciz "guest: hello from qmem's test guest\r\n"
msg_check:	.asciz "guest: check "
msg_ok:		.asciz ": ok\r\n"
msg_fail:	.asciz ": FAILED\r\n"
msg_result:	.asciz "guest: "
msg_passed:	.asciz " checks passed, "
msg_failed:	.asciz " failed\r\n"

name_rom:	.asciz "rom-signature"
name_id:	.asciz "testdev-id"
name_scratch:	.asciz "testdev-scratch"
name_counter:	.asciz "testdev-counter"
name_rom_write:	.asciz "rom-write-ignored"
name_remap:	.asciz "remap-window"
name_unassigned: .asciz "unassigned-port"
name_string_io:	.asciz "string-io"
