package memory

// iommuTranslate asks an IOMMU region to translate offset off (R-IOMMU-1).
// It reports false when the permission lacks the direction, or when the
// translator panics (the access then finds nothing, like an unmapped page;
// the panic is reported once).
func (rd *Reader) iommuTranslate(mr *Region, off uint64, write bool, attrs Attrs) (e IOTLBEntry, ok bool) {
	flag := IOMMURO
	if write {
		flag = IOMMUWO
	}
	depth, nest := rd.depth, rd.nest
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			rd.unwound(depth, nest)
			rd.devicePanic(mr, off, 0, write, p)
			e, ok = IOTLBEntry{}, false
		} else {
			rd.forceExit() // runtime.Goexit: the goroutine is ending
		}
	}()
	index := 0
	if x, isIndexer := mr.iommu.(IOMMUIndexer); isIndexer {
		index = x.AttrsToIndex(attrs)
	}
	e = mr.iommu.Translate(off, flag, index)
	returned = true
	return e, e.Perm&flag != 0
}

// IOMMUIndexer is implemented by IOMMUs that translate differently per
// access attributes (QEMU's attrs_to_index, e.g. secure and non-secure
// contexts). Without it the index is 0.
type IOMMUIndexer interface {
	AttrsToIndex(attrs Attrs) int
}

// IOMMUEvent is a map or unmap notification of an IOMMU region
// (R-IOMMU-2).
type IOMMUEvent struct {
	Unmap bool
	Entry IOTLBEntry
}

// IOMMUNotifier receives the events of an IOMMU region that fall inside
// [Start, End] and are of the kinds it asked for.
type IOMMUNotifier struct {
	Start, End uint64
	Map, Unmap bool // which events to deliver
	Notify     func(IOMMUEvent)
	region     *Region
}

// AddIOMMUNotifier registers n on an IOMMU region, or on an alias of one
// (forwarded to the target, R-IOMMU-2). Requires the lock.
func (r *Region) AddIOMMUNotifier(n *IOMMUNotifier) error {
	t := r.finalTarget()
	if t.kind != KindIOMMU {
		return errNotIOMMU(r)
	}
	n.region = t
	t.iommuNotifiers = append(t.iommuNotifiers, n)
	return nil
}

// RemoveIOMMUNotifier unregisters n.
func (r *Region) RemoveIOMMUNotifier(n *IOMMUNotifier) {
	t := n.region
	if t == nil {
		return
	}
	for i, x := range t.iommuNotifiers {
		if x == n {
			t.iommuNotifiers = append(t.iommuNotifiers[:i:i], t.iommuNotifiers[i+1:]...)
			break
		}
	}
	n.region = nil
}

// NotifyIOMMU delivers an event to the region's notifiers
// (memory_region_notify_iommu): each notifier gets it clipped to its range,
// and only if it asked for that kind. Requires the lock.
func (r *Region) NotifyIOMMU(ev IOMMUEvent) {
	for _, n := range r.iommuNotifiers {
		if ev.Unmap && !n.Unmap || !ev.Unmap && !n.Map {
			continue
		}
		start, end := ev.Entry.IOVA, ev.Entry.IOVA+ev.Entry.AddrMask
		if end < n.Start || start > n.End {
			continue
		}
		clipped := ev
		if start < n.Start || end > n.End {
			lo, hi := max(start, n.Start), min(end, n.End)
			clipped.Entry.TranslatedAddr += lo - start
			clipped.Entry.IOVA = lo
			clipped.Entry.AddrMask = hi - lo
		}
		n.Notify(clipped)
	}
}
