package memory

import (
	"fmt"
	"sync/atomic"
)

// Dirty memory clients (R-DIRTY-1): bit numbers of a dirty log mask.
const (
	DirtyVGA       = 0
	DirtyCode      = 1
	DirtyMigration = 2
	dirtyClients   = 3
)

// Global dirty tracking reasons (R-DIRTY-2).
const (
	GlobalDirtyMigration uint32 = 1
	GlobalDirtyRate      uint32 = 2
	GlobalDirtyLimit     uint32 = 4
)

// DirtyPageSize is the granularity of dirty logging.
const DirtyPageSize = 4096

// dirtyState is reserved for global dirty-tracking bookkeeping beyond the
// flags kept in System.globalDirty.
type dirtyState struct{}

// dirtyBitmaps are the per-client bitmaps of a RAM block: one bit per page,
// set atomically by concurrent writers.
type dirtyBitmaps [dirtyClients][]atomic.Uint64

func newDirtyBitmaps(size uint64) dirtyBitmaps {
	pages := (size + DirtyPageSize - 1) / DirtyPageSize
	words := (pages + 63) / 64
	var d dirtyBitmaps
	for c := range d {
		d[c] = make([]atomic.Uint64, words)
	}
	return d
}

// markDirty sets the pages of [off, off+n) dirty for every client in mask.
// A page already dirty costs only a load: no shared write in the steady
// state.
func (b *ramBlock) markDirty(off, n uint64, mask uint8) {
	if n == 0 || b.dirty[0] == nil {
		return
	}
	first, last := off/DirtyPageSize, (off+n-1)/DirtyPageSize
	for c := 0; c < dirtyClients; c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		bm := b.dirty[c]
		for p := first; p <= last; p++ {
			w, bit := &bm[p/64], uint64(1)<<(p%64)
			if w.Load()&bit == 0 {
				w.Or(bit)
			}
		}
	}
}

func (r *Region) dirtyRange(off, size uint64, client int) ([]atomic.Uint64, uint64, uint64, error) {
	if r.ram == nil || r.ram.dirty[0] == nil {
		return nil, 0, 0, fmt.Errorf("memory: %s has no RAM to log", r)
	}
	if client < 0 || client >= dirtyClients {
		return nil, 0, 0, fmt.Errorf("memory: no dirty client %d", client)
	}
	if size == 0 || off+size < off || off+size > uint64(len(r.ram.mem)) {
		return nil, 0, 0, fmt.Errorf("memory: dirty range %#x+%#x outside %s", off, size, r)
	}
	return r.ram.dirty[client], off / DirtyPageSize, (off + size - 1) / DirtyPageSize, nil
}

// GetDirty reports whether any page of [off, off+size) of the region is
// dirty for client.
func (r *Region) GetDirty(off, size uint64, client int) (bool, error) {
	bm, first, last, err := r.dirtyRange(off, size, client)
	if err != nil {
		return false, err
	}
	for p := first; p <= last; p++ {
		if bm[p/64].Load()&(1<<(p%64)) != 0 {
			return true, nil
		}
	}
	return false, nil
}

// TestAndClearDirty reports whether any page of the range was dirty for
// client and clears them, atomically with respect to concurrent writers
// (a page written during the call is either reported or stays dirty).
func (r *Region) TestAndClearDirty(off, size uint64, client int) (bool, error) {
	bm, first, last, err := r.dirtyRange(off, size, client)
	if err != nil {
		return false, err
	}
	dirty := false
	for p := first; p <= last; {
		w := p / 64
		lo := p % 64
		hi := uint64(63)
		if w == last/64 {
			hi = last % 64
		}
		mask := (^uint64(0) >> (63 - hi)) &^ (uint64(1)<<lo - 1)
		if bm[w].And(^mask)&mask != 0 {
			dirty = true
		}
		p = (w + 1) * 64
	}
	return dirty, nil
}

// DirtyPages returns the page numbers (offset / DirtyPageSize) of the
// region that are dirty for client.
func (r *Region) DirtyPages(client int) ([]uint64, error) {
	if r.ram == nil || client < 0 || client >= dirtyClients || r.ram.dirty[0] == nil {
		return nil, fmt.Errorf("memory: %s has no dirty log for client %d", r, client)
	}
	var pages []uint64
	for w := range r.ram.dirty[client] {
		v := r.ram.dirty[client][w].Load()
		for v != 0 {
			b := uint64(0)
			for v&(1<<b) == 0 {
				b++
			}
			pages = append(pages, uint64(w)*64+b)
			v &^= 1 << b
		}
	}
	return pages, nil
}

// MarkDirty marks [off, off+size) dirty for the clients in mask: what an
// accelerator does when it syncs its own dirty log (KVM_GET_DIRTY_LOG).
func (r *Region) MarkDirty(off, size uint64, mask uint8) error {
	if r.ram == nil || r.ram.dirty[0] == nil {
		return fmt.Errorf("memory: %s has no RAM to log", r)
	}
	if size == 0 || off+size < off || off+size > uint64(len(r.ram.mem)) {
		return fmt.Errorf("memory: dirty range %#x+%#x outside %s", off, size, r)
	}
	r.ram.markDirty(off, size, mask)
	return nil
}

// GlobalDirtyLogStart turns global dirty tracking on for the given reasons
// (R-DIRTY-2). When tracking goes from off to on, every listener's
// LogGlobalStart runs in ascending order (a failure stops the ones already
// started, in reverse, and is returned), then a commit gives every RAM range
// the MIGRATION bit (listeners hear log_start). Requires the lock.
func (s *System) GlobalDirtyLogStart(flags uint32) error {
	if err := s.checkMutable(); err != nil {
		return err
	}
	if flags&^s.globalDirty == 0 {
		return nil
	}
	if s.globalDirty == 0 {
		for i, l := range s.listeners {
			if l.LogGlobalStart == nil {
				continue
			}
			if err := l.LogGlobalStart(); err != nil {
				for k := i - 1; k >= 0; k-- {
					if f := s.listeners[k].LogGlobalStop; f != nil && s.listeners[k].LogGlobalStart != nil {
						f()
					}
				}
				return fmt.Errorf("memory: global dirty log start: listener %q: %w", l.Name, err)
			}
		}
		s.globalDirty |= flags
		s.Begin()
		s.touchAll()
		return s.Commit()
	}
	s.globalDirty |= flags
	return nil
}

// GlobalDirtyLogStop clears the given reasons; when none is left, a commit
// removes the MIGRATION bit (log_stop) and then every listener's
// LogGlobalStop runs in descending order (R-DIRTY-2). qmem does not model a
// stopped VM, so the stop is never postponed.
func (s *System) GlobalDirtyLogStop(flags uint32) error {
	if err := s.checkMutable(); err != nil {
		return err
	}
	if s.globalDirty&flags == 0 {
		return nil
	}
	s.globalDirty &^= flags
	if s.globalDirty != 0 {
		return nil
	}
	s.Begin()
	s.touchAll()
	if err := s.Commit(); err != nil {
		return err
	}
	for k := len(s.listeners) - 1; k >= 0; k-- {
		if f := s.listeners[k].LogGlobalStop; f != nil {
			f()
		}
	}
	return nil
}

// GlobalDirtyLog returns the active global dirty tracking reasons.
func (s *System) GlobalDirtyLog() uint32 { return s.globalDirty }

// SyncDirtyLog asks the listeners to bring the dirty bitmaps up to date
// (R-DIRTY-3): for each listener in ascending order, LogSync for every range
// of its space with a non-zero mask (only ranges of r when r is not nil), or
// LogSyncGlobal once; then LogGlobalAfterSync on every listener. Requires
// the lock.
func (s *System) SyncDirtyLog(r *Region) {
	s.inCommit = true
	defer func() { s.inCommit = false }()
	for _, l := range s.listeners {
		switch {
		case l.LogSync != nil:
			v := l.as.current()
			for i := range v.ranges {
				fr := &v.ranges[i]
				if fr.DirtyLogMask != 0 && (r == nil || fr.Region == r) {
					l.LogSync(sectionOf(l.as, v, fr))
				}
			}
		case l.LogSyncGlobal != nil:
			l.LogSyncGlobal()
		}
	}
	for _, l := range s.listeners {
		call(l.LogGlobalAfterSync)
	}
}

// ClearDirtyLog tells the listeners that [start, start+size) of r (region
// offsets) may be cleared in their own logs (R-DIRTY-4): LogClear with each
// logged range of r clipped to it.
func (r *Region) ClearDirtyLog(start, size uint64) {
	s := r.sys
	s.inCommit = true
	defer func() { s.inCommit = false }()
	end := u64(start).add(u64(size))
	for _, l := range s.listeners {
		if l.LogClear == nil {
			continue
		}
		v := l.as.current()
		for i := range v.ranges {
			fr := &v.ranges[i]
			if fr.Region != r || fr.DirtyLogMask == 0 {
				continue
			}
			lo := max128(u64(fr.Offset), u64(start))
			hi := min128(u64(fr.Offset).add(u64(fr.Len())), end)
			if fr.Len() == 0 {
				hi = min128(u64(fr.Offset).add(two64), end)
			}
			if !lo.less(hi) {
				continue
			}
			sec := sectionOf(l.as, v, fr)
			sec.Addr = fr.Start + (lo.lo - fr.Offset)
			sec.OffsetInRegion = lo.lo
			sec.Size = hi.sub(lo).lo
			l.LogClear(sec)
		}
	}
}
