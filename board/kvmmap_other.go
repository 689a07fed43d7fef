//go:build !(linux && amd64)

package board

import "qmem.dev/qmem/memory"

type kvmMapHolder struct{}

// acceleratorErr is nil: there is no accelerator on this platform.
func (m *Machine) acceleratorErr() error { return nil }

// AccelHasMemory is false: there is no accelerator on this platform.
func (m *Machine) AccelHasMemory(*memory.AddressSpace, uint64, uint64) (string, bool) {
	return "", false
}

// AccelRunning is false: there is no accelerator on this platform.
func (m *Machine) AccelRunning() bool { return false }
