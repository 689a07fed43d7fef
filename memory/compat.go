package memory

// qemuCompat switches off, one by one, the protections qmem adds to QEMU's
// lifetime rules, so that regression tests can show the leak QEMU has in
// each shape and the chain the leak report prints for it (leakshape_test.go).
// Programs never set them: there is no exported way to.
type qemuCompat struct {
	// sameOwnerRefs makes a container reference a subregion's owner even
	// when it is its own owner: QEMU before v10.2.0 (SPEC C-1).
	sameOwnerRefs bool
	// noDetach skips DESIGN L4: an unplugged device's regions stay in
	// containers of other owners, as in QEMU where each device must delete
	// them by hand.
	noDetach bool
}
