package qom_test

// The scenarios of QEMU's tests/unit/check-qom-interface.c, re-expressed: a
// type implementing an interface sets a field of its own interface class in
// its class_init; an object of that type, and of a subtype that declares
// nothing, casts to the interface and its interface class carries the value.

import (
	"testing"

	"qmem.dev/qmem/qom"
)

const (
	typeTestIface    = "test-interface"
	typeDirectImpl   = "direct-impl"
	typeIntermediate = "intermediate-impl"
	ifacePattern     = uint32(0xFAFBFCFD)
)

func registerIfaceTypes(t *testing.T, r *qom.Registry) {
	t.Helper()
	// Not marked abstract: an interface is abstract anyway (R-TYPE-6).
	register(t, r, qom.TypeInfo{Name: typeTestIface, Parent: qom.TypeInterface})
	register(t, r, qom.TypeInfo{Name: typeDirectImpl, Parent: qom.TypeObject,
		Interfaces: []string{typeTestIface},
		ClassInit: func(c *qom.Class, _ any) {
			ic := c.Interface(typeTestIface)
			if ic == nil {
				panic("no interface class in class_init")
			}
			ic.SetMethod("test", ifacePattern)
		}})
	register(t, r, qom.TypeInfo{Name: typeIntermediate, Parent: typeDirectImpl})
}

// check-qom-interface direct_impl, intermediate_impl (R-CLASS-2, R-CAST-1,
// R-CAST-2).
func TestInterfaceImpl(t *testing.T) {
	for _, typ := range []string{typeDirectImpl, typeIntermediate} {
		t.Run(typ, func(t *testing.T) {
			r := newReg(t)
			registerIfaceTypes(t, r)
			o := newObj(t, r, typ)
			defer o.Unref()
			iobj := o.CheckCast(typeTestIface) // panics if not an instance
			if iobj != o {
				t.Fatal("interface cast returned another object")
			}
			ic := o.Class().Interface(typeTestIface)
			if ic == nil {
				t.Fatal("no interface class")
			}
			if got := ic.Method("test"); got != ifacePattern {
				t.Fatalf("interface class field = %v, want %#x", got, ifacePattern)
			}
			if ic.Name() != typ+"::"+typeTestIface {
				t.Fatalf("interface class name %s", ic.Name())
			}
		})
	}
}
