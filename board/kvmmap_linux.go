//go:build linux && amd64

package board

import (
	"sync/atomic"

	"qmem.dev/qmem/kvm"
)

type kvmMapHolder = atomic.Pointer[kvm.MemoryMap]
