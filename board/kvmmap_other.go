//go:build !(linux && amd64)

package board

type kvmMapHolder struct{}

// acceleratorErr is nil: there is no accelerator on this platform.
func (m *Machine) acceleratorErr() error { return nil }
