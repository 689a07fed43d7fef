// Package faults tests that qmem survives what goes wrong while a machine
// runs: device callbacks that panic, block, or re-enter their own region
// through DMA (on host readers and, under KVM, on a running guest's vCPU),
// QMP clients that hang up in the middle of a command, and a hundred QMP
// clients at once against the qmem binary. In each the process stays up,
// the other readers, vCPUs and clients carry on, and nothing leaks: the
// grace period ends, every unplugged device is finalized exactly once and
// the leak report is empty.
//
// The package has no code of its own; everything is in its tests.
package faults
