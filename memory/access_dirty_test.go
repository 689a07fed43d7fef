package memory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"qmem.dev/qmem/qom"
)

// accIOMMU is an IOMMU that maps every page of its region onto target at
// the same address plus shift, with the given permission.
type accIOMMU struct {
	target *AddressSpace
	shift  uint64
	page   uint64 // page size, a power of two
	perm   IOMMUAccess
	calls  int
	index  func(Attrs) int
	seen   []string // "flag/index" per call
	panics bool
}

func (m *accIOMMU) Translate(addr uint64, flag IOMMUAccess, index int) IOTLBEntry {
	m.calls++
	m.seen = append(m.seen, fmt.Sprintf("%d/%d", flag, index))
	if m.panics {
		panic("translator broke")
	}
	mask := m.page - 1
	return IOTLBEntry{Target: m.target, IOVA: addr &^ mask, TranslatedAddr: (addr &^ mask) + m.shift, AddrMask: mask, Perm: m.perm}
}

type accIndexedIOMMU struct{ *accIOMMU }

func (m accIndexedIOMMU) AttrsToIndex(a Attrs) int { return m.index(a) }

func registerAccIOMMUType(t testing.TB, f *accFix) {
	t.Helper()
	if !f.reg.HasType("acc-iommu") {
		check(t, f.reg.Register(qom.TypeInfo{Name: "acc-iommu", Parent: TypeIOMMURegion}))
	}
}

// masks prints the dirty log mask of every range of the view.
func accMasks(v *FlatView) string {
	var s []string
	for _, fr := range v.Ranges() {
		s = append(s, fmt.Sprintf("%s=%d", fr.Region.Name(), fr.DirtyLogMask))
	}
	return strings.Join(s, " ")
}

// R-DIRTY-1: the VGA bit is the region's own, reference counted; global
// tracking adds MIGRATION to RAM-backed regions (not RAM devices, not MMIO)
// and to IOMMU regions; CODE is never set (qmem has no TCG).
func TestDirtyLogMask(t *testing.T) {
	f := newAccFix(t)
	registerAccIOMMUType(t, f)
	vga := f.ram("vram", 0, 0x1000)
	f.ram("ram", 0x1000, 0x1000)
	f.add(0x2000, f.must(f.s.NewROM(nil, "rom", 0x1000)))
	f.add(0x3000, f.must(f.s.NewRAMDevice(nil, "ramd", 0x1000, make([]byte, 0x1000))))
	f.io("dev", 0x4000, 0x1000, nil)
	f.add(0x5000, f.must(f.s.NewIOMMU(nil, "acc-iommu", "iommu", 0x1000, &accIOMMU{page: 0x1000})))

	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return nil }, "vram=0 ram=0 rom=0 ramd=0 dev=0 iommu=0"},
		{func() error { return vga.SetLogVGA(true) }, "vram=1 ram=0 rom=0 ramd=0 dev=0 iommu=0"},
		{func() error { return vga.SetLogVGA(true) }, "vram=1 ram=0 rom=0 ramd=0 dev=0 iommu=0"},
		{func() error { return vga.SetLogVGA(false) }, "vram=1 ram=0 rom=0 ramd=0 dev=0 iommu=0"},
		{func() error { return f.s.GlobalDirtyLogStart(GlobalDirtyMigration) }, "vram=5 ram=4 rom=4 ramd=0 dev=0 iommu=4"},
		{func() error { return vga.SetLogVGA(false) }, "vram=4 ram=4 rom=4 ramd=0 dev=0 iommu=4"},
		{func() error { return f.s.GlobalDirtyLogStop(GlobalDirtyMigration) }, "vram=0 ram=0 rom=0 ramd=0 dev=0 iommu=0"},
	}
	for i, st := range steps {
		check(t, st.do())
		if got := accMasks(f.as.View()); got != st.want {
			t.Fatalf("step %d: masks %s, want %s", i, got, st.want)
		}
	}
	f.noLeaks()
}

// R-DIRTY-2: global dirty tracking. Off to on: LogGlobalStart on every
// listener in ascending order, then a commit that gives ranges the
// MIGRATION bit (LogStart through the nop path); a failing start stops the
// ones started, in reverse, and fails. The last flag cleared: a commit
// (LogStop), then LogGlobalStop in descending order. Flags accumulate.
// (qmem does not model a stopped VM: a stop is never postponed.)
func TestGlobalDirtyLog(t *testing.T) {
	f := newAccFix(t)
	f.ram("ram", 0, 0x1000)
	var log []string
	mk := func(name string, prio int, fail bool) *Listener {
		return &Listener{
			Name: name, Priority: prio,
			LogGlobalStart: func() error {
				log = append(log, name+".global_start")
				if fail {
					return errors.New("no")
				}
				return nil
			},
			LogGlobalStop: func() { log = append(log, name+".global_stop") },
			LogStart: func(s Section, o, n uint8) {
				log = append(log, fmt.Sprintf("%s.log_start(%s %d->%d)", name, s.Region.Name(), o, n))
			},
			LogStop: func(s Section, o, n uint8) {
				log = append(log, fmt.Sprintf("%s.log_stop(%s %d->%d)", name, s.Region.Name(), o, n))
			},
		}
	}
	check(t, f.as.AddListener(mk("b", 20, false)))
	check(t, f.as.AddListener(mk("a", 10, false)))
	take := func() string { s := strings.Join(log, " "); log = nil; return s }

	check(t, f.s.GlobalDirtyLogStart(GlobalDirtyMigration))
	if got, want := take(), "a.global_start b.global_start a.log_start(ram 0->4) b.log_start(ram 0->4)"; got != want {
		t.Errorf("start:\n got %s\nwant %s", got, want)
	}
	check(t, f.s.GlobalDirtyLogStart(GlobalDirtyRate))
	check(t, f.s.GlobalDirtyLogStop(GlobalDirtyMigration))
	if got := take(); got != "" {
		t.Errorf("flag changes while on: %s", got)
	}
	if got := f.s.GlobalDirtyLog(); got != GlobalDirtyRate {
		t.Errorf("flags %d", got)
	}
	check(t, f.s.GlobalDirtyLogStop(GlobalDirtyRate))
	if got, want := take(), "b.log_stop(ram 4->0) a.log_stop(ram 4->0) b.global_stop a.global_stop"; got != want {
		t.Errorf("stop:\n got %s\nwant %s", got, want)
	}
	// A failing listener: the ones started are stopped, in reverse.
	check(t, f.as.AddListener(mk("c", 30, true)))
	take()
	if err := f.s.GlobalDirtyLogStart(GlobalDirtyLimit); err == nil {
		t.Fatal("start with a failing listener succeeded")
	}
	if got, want := take(), "a.global_start b.global_start c.global_start b.global_stop a.global_stop"; got != want {
		t.Errorf("failed start:\n got %s\nwant %s", got, want)
	}
	if f.s.GlobalDirtyLog() != 0 || accMasks(f.as.View()) != "ram=0" {
		t.Errorf("failed start left tracking on: %d %s", f.s.GlobalDirtyLog(), accMasks(f.as.View()))
	}
	f.as.RemoveListeners()
	f.noLeaks()
}

// R-DIRTY-3, R-DIRTY-4: SyncDirtyLog calls LogSync for every logged range
// (of one region, if given), per listener in ascending order, or
// LogSyncGlobal once, then LogGlobalAfterSync; ClearDirtyLog calls LogClear
// with each logged range of the region clipped to the range given, in
// region offsets.
func TestDirtyLogSyncAndClear(t *testing.T) {
	f := newAccFix(t)
	vram := f.must(f.s.NewRAM(nil, "vram", 0x4000))
	// Two windows on vram (not contiguous in it), and another RAM.
	f.add(0x10000, f.must(f.s.NewAlias(nil, "lo", vram, 0, 0x1000)))
	f.add(0x20000, f.must(f.s.NewAlias(nil, "hi", vram, 0x2000, 0x2000)))
	other := f.ram("other", 0x30000, 0x1000)
	check(t, vram.SetLogVGA(true))
	check(t, other.SetLogVGA(true))
	f.ram("quiet", 0x40000, 0x1000)
	var log []string
	sec := func(s Section) string {
		return fmt.Sprintf("%s@%#x+%#x(off %#x)", s.Region.Name(), s.Addr, s.Size, s.OffsetInRegion)
	}
	check(t, f.as.AddListener(&Listener{Name: "kvm", Priority: 10,
		LogSync:            func(s Section) { log = append(log, "kvm.sync "+sec(s)) },
		LogClear:           func(s Section) { log = append(log, "kvm.clear "+sec(s)) },
		LogGlobalAfterSync: func() { log = append(log, "kvm.after") },
	}))
	check(t, f.as.AddListener(&Listener{Name: "vhost", Priority: 0,
		LogSyncGlobal:      func() { log = append(log, "vhost.sync_global") },
		LogGlobalAfterSync: func() { log = append(log, "vhost.after") },
	}))
	take := func() string { s := strings.Join(log, "; "); log = nil; return s }

	f.s.SyncDirtyLog(nil)
	want := "vhost.sync_global; kvm.sync vram@0x10000+0x1000(off 0x0); kvm.sync vram@0x20000+0x2000(off 0x2000); " +
		"kvm.sync other@0x30000+0x1000(off 0x0); vhost.after; kvm.after"
	if got := take(); got != want {
		t.Errorf("sync all:\n got %s\nwant %s", got, want)
	}
	f.s.SyncDirtyLog(vram)
	want = "vhost.sync_global; kvm.sync vram@0x10000+0x1000(off 0x0); kvm.sync vram@0x20000+0x2000(off 0x2000); vhost.after; kvm.after"
	if got := take(); got != want {
		t.Errorf("sync vram:\n got %s\nwant %s", got, want)
	}
	vram.ClearDirtyLog(0x800, 0x2000)
	want = "kvm.clear vram@0x10800+0x800(off 0x800); kvm.clear vram@0x20000+0x800(off 0x2000)"
	if got := take(); got != want {
		t.Errorf("clear:\n got %s\nwant %s", got, want)
	}
	f.as.RemoveListeners()
	f.noLeaks()
}

// R-DIRTY-5: writes through the direct RAM path mark the written pages dirty
// for every client of the range's mask (buffer writes, typed stores, debug
// writes to ROM, cache writes, DMA mappings at unmap); MMIO writes and
// reads do not. TestAndClearDirty reports and clears a range.
func TestDirtyMarking(t *testing.T) {
	f := newAccFix(t)
	vram := f.ram("vram", 0, 0x10000)
	rom := f.add(0x10000, f.must(f.s.NewROM(nil, "rom", 0x2000)))
	host := make([]byte, 0x1000)
	f.add(0x20000, f.must(f.s.NewRAMDevice(nil, "ramd", 0x1000, host)))
	check(t, vram.SetLogVGA(true))
	check(t, f.s.GlobalDirtyLogStart(GlobalDirtyMigration))
	rd := f.s.NewReader()
	defer rd.Close()

	pages := func(r *Region, c int) string {
		p, err := r.DirtyPages(c)
		check(t, err)
		return fmt.Sprint(p)
	}
	rd.Write(f.as, 0x1ffe, []byte{1, 2, 3, 4}, Attrs{}) // pages 1 and 2
	rd.Store(f.as, 0x5000, 8, 1, LittleEndian, Attrs{}) // page 5
	rd.Read(f.as, 0x7000, make([]byte, 16), Attrs{})    // reads mark nothing
	rd.Write(f.as, 0x11000, []byte{9}, Attrs{Debug: true})
	rd.Write(f.as, 0x10000, []byte{9}, Attrs{}) // refused: nothing
	rd.Write(f.as, 0x20000, []byte{1, 2, 3, 4}, Attrs{})
	c := must[*Cache](t)(f.as.NewCache(0x9000, 0x2000, true))
	c.Write(rd, 0x1800, []byte{1, 2, 3, 4}, Attrs{}) // page 10
	m := must[*Mapping](t)(f.as.Map(0xc000, 0x3000, true, Attrs{}))
	copy(m.Bytes(), "dma")
	if got := pages(vram, DirtyMigration); got != "[1 2 5 10]" {
		t.Errorf("migration pages before unmap: %s", got)
	}
	check(t, m.Unmap(0x1001)) // pages 12 and 13
	for _, tt := range []struct {
		r      *Region
		client int
		want   string
	}{
		{vram, DirtyVGA, "[1 2 5 10 12 13]"},
		{vram, DirtyMigration, "[1 2 5 10 12 13]"},
		{vram, DirtyCode, "[]"},
		{rom, DirtyMigration, "[1]"},
		{rom, DirtyVGA, "[]"},
	} {
		if got := pages(tt.r, tt.client); got != tt.want {
			t.Errorf("%s client %d: pages %s, want %s", tt.r.Name(), tt.client, got, tt.want)
		}
	}
	if _, err := f.as.View().Find(0x20000).Region.DirtyPages(DirtyMigration); err == nil {
		t.Errorf("a RAM device has a dirty log")
	}
	// Test and clear: a range reports and clears only its own pages.
	for _, tt := range []struct {
		off, size uint64
		client    int
		want      bool
	}{
		{0x1000, 0x1000, DirtyVGA, true},
		{0x1000, 0x1000, DirtyVGA, false},
		{0x3000, 0x2000, DirtyVGA, false},
		{0x4fff, 2, DirtyVGA, true},
		{0, 0x10000, DirtyMigration, true},
		{0, 0x10000, DirtyMigration, false},
	} {
		got, err := vram.TestAndClearDirty(tt.off, tt.size, tt.client)
		check(t, err)
		if got != tt.want {
			t.Errorf("TestAndClearDirty(%#x, %#x, %d) = %v", tt.off, tt.size, tt.client, got)
		}
	}
	if got := pages(vram, DirtyVGA); got != "[2 10 12 13]" {
		t.Errorf("VGA pages after clearing: %s", got)
	}
	if d, _ := vram.GetDirty(0x2000, 1, DirtyVGA); !d {
		t.Errorf("GetDirty of a dirty page")
	}
	for _, bad := range [][3]uint64{{0, 0, DirtyVGA}, {0xffff, 2, DirtyVGA}, {0, 1, 7}} {
		if _, err := vram.TestAndClearDirty(bad[0], bad[1], int(bad[2])); err == nil {
			t.Errorf("TestAndClearDirty%v: no error", bad)
		}
	}
	check(t, f.s.GlobalDirtyLogStop(GlobalDirtyMigration))
	f.noLeaks()
}

// R-DIRTY-5 under concurrency: writers on several goroutines mark pages
// while a collector tests and clears them; every written page is reported
// exactly when it was written after the last clear, none is lost.
func TestDirtyConcurrentWriters(t *testing.T) {
	f := newAccFix(t)
	const pagesN = 256
	ram := f.ram("ram", 0, pagesN*DirtyPageSize)
	check(t, ram.SetLogVGA(true))
	const writers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := f.s.NewReader()
			defer rd.Close()
			for r := 0; r < rounds; r++ {
				for p := w; p < pagesN; p += writers {
					// Distinct aligned words per writer: no data race on RAM.
					addr := uint64(p)*DirtyPageSize + uint64(w)*8
					if res := rd.Store(f.as, addr, 8, uint64(r), LittleEndian, Attrs{}); res != OK {
						t.Error(res)
						return
					}
				}
			}
		}()
	}
	seen := make([]bool, pagesN)
	collect := func() {
		for p := 0; p < pagesN; p++ {
			d, err := ram.TestAndClearDirty(uint64(p)*DirtyPageSize, DirtyPageSize, DirtyVGA)
			check(t, err)
			seen[p] = seen[p] || d
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		collect()
	}
	collect()
	if i := slices.Index(seen, false); i >= 0 {
		t.Fatalf("page %d written but never reported dirty", i)
	}
	if p, _ := ram.DirtyPages(DirtyVGA); len(p) != 0 {
		t.Fatalf("pages left dirty after the last clear: %v", p)
	}
	f.noLeaks()
}
