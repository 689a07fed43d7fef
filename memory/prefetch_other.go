//go:build !amd64

package memory

import "unsafe"

// prefetch does nothing on this architecture.
func prefetch(unsafe.Pointer) {}
