package memory

import "unsafe"

// prefetch asks the CPU to bring the cache line at addr in: the render walk
// uses it on regions it will visit next, so that their cache (and TLB)
// misses overlap instead of following one another.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
