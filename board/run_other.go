//go:build !(linux && amd64)

package board

import "fmt"

// Run reports that KVM is not available on this platform.
func (m *Machine) Run() (int, error) {
	return 0, fmt.Errorf("%w: qmem's KVM backend needs linux/amd64", ErrNoKVM)
}
