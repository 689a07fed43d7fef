// Package guest holds qmem's test guest: a small x86 program that checks the
// test board's devices from the inside, prints what it finds on the UART and
// reports the number of failed checks through the debug-exit port.
//
// The program is written in guest.S (GNU assembler) and committed assembled
// as guest.bin, a flat binary, so that building qmem needs no assembler;
// build.sh rebuilds it and a test checks that the two agree. The constants
// below are the board layout the guest expects; the same values appear as
// .equ lines in guest.S, which a test compares with these.
//
// # Running it
//
// Map RAM at [RAMBase, RAMBase+RAMSize), copy Image() to LoadAddr, and start
// one vCPU at LoadAddr in 32-bit protected mode with flat segments
// (kvm.VCPU.SetProtectedMode) and ESP = StackTop. The guest then
//
//  1. prints "guest: hello from qmem's test guest" on the UART;
//  2. runs Checks checks, printing "guest: check N <name>: ok" (or
//     ": FAILED") for each, in this order:
//     rom-signature (the 8 bytes at ROMBase are ROMSignature),
//     testdev-id (the test device's ID register reads TestDevID),
//     testdev-scratch (the scratch register keeps ScratchPattern),
//     testdev-counter (two reads of the counter differ by 1),
//     rom-write-ignored (writes to ROMBase leave the signature),
//     remap-window (the window at RemapBase shows the ROM's first bytes
//     in ROM mode, keeps a written pattern in RAM mode, and the ROM again
//     after switching back, through RemapPort),
//     unassigned-port (8- and 32-bit reads of UnassignedPort are all ones),
//     string-io (REP INSB of 16 bytes from UnassignedPort into
//     StringIOBuf yields all ones);
//  3. prints ResultLine(passed, failed);
//  4. writes the number of failures (8 bits) to DebugExitPort, which should
//     end the run with that status, and halts in case it does not.
//
// The UART is a 16550A at UARTBase: the guest polls the line status
// register's THR-empty bit before each byte it writes to the THR.
package guest

import (
	_ "embed"
	"fmt"
)

//go:embed guest.bin
var image string

// Image returns a copy of the guest program, a flat binary to load at
// LoadAddr.
func Image() []byte { return []byte(image) }

// Memory layout (guest-physical addresses).
const (
	RAMBase     = 0x00000000
	RAMSize     = 16 << 20   // RAM: 0x0 - 0x00ffffff
	LoadAddr    = 0x00001000 // the program is loaded and entered here
	StackTop    = 0x00080000 // initial ESP
	StringIOBuf = 0x00070000 // 16 bytes of RAM the string-io check fills

	ROMBase      = 0xffff0000 // 64 KiB flash, read in romd mode
	ROMSize      = 64 << 10
	ROMSignature = "QMEMROM1" // the flash's first 8 bytes

	TestDevBase       = 0xfe000000 // MMIO test device, 32-bit registers
	TestDevSize       = 0x1000
	TestDevRegID      = 0x0        // read-only: TestDevID
	TestDevRegScratch = 0x4        // read/write: reads what was last written
	TestDevRegCounter = 0x8        // read-only: increments on each read
	TestDevID         = 0x4d454d51 // "QMEM" read as a little-endian uint32
	ScratchPattern    = 0x12345678 // what the guest writes to the scratch register

	RemapBase    = 0x000e0000 // 64 KiB window: the flash's start or RAM
	RemapSize    = 64 << 10
	RemapPattern = 0xa5c3f00f // written at RemapBase in RAM mode (its complement at +4)
)

// I/O ports.
const (
	UARTBase    = 0x3f8 // 16550A: THR (write) at +0, LSR at +5
	UARTLSR     = UARTBase + 5
	UARTLSRTHRE = 0x20 // LSR bit: transmit holding register empty

	RemapPort = 0x5f0 // 8-bit write: RemapROM or RemapRAM
	RemapROM  = 0
	RemapRAM  = 1

	UnassignedPort = 0x1234 // nothing decodes it: reads are all ones
	DebugExitPort  = 0x501  // 8-bit write: end the run with the value as status
)

// Checks is the number of checks the guest makes.
const Checks = 8

// ResultLine is the guest's last line on the UART, without its "\r\n".
func ResultLine(passed, failed int) string {
	return fmt.Sprintf("guest: %d checks passed, %d failed", passed, failed)
}
