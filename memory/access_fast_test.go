package memory

import (
	"fmt"
	"slices"
	"testing"
)

// TestMMIOFastPathAgrees checks the access path's shortcut for MMIO
// (Region.fastRead, fastWrite: one callback called at once) against the
// general path (R-SIZE-1 steps, R-SIZE-3 validity, R-SIZE-5/6 splitting,
// R-END-2 byte order): for every combination of valid and impl sizes,
// alignment flags, an accepts hook, byte orders and missing callbacks, and
// for every access of 1 to 8 bytes at offsets 0 to 9, both give the same
// result, the same bytes and the same callbacks.
func TestMMIOFastPathAgrees(t *testing.T) {
	_, s := newTestSystem(t)
	root := must[*Region](t)(s.NewContainer(nil, "system", ^uint64(0)))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "memory"))
	rd := s.NewReader()
	defer rd.Close()

	var log []string
	read := func(off uint64, size uint, _ Attrs) (uint64, Result) {
		log = append(log, fmt.Sprintf("r %#x/%d", off, size))
		return accPattern(off, size), OK
	}
	write := func(off, v uint64, size uint, _ Attrs) Result {
		log = append(log, fmt.Sprintf("w %#x/%d=%#x", off, size, v))
		return OK
	}
	evenOnly := func(off uint64, _ uint, _ bool, _ Attrs) bool { return off%2 == 0 }

	// slow performs the access through the general path only.
	slow := func(write bool, addr uint64, buf []byte) Result {
		rd.Enter()
		defer rd.Exit()
		v := as.view.Load()
		if write {
			return rd.write(v, addr, buf, Attrs{})
		}
		return rd.read(v, addr, buf, Attrs{})
	}

	configs, fastSeen := 0, 0
	for _, vmin := range []uint{0, 2} {
		for _, vmax := range []uint{0, 1, 2, 4, 8} {
			for _, imin := range []uint{0, 2} {
				for _, imax := range []uint{0, 1, 4, 8} {
					for flags := 0; flags < 32; flags++ {
						ops := &Ops{
							Valid: AccessSizes{Min: vmin, Max: vmax, Unaligned: flags&1 != 0},
							Impl:  AccessSizes{Min: imin, Max: imax, Unaligned: flags&2 != 0},
						}
						if flags&4 != 0 {
							ops.Endianness = BigEndian
						}
						if flags&8 != 0 {
							ops.Valid.Accepts = evenOnly
						}
						if flags&16 == 0 {
							ops.Read, ops.Write = read, write
						}
						configs++
						dev := must[*Region](t)(s.NewIO(nil, "dev", 0x100, ops))
						check(t, root.AddSubregion(0x1000, dev))
						for _, isWrite := range []bool{false, true} {
							for n := 1; n <= 8; n++ {
								for off := uint64(0); off < 10; off++ {
									name := fmt.Sprintf("%+v write=%v n=%d off=%d", *ops, isWrite, n, off)
									if (isWrite && dev.fastWrite(off, uint64(n))) || (!isWrite && dev.fastRead(off, uint64(n))) {
										fastSeen++
									}
									data := []byte{0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18}[:n]
									fastBuf, slowBuf := slices.Clone(data), slices.Clone(data)
									log = nil
									var fastRes Result
									if isWrite {
										fastRes = rd.Write(as, 0x1000+off, fastBuf, Attrs{})
									} else {
										fastRes = rd.Read(as, 0x1000+off, fastBuf, Attrs{})
									}
									fastLog := log
									log = nil
									slowRes := slow(isWrite, 0x1000+off, slowBuf)
									if fastRes != slowRes || !slices.Equal(fastBuf, slowBuf) || !slices.Equal(fastLog, log) {
										t.Fatalf("%s:\nfast path: %v % x %q\ngeneral:   %v % x %q",
											name, fastRes, fastBuf, fastLog, slowRes, slowBuf, log)
									}
								}
							}
						}
						check(t, root.DelSubregion(dev))
						dev.Unparent()
					}
				}
			}
		}
	}
	if fastSeen == 0 {
		t.Fatalf("the fast path was never eligible in %d configurations", configs)
	}
	t.Logf("%d configurations, %d accesses eligible for the fast path", configs, fastSeen)
}
