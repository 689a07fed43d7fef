// Package dump reads and writes QEMU's `info mtree` text without the memory
// package: a parser into a neutral model, the facts file, canonical forms and
// a diff helper.
package dump
