//go:build !unix

package memory

// allocRAM allocates zeroed memory from the Go heap where mmap is missing.
func allocRAM(size uint64) (*ramBlock, error) {
	if size > 1<<40 {
		return nil, errTooLarge
	}
	return &ramBlock{mem: make([]byte, size), dirty: newDirtyBitmaps(size)}, nil
}

func freeHost([]byte) {}
