//go:build unix

package memory

import (
	"golang.org/x/sys/unix"
)

// allocRAM maps size bytes of zeroed, page-aligned anonymous memory. Pages
// are only committed when touched (MAP_NORESERVE).
func allocRAM(size uint64) (*ramBlock, error) {
	if size == 0 {
		return &ramBlock{mem: []byte{}}, nil
	}
	page := uint64(unix.Getpagesize())
	rounded := (size + page - 1) &^ (page - 1)
	if rounded < size || rounded > 1<<47 {
		return nil, errTooLarge
	}
	m, err := unix.Mmap(-1, 0, int(rounded), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	return &ramBlock{mem: m[:size:size], mapping: m, dirty: newDirtyBitmaps(size)}, nil
}

func freeHost(m []byte) { _ = unix.Munmap(m) }
