//go:build linux && amd64

package kvm

import (
	"fmt"
	"math/bits"
	"runtime"
	"unsafe"
)

// DirtyBitmap is the dirty log of one memory slot: bit i (bit i%64 of word
// i/64) is set when the guest wrote page i of the slot, the 4 KiB page at the
// slot's guest address + i*4096.
type DirtyBitmap []uint64

// IsDirty reports whether page (counted from the start of the slot) is dirty.
// Pages beyond the bitmap are clean.
func (b DirtyBitmap) IsDirty(page uint64) bool {
	w := page / 64
	return w < uint64(len(b)) && b[w]&(1<<(page%64)) != 0
}

// Pages returns the dirty page numbers in increasing order.
func (b DirtyBitmap) Pages() []uint64 {
	var pages []uint64
	for w, word := range b {
		for word != 0 {
			i := bits.TrailingZeros64(word)
			pages = append(pages, uint64(w)*64+uint64(i))
			word &^= 1 << i
		}
	}
	return pages
}

// dirtyLog is struct kvm_dirty_log.
type dirtyLog struct {
	slot   uint32
	_      uint32
	bitmap uint64 // userspace address of the bitmap
}

// GetDirtyLog returns the pages of slot that the guest wrote since the slot
// was set with LogDirty or since the previous GetDirtyLog, and clears that
// record (KVM_GET_DIRTY_LOG; manual dirty-log protection is not enabled), so
// two calls never report the same write. Writes by the host to the slot's
// memory are not logged.
//
// It fails if the slot is not set or was set without LogDirty.
func (vm *VM) GetDirtyLog(slot uint32) (DirtyBitmap, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return nil, errVMClosed
	}
	s, ok := vm.slots[slot]
	switch {
	case !ok:
		return nil, fmt.Errorf("kvm: GetDirtyLog(slot=%d): slot is not set", slot)
	case s.flags&LogDirty == 0:
		return nil, fmt.Errorf("kvm: GetDirtyLog(slot=%d): slot was set without LogDirty", slot)
	}
	pages := uint64(len(s.host)) / pageSize
	bm := make(DirtyBitmap, (pages+63)/64)
	d := dirtyLog{slot: slot, bitmap: uint64(uintptr(unsafe.Pointer(&bm[0])))}
	_, errno := ioctlPtr(vm.fd, kvmGetDirtyLog, unsafe.Pointer(&d))
	runtime.KeepAlive(bm) // the kernel wrote through d.bitmap, which the GC cannot see
	if errno != 0 {
		return nil, ioctlError("KVM_GET_DIRTY_LOG", errno, "slot=%d pages=%d", slot, pages)
	}
	return bm, nil
}
