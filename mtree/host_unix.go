//go:build unix

package mtree

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// hostMemory returns size bytes of zeroed anonymous memory for a RAM device
// region, reserved but not committed (MAP_NORESERVE). It is never unmapped:
// the memory package does not free memory it did not allocate, and RAM
// devices are rare (none in the QEMU corpus).
func hostMemory(size uint64) ([]byte, error) {
	if size == 0 {
		return []byte{}, nil
	}
	if size > math.MaxInt/2 {
		return nil, fmt.Errorf("RAM device of %#x bytes is too large", size)
	}
	return unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}
