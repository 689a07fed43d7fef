package mtree

import (
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// appendOwner appends the suffix `info mtree -o` prints after a region line
// (SPEC R-MTREE-11, QEMU's mtree_print_mr_owner): " orphan" for a region
// with neither owner nor QOM parent; otherwise " owner:{...}" when it has an
// owner, then " parent:{...}" when it has a QOM parent other than the
// owner. The QOM parent is memory_region_owner's answer (R-MRQOM-6):
// /machine/unattached for a named ownerless region, none for an unnamed one.
func appendOwner(b []byte, r *memory.Region) []byte {
	owner, parent := r.Owner(), r.QOMParent()
	if owner == nil && parent == nil {
		return append(b, " orphan"...)
	}
	if owner != nil {
		b = append(b, " owner:"...)
		b = appendObjRef(b, owner)
	}
	if parent != nil && parent != owner {
		b = append(b, " parent:"...)
		b = appendObjRef(b, parent)
	}
	return b
}

// appendObjRef appends QEMU's mtree_expand_owner text for o: "{dev" for a
// device, else "{obj"; then " id=<id>" for a device with an id, else
// " path=<canonical path>" when o is in the composition tree, else
// " type=<type name>"; then "}".
func appendObjRef(b []byte, o *qom.Object) []byte {
	dev := qom.AsDevice(o)
	if dev != nil {
		b = append(b, "{dev"...)
	} else {
		b = append(b, "{obj"...)
	}
	switch path := o.CanonicalPath(); {
	case dev != nil && dev.ID() != "":
		b = append(b, " id="...)
		b = append(b, dev.ID()...)
	case path != "":
		b = append(b, " path="...)
		b = append(b, path...)
	default:
		b = append(b, " type="...)
		b = append(b, o.TypeName()...)
	}
	return append(b, '}')
}
