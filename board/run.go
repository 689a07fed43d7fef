package board

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNoKVM wraps the reason KVM cannot be used on this host.
var ErrNoKVM = errors.New("KVM is not available")

// errGuestExit ends a vCPU's run when the guest asked to exit.
var errGuestExit = errors.New("board: guest requested exit")

// runState is the pause/resume state shared by the vCPU loops and the
// monitor.
type runState struct {
	mu      sync.Mutex
	cond    *sync.Cond
	paused  bool
	running bool
	stops   []func()
}

func (r *runState) init() { r.cond = sync.NewCond(&r.mu) }

// Pause stops every vCPU as soon as possible and keeps them stopped until
// Resume. It does not wait and must not be called with the memory lock held
// by a caller that then waits for the vCPUs.
func (m *Machine) Pause() {
	r := &m.run
	r.mu.Lock()
	r.paused = true
	stops := append([]func(){}, r.stops...)
	r.mu.Unlock()
	for _, s := range stops {
		s()
	}
}

// Resume lets paused vCPUs run again.
func (m *Machine) Resume() {
	r := &m.run
	r.mu.Lock()
	r.paused = false
	r.cond.Broadcast()
	r.mu.Unlock()
}

// Paused reports whether the machine is paused.
func (m *Machine) Paused() bool {
	m.run.mu.Lock()
	defer m.run.mu.Unlock()
	return m.run.paused
}

// Running reports whether vCPUs are running (or paused inside Run).
func (m *Machine) Running() bool {
	m.run.mu.Lock()
	defer m.run.mu.Unlock()
	return m.run.running
}

// waitWhilePaused blocks while the machine is paused; it reports false if
// the machine should stop instead.
func (m *Machine) waitWhilePaused() bool {
	r := &m.run
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.paused && !m.exitReq.Load() {
		r.cond.Wait()
	}
	return !m.exitReq.Load()
}

// GuestError describes how a guest run ended when it did not use the
// debug-exit port.
type GuestError struct{ Err error }

func (e *GuestError) Error() string {
	return fmt.Sprintf("guest ended without a debug exit: %v", e.Err)
}
func (e *GuestError) Unwrap() error { return e.Err }
