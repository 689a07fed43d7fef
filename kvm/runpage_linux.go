//go:build linux && amd64

package kvm

import (
	"sync/atomic"
	"unsafe"
)

// runPage overlays the start of struct kvm_run, the area KVM shares with
// userspace for each vCPU (mmap of the vCPU fd at offset 0). Offsets were
// checked against <linux/kvm.h> with offsetof.
type runPage struct {
	requestInterruptWindow     uint8 // offset 0; never set by this package
	immediateExit              uint8 // offset 1; see setImmediateExit
	_                          [6]uint8
	exitReason                 uint32 // offset 8
	readyForInterruptInjection uint8
	ifFlag                     uint8
	flags                      uint16
	cr8                        uint64
	apicBase                   uint64
	exit                       [256]byte // offset 32: the union of exit details
}

// ioExit is kvm_run.io (KVM_EXIT_IO). The data, size*count bytes, lies at
// dataOffset from the start of the kvm_run area (the PIO page).
type ioExit struct {
	direction  uint8 // ioIn or ioOut
	size       uint8 // bytes per access: 1, 2 or 4
	port       uint16
	count      uint32 // accesses: more than 1 for string I/O (INS/OUTS with REP)
	dataOffset uint64
}

const (
	ioIn  = 0
	ioOut = 1
)

// mmioExit is kvm_run.mmio (KVM_EXIT_MMIO).
type mmioExit struct {
	physAddr uint64
	data     [8]byte
	len      uint32
	isWrite  uint8
}

// internalExit is kvm_run.internal (KVM_EXIT_INTERNAL_ERROR).
type internalExit struct {
	suberror uint32
	ndata    uint32
	data     [16]uint64
}

// failEntryExit is kvm_run.fail_entry (KVM_EXIT_FAIL_ENTRY); also read as
// kvm_run.hw (KVM_EXIT_UNKNOWN), whose only field is at the same offset.
type failEntryExit struct {
	hardwareReason uint64
	cpu            uint32
}

// exceptionExit is kvm_run.ex (KVM_EXIT_EXCEPTION).
type exceptionExit struct {
	exception uint32
	errorCode uint32
}

// systemEventExit is kvm_run.system_event (KVM_EXIT_SYSTEM_EVENT).
type systemEventExit struct {
	typ   uint32
	ndata uint32
	data  [16]uint64
}

func (p *runPage) io() *ioExit               { return (*ioExit)(unsafe.Pointer(&p.exit)) }
func (p *runPage) mmio() *mmioExit           { return (*mmioExit)(unsafe.Pointer(&p.exit)) }
func (p *runPage) internal() *internalExit   { return (*internalExit)(unsafe.Pointer(&p.exit)) }
func (p *runPage) failEntry() *failEntryExit { return (*failEntryExit)(unsafe.Pointer(&p.exit)) }
func (p *runPage) exception() *exceptionExit { return (*exceptionExit)(unsafe.Pointer(&p.exit)) }
func (p *runPage) systemEvent() *systemEventExit {
	return (*systemEventExit)(unsafe.Pointer(&p.exit))
}

// setImmediateExit sets kvm_run.immediate_exit (1 or 0) with one atomic
// store, so that it is ordered with the stop flag (see VCPU.Stop). The store
// covers bytes 0-3, which hold immediate_exit and request_interrupt_window;
// the latter is always 0 here.
func (p *runPage) setImmediateExit(v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), v<<8)
}

// runPageOf returns the overlay of a mapped kvm_run area.
func runPageOf(run []byte) *runPage {
	if len(run) < int(unsafe.Sizeof(runPage{})) {
		panic("kvm: kvm_run area smaller than struct kvm_run")
	}
	return (*runPage)(unsafe.Pointer(&run[0]))
}
