//go:build linux && amd64

package board_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/kvm"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

// needKVM skips the test when /dev/kvm cannot be used.
func needKVM(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("KVM is not available (%v); skipping", err)
	}
	f.Close()
}

// syncBuffer is a bytes.Buffer safe for the vCPU and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mailbox is the test guests' channel to the host: two 32-bit I/O ports,
// MBOX for reports and MBOX_DATA for values, each write queued for the test;
// reading MBOX returns the host's last command. Its callbacks take no lock
// the test could hold.
type mailbox struct {
	reports [2]chan uint32 // MBOX, MBOX_DATA
	dropped atomic.Int64
	cmd     atomic.Uint32
}

// runResult is what Machine.Run returned.
type runResult struct {
	status int
	err    error
}

// testBoard is the demo board without its guest, with the mailbox and one
// of the test guests loaded, run under KVM.
type testBoard struct {
	m      *board.Machine
	reg    *qom.Registry
	sys    *memory.System
	serial *syncBuffer
	box    *mailbox
	ended  chan struct{} // closed when Run returned, result set
	result runResult
}

// newTestBoard builds the board with testdata/guests/NAME.bin at LoadAddr.
func newTestBoard(t *testing.T, name string) *testBoard {
	t.Helper()
	needKVM(t)
	spec := board.Demo()
	spec.Guest = ""
	b := &testBoard{serial: &syncBuffer{}, box: &mailbox{}}
	m, err := board.Build(spec, b.serial)
	if err != nil {
		t.Fatal(err)
	}
	b.m, b.reg, b.sys = m, m.Registry(), m.MemorySystem()
	for i := range b.box.reports {
		b.box.reports[i] = make(chan uint32, 1<<16)
	}
	b.sys.Lock()
	defer b.sys.Unlock()
	r, err := b.sys.NewIO(nil, "test-mailbox", 8, &memory.Ops{
		Read: func(uint64, uint, memory.Attrs) (uint64, memory.Result) { return uint64(b.box.cmd.Load()), memory.OK },
		Write: func(off, v uint64, _ uint, _ memory.Attrs) memory.Result {
			select {
			case b.box.reports[off/4] <- uint32(v):
			default:
				b.box.dropped.Add(1)
			}
			return memory.OK
		},
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 4, Max: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.IOPorts().AddSubregion(mboxPort, r); err != nil {
		t.Fatal(err)
	}
	copy(m.RAM().Host()[loadAddr:], testGuest(t, name))
	return b
}

// start runs the guest on its own goroutine, with a watchdog that ends
// the run after 30 seconds.
func (b *testBoard) start(t *testing.T) {
	t.Helper()
	b.ended = make(chan struct{})
	watchdog := time.AfterFunc(30*time.Second, func() { b.m.RequestExit(255) })
	go func() {
		st, err := b.m.Run()
		watchdog.Stop()
		b.result = runResult{st, err}
		close(b.ended)
	}()
	t.Cleanup(func() {
		// A test that failed early must not leave the vCPU running.
		b.m.RequestExit(254)
		b.wait(t)
	})
}

// wait returns how the run ended.
func (b *testBoard) wait(t *testing.T) runResult {
	t.Helper()
	select {
	case <-b.ended:
		return b.result
	case <-time.After(40 * time.Second):
		t.Fatal("the run did not end")
		return runResult{}
	}
}

// report returns the guest's next write to MBOX (port 0) or MBOX_DATA (1).
func (b *testBoard) report(t *testing.T, port int) uint32 {
	t.Helper()
	ch := b.box.reports[port]
	select {
	case v := <-ch:
		return v
	case <-b.ended:
		select {
		case v := <-ch:
			return v
		default:
		}
		t.Fatalf("the run ended (status %d, %v) before the guest reported; serial: %q", b.result.status, b.result.err, b.serial.String())
	case <-time.After(20 * time.Second):
		t.Fatal("no report from the guest within 20s")
	}
	return 0
}

// expectReport fails unless the guest's next MBOX report is want.
func (b *testBoard) expectReport(t *testing.T, want uint32) {
	t.Helper()
	if got := b.report(t, 0); got != want {
		t.Fatalf("guest reported %#x, want %#x", got, want)
	}
}

// expectExit waits for the run to end with the guest's debug exit status.
func (b *testBoard) expectExit(t *testing.T, status int) {
	t.Helper()
	r := b.wait(t)
	if r.err != nil || r.status != status {
		t.Fatalf("Run = %d, %v; want the guest's exit with status %d", r.status, r.err, status)
	}
}

// noLeaks checks the leak report once the run is over.
func (b *testBoard) noLeaks(t *testing.T) {
	t.Helper()
	b.wait(t)
	b.sys.Lock()
	defer b.sys.Unlock()
	b.sys.Synchronize()
	if leaks := b.reg.Leaks(); len(leaks) != 0 {
		t.Errorf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// device returns the device with the given id.
func (b *testBoard) device(t *testing.T, id string) *qom.Device {
	t.Helper()
	b.sys.Lock()
	defer b.sys.Unlock()
	dev, err := b.reg.FindDevice(id)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// kvmMap returns the running machine's KVM memory map.
func (b *testBoard) kvmMap(t *testing.T) *kvm.MemoryMap {
	t.Helper()
	mm := b.m.KVMMap()
	if mm == nil {
		t.Fatal("the machine runs without a KVM memory map")
	}
	return mm
}

// checkMap verifies, with the lock held, that the KVM slots equal the RAM
// and ROM ranges of the memory view, and returns `info mtree -f` as package
// mtree prints it with " kvm" after each range of the memory address space
// that KVM maps whole, as QEMU prints it (R-MTREEF-2 item 7).
func (b *testBoard) checkMap(t *testing.T) string {
	t.Helper()
	mm := b.kvmMap(t)
	if err := mm.Err(); err != nil {
		t.Errorf("KVM map: %v", err)
	}
	if err := mm.Compare(); err != nil {
		t.Error(err)
	}
	var text strings.Builder
	if err := mtree.WriteLocked(&text, b.sys, mtree.Options{Flat: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text.String(), "\n")
	memory := false
	for i, l := range lines {
		var first, last uint64
		var prio int
		var typ string
		if strings.HasPrefix(l, "FlatView #") || strings.HasPrefix(l, " AS ") {
			memory = l == ` AS "memory", root: system` || memory && strings.HasPrefix(l, " AS ")
		}
		if _, err := fmt.Sscanf(l, "  %x-%x (prio %d, %s", &first, &last, &prio, &typ); err != nil || !memory {
			continue
		}
		if mm.HasMemory(first, last-first+1) {
			lines[i] += " kvm"
		} else if typ != "i/o):" {
			t.Errorf("KVM does not map the memory range %s", l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestDemoGuestUnderKVM boots the demo board's guest: it checks the
// devices from the inside and prints its results on the UART.
func TestDemoGuestUnderKVM(t *testing.T) {
	needKVM(t)
	var serial syncBuffer
	m, err := board.Build(board.Demo(), &serial)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, err := m.Run()
	t.Logf("the guest ran in %v", time.Since(start))
	if err != nil || status != 0 {
		t.Fatalf("Run = %d, %v; serial:\n%s", status, err, serial.String())
	}
	out := serial.String()
	if !strings.HasPrefix(out, "guest: hello from qmem's test guest\r\n") ||
		!strings.HasSuffix(out, guest.ResultLine(guest.Checks, 0)+"\r\n") ||
		strings.Count(out, ": ok\r\n") != guest.Checks {
		t.Errorf("serial output:\n%s", out)
	}
	m.MemorySystem().Lock()
	defer m.MemorySystem().Unlock()
	m.MemorySystem().Synchronize()
	if leaks := m.Registry().Leaks(); len(leaks) != 0 {
		t.Errorf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// TestRemapWhileRunning switches the remap window from the host, under the
// machine lock, while the guest spins reading it: the guest sees RAM, then
// the flash again, and the KVM slots follow each switch by difference.
func TestRemapWhileRunning(t *testing.T) {
	b := newTestBoard(t, "remap")
	binary.LittleEndian.PutUint32(b.m.RAM().Host()[remapBase:], ramPattern)
	remap := qom.MustCast[*device.Remap](b.device(t, "remap0").Instance())
	b.start(t)

	const (
		head = "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n"
		io   = `FlatView #1
 AS "I/O", root: io
 Root memory region: io
  0000000000000000-00000000000003f7 (prio 0, i/o): io
  00000000000003f8-00000000000003ff (prio 0, i/o): serial
  0000000000000400-0000000000000500 (prio 0, i/o): io @0000000000000400
  0000000000000501-0000000000000501 (prio 0, i/o): debug-exit
  0000000000000502-00000000000005ef (prio 0, i/o): io @0000000000000502
  00000000000005f0-00000000000005f0 (prio 0, i/o): remap-ctl
  00000000000005f1-00000000000005ff (prio 0, i/o): io @00000000000005f1
  0000000000000600-0000000000000607 (prio 0, i/o): test-mailbox
  0000000000000608-000000000000ffff (prio 0, i/o): io @0000000000000608

`
		romMap = head + `  0000000000000000-00000000000dffff (prio 0, ram): ram kvm
  00000000000e0000-00000000000effff (prio 0, rom): flash kvm
  00000000000f0000-0000000000ffffff (prio 0, ram): ram @00000000000f0000 kvm
  00000000fe000000-00000000fe000fff (prio 0, i/o): testdev
  00000000ffff0000-00000000ffffffff (prio 0, romd): flash kvm

` + io
		ramMap = head + `  0000000000000000-0000000000ffffff (prio 0, ram): ram kvm
  00000000fe000000-00000000fe000fff (prio 0, i/o): testdev
  00000000ffff0000-00000000ffffffff (prio 0, romd): flash kvm

` + io
	)
	flip := func(mode int, wantMap string) {
		t.Helper()
		b.sys.Lock()
		defer b.sys.Unlock()
		mm := b.kvmMap(t)
		ops := mm.Ops()
		if err := remap.SetMode(mode); err != nil {
			t.Fatal(err)
		}
		if got := b.checkMap(t); got != wantMap {
			t.Errorf("info mtree -f after the switch to mode %d:\n%s\nwant:\n%s", mode, got, wantMap)
		}
		// ROM -> RAM: three slots go, one comes; and back.
		if n := mm.Ops() - ops; n != 4 {
			t.Errorf("the switch to mode %d took %d slot ioctls, want 4", mode, n)
		}
	}

	// spinning waits until the guest has read the window 1000 times in
	// its loop: it is in the guest, without exits, when the host switches.
	spinning := func(off int) {
		t.Helper()
		word := (*uint32)(unsafe.Pointer(&b.m.RAM().Host()[counterAddr+off]))
		for deadline := time.Now().Add(10 * time.Second); atomic.LoadUint32(word) < 1000; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the guest does not spin: %d reads", atomic.LoadUint32(word))
			}
		}
	}

	b.expectReport(t, 1) // the guest sees the flash
	b.sys.Lock()
	if got := b.checkMap(t); got != romMap {
		t.Errorf("info mtree -f:\n%s\nwant:\n%s", got, romMap)
	}
	b.sys.Unlock()
	spinning(0)
	flip(device.RemapRAM, ramMap)
	spins := b.report(t, 1)
	b.expectReport(t, 2) // the guest sees RAM
	spinning(4)
	flip(device.RemapROM, romMap)
	spins2 := b.report(t, 1)
	b.expectReport(t, 3) // the guest sees the flash again
	b.expectExit(t, 0)
	t.Logf("the guest read the window %d times before it saw RAM, %d before it saw the flash again", spins, spins2)
	if spins < 1000 || spins2 < 1000 {
		t.Errorf("the guest saw the switches after %d and %d reads; the host switched after 1000", spins, spins2)
	}
	b.noLeaks(t)
}

// TestDirtyLogOfGuestWrites logs the RAM's dirty pages (VGA client): after
// each set of guest writes, a sync shows exactly the pages written.
func TestDirtyLogOfGuestWrites(t *testing.T) {
	b := newTestBoard(t, "dirty")
	ram := b.m.RAM()
	b.sys.Lock()
	if err := ram.SetLogVGA(true); err != nil {
		t.Fatal(err)
	}
	b.sys.Unlock()
	b.start(t)
	page := func(off uint64) uint64 { return (dirtyBase + off) / memory.DirtyPageSize }
	synced := func(what string, want ...uint64) {
		t.Helper()
		b.sys.Lock()
		defer b.sys.Unlock()
		b.sys.SyncDirtyLog(nil)
		got, err := ram.DirtyPages(memory.DirtyVGA)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: dirty pages %#x, want %#x", what, got, want)
		}
		if _, err := ram.TestAndClearDirty(0, ram.Size(), memory.DirtyVGA); err != nil {
			t.Fatal(err)
		}
		if err := b.kvmMap(t).Err(); err != nil {
			t.Error(err)
		}
	}
	b.expectReport(t, 1)
	synced("first set", page(0), page(0x3000), page(0x4000), page(0xf000))
	b.box.cmd.Store(2)
	b.expectReport(t, 2)
	synced("second set", page(0x7000), page(0x10000))
	b.box.cmd.Store(3)
	b.expectExit(t, 0)
	b.noLeaks(t)
}

// TestHotUnplugWhilePolling unplugs the test device while the guest polls
// its counter: the guest then reads nothing there (0: unassigned), the
// device is finalized once, after the last callback, and nothing leaks.
func TestHotUnplugWhilePolling(t *testing.T) {
	b := newTestBoard(t, "unplug")
	dev := b.device(t, "testdev0")
	td := qom.MustCast[*device.TestDev](dev.Instance())
	b.start(t)
	for range 3 { // 3 x 1024 reads that counted
		b.report(t, 0)
	}
	b.sys.Lock()
	if err := b.reg.Unplug(dev); err != nil {
		t.Fatal(err)
	}
	if fr := b.m.Memory.View().Find(guest.TestDevBase); fr != nil {
		t.Errorf("the view still has %s at the test device's address", fr.Region)
	}
	b.sys.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.sys.WaitGrace(ctx); err != nil {
		t.Fatal(err)
	}
	b.sys.Lock()
	b.sys.Reclaim()
	b.sys.Unlock()
	for deadline := time.Now().Add(10 * time.Second); td.Finalizations() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unplugged device was not finalized")
		}
	}
	after := b.report(t, 1)
	counted := b.report(t, 1)
	b.expectExit(t, 0) // the guest checked the reads after the unplug
	t.Logf("the guest read %d counter values, then %d, then %d more times the same", counted, after, afterReads)
	if after != 0 || counted < 3*1024 {
		t.Errorf("after %d counted reads the guest read %#x; want 0 after at least %d", counted, after, 3*1024)
	}
	if n, late, early := td.Finalizations(), td.AfterFinalize(), td.FinalizedWhileInside(); n != 1 || late != 0 || early != 0 {
		t.Errorf("finalized %d times, %d callbacks after, %d finalizations during a callback; want 1, 0, 0", n, late, early)
	}
	b.noLeaks(t)
	if td.Finalizations() != 1 {
		t.Errorf("finalized %d times by the end", td.Finalizations())
	}
}

// TestSlotExhaustionUnderKVM hot-plugs RAM until KVM's slots (lowered to
// two more than the board uses) run out: the device that does not fit is
// refused and unplugged again, the VM keeps its map and its guest keeps
// running; after another unplug it fits.
func TestSlotExhaustionUnderKVM(t *testing.T) {
	b := newTestBoard(t, "count")
	counter := func() uint32 {
		return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b.m.RAM().Host()[counterAddr])))
	}
	progress := func(what string) {
		t.Helper()
		from := counter()
		for deadline := time.Now().Add(10 * time.Second); counter()-from < 100000; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the guest made no progress past %d", what, counter())
			}
		}
	}
	b.start(t)
	progress("start")

	ramDev := func(i int) *board.DeviceSpec {
		return &board.DeviceSpec{Type: device.TypeRAM, ID: fmt.Sprintf("hotram%d", i),
			Props: map[string]any{"addr": uint64(0x1000000 + i*0x100000), "size": "64K"}}
	}
	b.sys.Lock()
	mm := b.kvmMap(t)
	mm.SetLimit(len(mm.Slots()) + 2)
	var refused error
	var before []kvm.SlotInfo
	for i := 0; refused == nil; i++ {
		if i == 3 {
			t.Fatal("no hot-plug was refused")
		}
		before = mm.Slots()
		_, refused = b.m.AddDevice(ramDev(i))
	}
	if !strings.Contains(refused.Error(), "memory slots but only") || !strings.Contains(refused.Error(), "hotram2") {
		t.Errorf("AddDevice = %v; want the KVM slot budget error naming the device", refused)
	}
	if got := mm.Slots(); !slices.Equal(got, before) {
		t.Errorf("slots after the refused hot-plug:\n%+v\nwant them unchanged:\n%+v", got, before)
	}
	b.checkMap(t)
	if _, err := b.reg.FindDevice("hotram2"); err == nil {
		t.Error("the refused device is still plugged")
	}
	b.sys.Unlock()
	progress("after the refused hot-plug")

	dev := b.device(t, "hotram0")
	b.sys.Lock()
	if err := b.reg.Unplug(dev); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.AddDevice(ramDev(2)); err != nil {
		t.Errorf("AddDevice after an unplug: %v", err)
	}
	b.checkMap(t)
	b.sys.Unlock()
	progress("after the second hot-plug")
	b.m.RequestExit(0)
	b.expectExit(t, 0)
	b.noLeaks(t)
}

// TestExitHandlerNeedsNoMachineLock holds the machine lock while the guest
// reads and increments RAM that KVM cannot map (its host memory is not
// page-aligned with its guest address): every access exits as MMIO and is
// served by the exit handler, which must not need the lock.
func TestExitHandlerNeedsNoMachineLock(t *testing.T) {
	b := newTestBoard(t, "withheld")
	b.sys.Lock()
	r, err := b.sys.NewRAM(nil, "withheld", 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(r.Host(), 1000)
	if err := b.m.SystemMemory().AddSubregion(withheldAddr, r); err != nil {
		t.Fatal(err)
	}
	b.sys.Unlock()
	b.start(t)
	if v := b.report(t, 0); v != 1000 {
		t.Fatalf("the guest read %d, want 1000", v)
	}

	b.sys.Lock()
	if b.kvmMap(t).HasMemory(withheldAddr, 4) {
		t.Fatal("KVM maps the RAM the test means to reach by exits")
	}
	for want := uint32(1001); want <= 1200; want++ {
		if v := b.report(t, 0); v != want {
			t.Fatalf("the guest read %d, want %d", v, want)
		}
	}
	b.sys.Unlock()
	b.m.RequestExit(0)
	b.expectExit(t, 0)
	if v := binary.LittleEndian.Uint32(r.Host()); v < 1200 {
		t.Errorf("the RAM holds %d after the guest's increments", v)
	}
	b.noLeaks(t)
}

// TestPauseResume pauses the counting guest and resumes it.
func TestPauseResume(t *testing.T) {
	b := newTestBoard(t, "count")
	counter := func() uint32 {
		return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b.m.RAM().Host()[counterAddr])))
	}
	b.start(t)
	for deadline := time.Now().Add(10 * time.Second); counter() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the guest did not start")
		}
	}
	b.m.Pause()
	time.Sleep(10 * time.Millisecond) // the stop is asynchronous
	c := counter()
	time.Sleep(50 * time.Millisecond)
	if c2 := counter(); c2 != c || !b.m.Paused() || !b.m.Running() {
		t.Errorf("paused: counter %d -> %d, Paused %v, Running %v", c, c2, b.m.Paused(), b.m.Running())
	}
	b.m.Resume()
	for deadline := time.Now().Add(10 * time.Second); counter() == c; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the guest did not resume")
		}
	}
	b.m.RequestExit(7)
	b.expectExit(t, 7)
	if b.m.Running() {
		t.Error("Running after the run ended")
	}
	b.noLeaks(t)
}
