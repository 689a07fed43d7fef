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

// refresh translates the range again in view v (inside a read section).
func (c *Cache) refresh(rd *Reader, v *FlatView, attrs Attrs) {
	c.view, c.mem, c.region = v, nil, nil
	fr, off, xaddr, limit := rd.translate(c.as, c.addr, c.write, attrs)
	if fr == nil || limit < c.length || fr.Last-xaddr < c.length-1 {
		return
	}
	if c.write && !fr.writeDirect(attrs) || !c.write && !fr.readDirect() {
		return
	}
	c.mem = fr.Region.ram.mem[off : off+c.length : off+c.length]
	c.mask, c.region, c.off = fr.DirtyLogMask, fr.Region, off
}

func (c *Cache) fast(rd *Reader, off, n uint64, attrs Attrs) bool {
	if v := c.as.view.Load(); v != c.view {
		c.refresh(rd, v, attrs)
	}
	return c.mem != nil && off <= c.length && n <= c.length-off
}

// Read reads len(buf) bytes at offset off of the cached range.
func (c *Cache) Read(rd *Reader, off uint64, buf []byte, attrs Attrs) Result {
	rd.Enter()
	defer rd.Exit()
	if c.fast(rd, off, uint64(len(buf)), attrs) {
		ramLoad(buf, c.mem, off)
		return OK
	}
	return rd.read(c.as, c.addr+off, buf, attrs)
}

// Write writes buf at offset off of the cached range.
func (c *Cache) Write(rd *Reader, off uint64, buf []byte, attrs Attrs) Result {
	rd.Enter()
	defer rd.Exit()
	if c.write && c.fast(rd, off, uint64(len(buf)), attrs) {
		ramStore(c.mem, off, buf)
		if c.mask != 0 {
			c.region.ram.markDirty(c.off+off, uint64(len(buf)), c.mask)
		}
		return OK
	}
	return rd.write(c.as, c.addr+off, buf, attrs)
}

// Valid reports whether the cache currently holds a direct translation for
// the view in use (for tests and statistics).
func (c *Cache) Valid() bool { return c.mem != nil && c.view == c.as.view.Load() }
