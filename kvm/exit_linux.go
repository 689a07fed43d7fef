//go:build linux && amd64

package kvm

import (
	"fmt"
	"strings"
)

// ExitReason is kvm_run.exit_reason, why KVM_RUN returned to userspace.
type ExitReason uint32

// The exit reasons of x86 KVM (KVM_EXIT_*). Run serves IO and MMIO through
// the ExitHandler and Intr itself; every other reason ends Run with an
// *ExitError.
const (
	ExitUnknown       ExitReason = 0
	ExitException     ExitReason = 1
	ExitIO            ExitReason = 2
	ExitHypercall     ExitReason = 3
	ExitDebug         ExitReason = 4
	ExitHLT           ExitReason = 5
	ExitMMIO          ExitReason = 6
	ExitIRQWindowOpen ExitReason = 7
	ExitShutdown      ExitReason = 8
	ExitFailEntry     ExitReason = 9
	ExitIntr          ExitReason = 10
	ExitSetTPR        ExitReason = 11
	ExitTPRAccess     ExitReason = 12
	ExitNMI           ExitReason = 16
	ExitInternalError ExitReason = 17
	ExitSystemEvent   ExitReason = 24
)

var exitReasonNames = map[ExitReason]string{
	ExitUnknown: "UNKNOWN", ExitException: "EXCEPTION", ExitIO: "IO",
	ExitHypercall: "HYPERCALL", ExitDebug: "DEBUG", ExitHLT: "HLT", ExitMMIO: "MMIO",
	ExitIRQWindowOpen: "IRQ_WINDOW_OPEN", ExitShutdown: "SHUTDOWN",
	ExitFailEntry: "FAIL_ENTRY", ExitIntr: "INTR", ExitSetTPR: "SET_TPR",
	ExitTPRAccess: "TPR_ACCESS", ExitNMI: "NMI", ExitInternalError: "INTERNAL_ERROR",
	ExitSystemEvent: "SYSTEM_EVENT",
}

// String returns KVM's name without the KVM_EXIT_ prefix, e.g. "HLT".
func (r ExitReason) String() string {
	if s, ok := exitReasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("exit reason %d", uint32(r))
}

// internalErrorNames names the KVM_INTERNAL_ERROR_* suberrors.
var internalErrorNames = map[uint32]string{
	1: "emulation failure",
	2: "simultaneous exceptions",
	3: "unexpected exit while delivering an event",
	4: "unexpected exit reason",
}

// ExitError is how Run reports an exit it cannot serve: which exit, its
// details and the vCPU's registers at that point.
type ExitError struct {
	VCPU   int        // the vCPU's id
	Reason ExitReason // kvm_run.exit_reason
	// Suberror is the INTERNAL_ERROR suberror (KVM_INTERNAL_ERROR_*) or the
	// SYSTEM_EVENT type (KVM_SYSTEM_EVENT_*).
	Suberror uint32
	// HardwareReason is FAIL_ENTRY's hardware_entry_failure_reason,
	// UNKNOWN's hardware_exit_reason, or EXCEPTION's exception number.
	HardwareReason uint64
	// Data holds INTERNAL_ERROR's and SYSTEM_EVENT's data words, FAIL_ENTRY's
	// host CPU, or EXCEPTION's error code.
	Data []uint64

	Regs  Regs  // general registers at the exit
	Sregs Sregs // segment and control registers at the exit
	// RegsErr says why Regs and Sregs are zero, if they could not be read.
	RegsErr error
}

// Error says what happened in one line; for reasons other than HLT the lines
// after it dump the registers.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kvm: vcpu %d: %v", e.VCPU, e.Reason)
	switch e.Reason {
	case ExitInternalError:
		name := internalErrorNames[e.Suberror]
		if name == "" {
			name = "unknown"
		}
		fmt.Fprintf(&b, " (suberror %d: %s", e.Suberror, name)
		if len(e.Data) > 0 {
			fmt.Fprintf(&b, "; data %#x", e.Data)
		}
		b.WriteString(")")
	case ExitFailEntry:
		fmt.Fprintf(&b, " (hardware entry failure reason %#x", e.HardwareReason)
		if len(e.Data) > 0 {
			fmt.Fprintf(&b, " on host cpu %d", e.Data[0])
		}
		b.WriteString(")")
	case ExitUnknown:
		fmt.Fprintf(&b, " (hardware exit reason %#x)", e.HardwareReason)
	case ExitException:
		fmt.Fprintf(&b, " (exception %d, error code %#x)", e.HardwareReason, e.Data)
	case ExitSystemEvent:
		fmt.Fprintf(&b, " (type %d, data %#x)", e.Suberror, e.Data)
	}
	if e.RegsErr != nil {
		fmt.Fprintf(&b, "; registers unavailable: %v", e.RegsErr)
		return b.String()
	}
	fmt.Fprintf(&b, " at rip=%#x", e.Regs.RIP)
	if e.Reason != ExitHLT {
		b.WriteString("\n")
		b.WriteString(dumpRegs(&e.Regs, &e.Sregs))
	}
	return b.String()
}

// exitError builds the ExitError for the exit in the run page. Called by Run
// only, with the vCPU out of the guest.
func (c *VCPU) exitError() *ExitError {
	p := c.page
	e := &ExitError{VCPU: c.id, Reason: ExitReason(p.exitReason)}
	switch e.Reason {
	case ExitInternalError:
		in := p.internal()
		e.Suberror = in.suberror
		e.Data = append([]uint64(nil), in.data[:min(int(in.ndata), len(in.data))]...)
	case ExitFailEntry:
		f := p.failEntry()
		e.HardwareReason = f.hardwareReason
		e.Data = []uint64{uint64(f.cpu)}
	case ExitUnknown:
		e.HardwareReason = p.failEntry().hardwareReason
	case ExitException:
		x := p.exception()
		e.HardwareReason = uint64(x.exception)
		e.Data = []uint64{uint64(x.errorCode)}
	case ExitSystemEvent:
		s := p.systemEvent()
		e.Suberror = s.typ
		e.Data = append([]uint64(nil), s.data[:min(int(s.ndata), len(s.data))]...)
	}
	var err error
	if e.Regs, err = getRegs(c.fd); err == nil {
		e.Sregs, err = getSregs(c.fd)
	}
	e.RegsErr = err
	return e
}
