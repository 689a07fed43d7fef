//go:build !unix

package mtree

import "fmt"

// hostMemory returns size bytes of zeroed memory for a RAM device region.
func hostMemory(size uint64) ([]byte, error) {
	if size > 1<<30 {
		return nil, fmt.Errorf("RAM device of %#x bytes is too large", size)
	}
	return make([]byte, size), nil
}
