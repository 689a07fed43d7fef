//go:build linux && amd64

package board

import (
	"sync/atomic"

	"qmem.dev/qmem/kvm"
)

type kvmMapHolder = atomic.Pointer[kvm.MemoryMap]

// acceleratorErr returns the error of the KVM memory map's last commit while
// the machine runs under KVM: non-nil when the VM could not follow a change
// of the memory map. Requires the memory system's lock.
func (m *Machine) acceleratorErr() error {
	if mm := m.kvmMap.Load(); mm != nil {
		return mm.Err()
	}
	return nil
}
