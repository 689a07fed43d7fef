// Package mtree prints qmem's memory system in the text formats of QEMU's
// monitor and checks them against real QEMU output.
//
//   - Write prints `info mtree` with and without -o and -D, and
//     `info mtree -f` with and without -o, from live memory objects (a
//     memory.System and its address spaces, regions and owners), byte for
//     byte as QEMU 7.2 to 10.2 print them (SPEC A.20, A.21).
//   - WriteQOMTree prints `info qom-tree` (SPEC B.12).
//   - Build turns a parsed QEMU dump (package mtree/dump) into a real
//     memory.System with QOM owner objects, so that printing it reproduces
//     QEMU's files; CheckDir runs that comparison for a folder of the golden
//     corpus.
//
// # Section order
//
// QEMU prints the address-space groups of `info mtree` and the FlatViews of
// `info mtree -f` in the iteration order of a pointer-keyed hash table
// (R-MTREE-2, R-MTREEF-1), which changes from run to run. Write prints them
// in a fixed order instead: each group (or FlatView) at the position of its
// first address space in creation order (System.AddressSpaces). FlatViews
// are numbered in that order. The alias-target sections (`memory-region:`)
// follow in the order QEMU queues them, which depends on the group order;
// compare with QEMU's output after dump.Canon.
//
// # What is not printed
//
// `info mtree -f -d` (the dispatch tree, R-MTREEF-3: QEMU's page-table
// layout) is not printed. The accelerator column of `-f` (R-MTREEF-2 item
// 7) is printed only when Options.Accel says what the accelerator maps (the
// monitor does under KVM). Options.Disabled is ignored with Flat, as -D is
// by QEMU.
//
// # Conformance
//
// CheckDir (and `qmem check`) rebuild every run of the QEMU 7.2 corpus in
// testdata/qemu-7.2 and compare all five variants; every run passes,
// including arm-mps2-an505, whose ARM SSE container maps aliases of itself
// inside itself ("alias 1" to "alias 3"), a loop that ends because the alias
// window clips the recursion (memory accepts such loops, memory/cycle.go).
// TestCorpus keeps a list of documented exceptions, empty today, and fails
// when one of them starts to pass.
//
// # Locking
//
// Write takes the System's lock; WriteLocked expects the caller to hold it.
// Build returns a machine whose lock is free.
package mtree
