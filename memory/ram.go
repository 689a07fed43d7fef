package memory

import (
	"sync"
	"sync/atomic"
)

// ramBlock is the host memory behind a RAM, ROM, ROM device or RAM device
// region.
type ramBlock struct {
	mem      []byte // exactly the region's size
	mapping  []byte // the whole mapping (page-rounded), nil when not ours
	external bool   // memory provided by the caller (RAM devices): never freed here
	freed    bool
	dirty    dirtyBitmaps // nil bitmaps for external memory

	// DMA mappings in use; a block released while mapped is freed by the
	// last Unmap.
	maps             atomic.Int32
	freeWhenUnmapped atomic.Bool
	freeMu           sync.Mutex
}

// free releases the block's host memory. The caller guarantees that nothing
// can read it any more (the grace period has passed).
func (b *ramBlock) free() {
	if b.freed || b.external {
		return
	}
	b.freed = true
	if b.mapping != nil {
		freeHost(b.mapping)
	}
	b.mem, b.mapping = nil, nil
}

// Host returns the region's host memory (RAM, ROM, ROM device, RAM device),
// nil for other kinds. The slice stays valid until the region is finalized
// and its grace period has passed; a KVM memory slot is built from it.
func (r *Region) Host() []byte {
	if r.ram == nil {
		return nil
	}
	return r.ram.mem
}
