//go:build linux && amd64

package kvm

import (
	"sync"
	"sync/atomic"
)

// RunGate keeps vCPUs out of the guest while a MemoryMap replaces slots
// (SetGate), QEMU's accel_ioctl_inhibit_begin/end: a vCPU run through the
// gate (RunGate.Run) is inside it from the moment it may enter the guest
// until Run returns or an exit reaches the handler; the map closes the gate,
// kicks the vCPUs with VCPU.Stop, waits until none is inside, changes the
// slots and opens the gate again. A vCPU whose exit handler returns while
// the gate is closed waits before it re-enters the guest.
//
// Exit handlers run outside the gate, so a handler may wait for the
// machine lock while a commit holding it waits for the gate: no deadlock.
//
// The kick is a Stop: Run returns ErrStopped, which callers of RunGate.Run
// must treat as "run again unless I asked for the stop myself" (a board's
// run loop already does, for pause and exit requests).
type RunGate struct {
	rw   sync.RWMutex // read-held by vCPUs inside the gate, write-held while closed
	shut atomic.Bool  // closed, or closing

	mu   sync.Mutex
	cond *sync.Cond
	cpus map[*VCPU]int // vCPUs in Run, so the map can kick them
}

// NewRunGate returns an open gate.
func NewRunGate() *RunGate {
	g := &RunGate{cpus: map[*VCPU]int{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Run runs c like VCPU.Run, through the gate. It returns what c.Run
// returns; ErrStopped may come from the gate's kick.
func (g *RunGate) Run(c *VCPU, h ExitHandler) error {
	g.mu.Lock()
	g.cpus[c]++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.cpus[c]--; g.cpus[c] == 0 {
			delete(g.cpus, c)
		}
		g.mu.Unlock()
	}()
	g.enter()
	defer g.rw.RUnlock()
	return c.Run(gatedHandler{g: g, h: h})
}

// enter waits until the gate is open and read-locks it.
func (g *RunGate) enter() {
	for {
		g.rw.RLock()
		if !g.shut.Load() {
			return
		}
		g.rw.RUnlock()
		g.mu.Lock()
		for g.shut.Load() {
			g.cond.Wait()
		}
		g.mu.Unlock()
	}
}

// inhibit closes the gate and returns once no vCPU is inside.
func (g *RunGate) inhibit() {
	g.mu.Lock()
	g.shut.Store(true) // before the kicks: a vCPU kicked too early sees it in enter
	cpus := make([]*VCPU, 0, len(g.cpus))
	for c := range g.cpus {
		cpus = append(cpus, c)
	}
	g.mu.Unlock()
	for _, c := range cpus {
		c.Stop()
	}
	g.rw.Lock()
}

// release opens the gate.
func (g *RunGate) release() {
	g.rw.Unlock()
	g.mu.Lock()
	g.shut.Store(false)
	g.cond.Broadcast()
	g.mu.Unlock()
}

// gatedHandler leaves the gate for the duration of each exit.
type gatedHandler struct {
	g *RunGate
	h ExitHandler
}

// PIO and MMIO enter the gate again by defer, so that a panicking handler
// leaves the gate as Run's own defer expects it.

func (gh gatedHandler) PIO(port uint16, data []byte, write bool) error {
	gh.g.rw.RUnlock()
	defer gh.g.enter()
	return gh.h.PIO(port, data, write)
}

func (gh gatedHandler) MMIO(addr uint64, data []byte, write bool) error {
	gh.g.rw.RUnlock()
	defer gh.g.enter()
	return gh.h.MMIO(addr, data, write)
}
