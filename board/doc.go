// Package board assembles machines: a Machine (the /machine object) with its
// standard memory (the system container, the I/O space, RAM, and the
// address spaces "memory" and "I/O"), the devices of a board description,
// and, under KVM, the vCPUs that run the board's guest.
//
// The built-in board "demo" wires qmem's devices on an x86 VM and runs the
// test guest of package board/guest, which checks them from the inside.
package board
