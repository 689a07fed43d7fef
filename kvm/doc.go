// Package kvm is qmem's Linux KVM backend: it opens /dev/kvm, creates a VM,
// maps host memory into the guest through memory slots, creates vCPUs and
// runs them, handing every port I/O and MMIO exit to an [ExitHandler].
//
// Everything goes through ioctl(2) and mmap(2) via golang.org/x/sys/unix; there
// is no cgo. The package builds on linux/amd64 only (x86 register and segment
// setup, KVM_SET_TSS_ADDR); on other platforms it is empty.
//
// # Objects
//
//   - [NewVM] opens /dev/kvm, checks the API version (12), reads the
//     capabilities ([Caps]) and creates a VM. The VM owns its memory slots
//     ([VM.SetSlot], [VM.DeleteSlot], [VM.GetDirtyLog]) and its vCPUs
//     ([VM.NewVCPU]).
//   - A [VCPU] is run by [VCPU.Run], which returns only when the guest halts,
//     fails, is stopped by [VCPU.Stop] or an exit handler returns an error.
//
// # Threading model
//
// One goroutine per vCPU. [VCPU.Run] locks its goroutine to the current OS
// thread (runtime.LockOSThread) for as long as it runs, and records that
// thread's id so that [VCPU.Stop] can kick it. Exits are handled on that
// thread: the [ExitHandler] is called synchronously from Run, with the vCPU
// outside the guest, so a handler may read and write the vCPU's exit data and
// may change memory slots, but it must not call Run on the same vCPU.
//
// [VCPU.Stop] is the one VCPU method that may be called from any goroutine at
// any time, also concurrently with Run. It sets kvm_run.immediate_exit and
// sends SIGURG to the vCPU's thread: a thread inside KVM_RUN leaves the guest
// with EINTR, a thread about to enter it returns at once. Go's runtime already
// sends SIGURG to its threads for preemption and ignores the ones it did not
// ask for, so the signal needs no handler of ours; Run tells a stop apart from
// those by a flag. The other VCPU methods (registers, Close) must not be
// called while Run is in progress; they return an error if they are.
//
// VM methods are safe for concurrent use, including from exit handlers.
//
// # Memory
//
// [VM.AttachMemory] makes the VM's slots follow an address space of package
// memory: a [MemoryMap] is a memory listener that turns the RAM and ROM
// ranges of each new flat view into slots, by difference (QEMU's KVM memory
// listener), with a slot budget, read-only slots for ROMs and readonly
// ranges, and dirty logging synced into the memory system's bitmaps. A
// [RunGate] keeps vCPUs out of the guest while a commit replaces slots, so
// that a vCPU never runs on a half-updated map.
//
// # Errors
//
// Every failed ioctl is reported with its name and arguments and wraps the
// errno, so errors.Is(err, unix.EEXIST) works. The end of a run is reported as
// an error value: [ErrStopped] after [VCPU.Stop], an [*ExitError] for HLT,
// shutdown, entry failures and internal errors (with a register dump), or the
// handler's own error. The run loop allocates nothing per exit.
package kvm
