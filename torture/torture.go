// Package torture drives a running qmem machine through random topology
// and lifetime operations while reader goroutines access its address spaces,
// and checks after every operation that the views are right and that nothing
// leaks or is finalized too early.
//
// Operations come from a PCG generator seeded with Config.Seed, so the same
// seed gives the same sequence of operations (the readers' timing is not
// reproducible, and need not be: what they may observe is checked by
// invariants, not by a trace).
package torture

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// Config says what to run.
type Config struct {
	Ops     int    // number of operations
	Readers int    // reader goroutines
	Seed    uint64 // operation sequence
	Board   string // built-in board name or YAML file; "" = demo
	// KVM runs the board's guest under KVM meanwhile (again and again), when
	// KVM is available.
	KVM bool
	// Progress, when set, is called after every operation.
	Progress func(done, total int)
	// Source, when set, replaces the seeded generator of operations (the
	// fuzz target feeds its input through it).
	Source rand.Source
}

// Report is the outcome of a run.
type Report struct {
	Ops, Readers int
	Seed         uint64
	Leaked       int    // leak-report entries found (after unplugs and at the end)
	Mismatches   int    // views that differed from the brute-force resolver
	Errors       int    // operations that failed unexpectedly, finalizer violations
	First        string // the first failure, with the operation number
	Accesses     uint64 // reader accesses performed
	Commits      uint64
	Renders      uint64
	Plugs        int
	Unplugs      int
	GuestRuns    int // guest boots completed under KVM
	Elapsed      time.Duration
}

// Line is the one-line summary.
func (r Report) Line() string {
	return fmt.Sprintf("torture: %d ops, %d readers, %d leaked, %d mismatches, %d errors",
		r.Ops, r.Readers, r.Leaked, r.Mismatches, r.Errors)
}

// Failed reports whether anything went wrong.
func (r Report) Failed() bool { return r.Leaked+r.Mismatches+r.Errors > 0 }

// Layout of the playground in system memory.
const (
	playBase    = 0x1_0000_0000 // torture regions live in a container here
	playSize    = 1 << 24
	testdevBase = 0xfd00_0000 // hot-plugged test devices, one page each
	testdevSlot = 0x1000
	testdevMax  = 64
	ramBase     = 0x2_0000_0000 // hot-plugged RAM, 1 MiB apart
	ramSlot     = 1 << 20
	ramMax      = 32
)

type state struct {
	cfg Config
	rng *rand.Rand
	m   *board.Machine
	sys *memory.System
	reg *qom.Registry

	play    *memory.Region
	regions []*memory.Region // regions made by the run, alive
	spaces  []*memory.AddressSpace
	plugged map[string]*qom.Device
	dead    []*device.TestDev // unplugged test devices, checked at the end
	nextID  int

	spaceList atomic.Pointer[[]*memory.AddressSpace] // what readers read
	rep       Report
	op        int
}

// Run builds the board, starts the readers (and the guest), performs the
// operations and returns what it found. An error is returned only when the
// run could not start.
func Run(cfg Config) (Report, error) {
	if cfg.Board == "" {
		cfg.Board = "demo"
	}
	spec, err := board.Load(cfg.Board)
	if err != nil {
		return Report{}, err
	}
	m, err := board.Build(spec, nil)
	if err != nil {
		return Report{}, err
	}
	st := &state{
		cfg:     cfg,
		rng:     rand.New(source(cfg)),
		m:       m,
		sys:     m.MemorySystem(),
		reg:     m.Registry(),
		plugged: map[string]*qom.Device{},
	}
	st.rep = Report{Ops: cfg.Ops, Readers: cfg.Readers, Seed: cfg.Seed}
	start := time.Now()
	st.sys.Lock()
	st.play, err = st.sys.NewContainer(nil, "torture", playSize)
	if err == nil {
		err = m.SystemMemory().AddSubregion(playBase, st.play)
	}
	st.publishSpaces()
	st.sys.Unlock()
	if err != nil {
		return Report{}, err
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var accesses atomic.Uint64
	for i := 0; i < cfg.Readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st.reader(uint64(i), stop, &accesses)
		}(i)
	}
	guestDone := make(chan int, 1)
	if cfg.KVM {
		go st.guest(stop, guestDone)
	} else {
		guestDone <- 0
	}

	for st.op = 1; st.op <= cfg.Ops; st.op++ {
		st.sys.Lock()
		st.step()
		st.sys.Unlock()
		if cfg.Progress != nil {
			cfg.Progress(st.op, cfg.Ops)
		}
	}
	close(stop)
	m.RequestExit(0) // ends a guest boot in progress
	m.Resume()
	wg.Wait()
	st.rep.GuestRuns = <-guestDone

	st.sys.Lock()
	st.finish()
	stats := st.sys.Stats()
	st.sys.Unlock()
	st.rep.Accesses = accesses.Load()
	st.rep.Commits, st.rep.Renders = stats.Commits, stats.Renders
	st.rep.Elapsed = time.Since(start)
	return st.rep, nil
}

func source(cfg Config) rand.Source {
	if cfg.Source != nil {
		return cfg.Source
	}
	return rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)
}

func (st *state) fail(kind *int, format string, args ...any) {
	*kind++
	if st.rep.First == "" {
		st.rep.First = fmt.Sprintf("op %d (seed %d): %s", st.op, st.cfg.Seed, fmt.Sprintf(format, args...))
	}
}

// publishSpaces gives the readers the current list of spaces.
func (st *state) publishSpaces() {
	list := []*memory.AddressSpace{st.m.Memory, st.m.IO}
	list = append(list, st.spaces...)
	st.spaceList.Store(&list)
}

// verify checks every live space against the brute-force resolver.
func (st *state) verify() {
	for _, as := range st.sys.AddressSpaces() {
		if err := memory.Verify(as); err != nil {
			st.fail(&st.rep.Mismatches, "%v", err)
			return
		}
	}
}

// checkLeaks waits out the grace period, releases what it held and
// reports any leak.
func (st *state) checkLeaks() {
	st.sys.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := st.sys.WaitGrace(ctx)
	cancel()
	st.sys.Lock()
	if err != nil {
		st.fail(&st.rep.Errors, "grace period did not end: %v", err)
		return
	}
	st.sys.Reclaim()
	if leaks := st.reg.Leaks(); len(leaks) > 0 {
		st.rep.Leaked += len(leaks)
		if st.rep.First == "" {
			st.rep.First = fmt.Sprintf("op %d (seed %d): leak: %s", st.op, st.cfg.Seed, leaks[0].String())
		}
	}
}

// finish unplugs everything the run plugged and checks the finalizers.
func (st *state) finish() {
	for _, id := range sortedKeys(st.plugged) {
		st.unplug(id)
	}
	st.checkLeaks()
	for _, t := range st.dead {
		if !t.Finalized() {
			st.fail(&st.rep.Errors, "test device %s was never finalized", t)
		}
		if n := t.AfterFinalize(); n > 0 {
			st.fail(&st.rep.Errors, "a callback of %s ran %d times after its finalization", t, n)
		}
		if n := t.FinalizedWhileInside(); n > 0 {
			st.fail(&st.rep.Errors, "%s was finalized while a reader was inside it", t)
		}
	}
}
