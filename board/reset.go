package board

// ResetExit forgets a previous debug exit, so that Run can boot the guest
// again.
func (m *Machine) ResetExit() {
	m.exitReq.Store(false)
	m.status.Store(0)
}
