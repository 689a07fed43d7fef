package memory

import "fmt"

// Cache is a cached translation of a range of an address space for a
// device's hot accesses (QEMU's MemoryRegionCache): while the space's view
// stays the same, an access to a RAM range is a bounds check and a copy. A
// new view invalidates it; the next access translates again. A Cache is used
// by one goroutine at a time, with its own Reader.
type Cache struct {
	as     *AddressSpace
	addr   uint64
	length uint64
	write  bool

	view   *FlatView // view the translation was made in
	mem    []byte    // host memory of [addr, addr+length) when direct, else nil
	mask   uint8     // dirty log mask of the direct range
	region *Region
	off    uint64
}

// NewCache prepares a cache for [addr, addr+length) of as.
func (as *AddressSpace) NewCache(addr, length uint64, write bool) (*Cache, error) {
	if length == 0 || addr+length-1 < addr {
		return nil, fmt.Errorf("memory: cache range %#x+%#x is empty or wraps", addr, length)
	}
	return &Cache{as: as, addr: addr, length: length, write: write}, nil
}

// refresh translates the range again in view v (inside a read section):
// direct when it starts in a direct range and continues directly for the
// whole length (address_space_cache_init with flatview_extend_translation).
func (c *Cache) refresh(rd *Reader, v *FlatView) {
	c.view, c.mem, c.region = v, nil, nil
	t := rd.translate(v, c.addr, c.write, Attrs{})
	if !t.direct(c.write, Attrs{}) {
		return
	}
	if rd.extend(v, c.addr, c.length, c.write, Attrs{}, t) < c.length {
		return
	}
	c.mem = t.mr.ram.mem[t.off : t.off+c.length : t.off+c.length]
	c.mask, c.region, c.off = t.e.mask, t.mr, t.off
}

// fast reports whether [off, off+n) can be accessed in c.mem: the space
// still shows the view the cache was made in, and that was direct.
func (c *Cache) fast(rd *Reader, v *FlatView, off, n uint64) bool {
	if v != c.view {
		c.refresh(rd, v)
	}
	return c.mem != nil && off <= c.length && n <= c.length-off
}

// Read reads len(buf) bytes at offset off of the cached range. Outside the
// cached range, or when the range is not direct, it is an ordinary access.
func (c *Cache) Read(rd *Reader, off uint64, buf []byte, attrs Attrs) Result {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	v := c.as.view.Load()
	var res Result
	if c.fast(rd, v, off, uint64(len(buf))) {
		ramLoad(buf, c.mem, off)
	} else {
		res = rd.read(v, c.addr+off, buf, attrs)
	}
	rd.Exit()
	return res
}

// Write writes buf at offset off of the cached range (a read-only cache
// always takes the ordinary path).
func (c *Cache) Write(rd *Reader, off uint64, buf []byte, attrs Attrs) Result {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	v := c.as.view.Load()
	var res Result
	if c.write && c.fast(rd, v, off, uint64(len(buf))) {
		ramStore(c.mem, off, buf)
		if c.mask != 0 {
			c.region.ram.markDirty(c.off+off, uint64(len(buf)), c.mask) // R-DIRTY-5
		}
	} else {
		res = rd.write(v, c.addr+off, buf, attrs)
	}
	rd.Exit()
	return res
}

// Valid reports whether the cache currently holds a direct translation for
// the view in use (for tests and statistics). Safe from any goroutine only
// when the cache is not in use.
func (c *Cache) Valid() bool { return c.mem != nil && c.view == c.as.view.Load() }
