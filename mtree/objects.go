package mtree

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

// Types of the placeholder objects Build creates for the owners a dump
// names: only their kind (device or not), id and place in the tree show in
// `info mtree -o`, so one generic type of each kind serves.
const (
	TypeDumpMachine = "qmem-dump-machine" // the machine at /machine
	TypeDumpDevice  = "qmem-dump-device"  // a device owner ({dev ...})
	TypeDumpObject  = "qmem-dump-object"  // any other owner ({obj ...})
)

// registerDumpTypes registers the placeholder types in reg.
func registerDumpTypes(reg *qom.Registry) error {
	for _, t := range []qom.TypeInfo{
		{Name: TypeDumpMachine, Parent: qom.TypeMachine},
		{Name: TypeExampleMachine, Parent: qom.TypeMachine},
		{Name: TypeDumpDevice, Parent: qom.TypeDevice},
		{Name: TypeDumpObject, Parent: qom.TypeObject},
	} {
		if reg.HasType(t.Name) {
			continue
		}
		if err := reg.Register(t); err != nil {
			return err
		}
	}
	return nil
}

// owners creates the objects that the -o suffixes of a dump name and finds
// them again by their printed reference.
type owners struct {
	reg  *qom.Registry
	objs map[dump.ObjRef]*qom.Object
	// loose are the objects outside the composition tree ({... type=T});
	// owners holds their creation reference.
	loose []*qom.Object
}

// refDepth orders references for creation: ids first (they sit at
// /machine/peripheral/<id> and paths may go through them), then paths by
// depth so that a parent exists before its children, then types.
func refDepth(r dump.ObjRef) int {
	switch r.Key {
	case "id":
		return 0
	case "path":
		return 1 + strings.Count(r.Value, "/")
	}
	return 1 << 30
}

// create makes an object for every reference in refs:
//   - {dev id=X}: a device added with id X at /machine/peripheral/X;
//   - {dev path=P} and {obj path=P}: the object already at P when its kind
//     fits (/machine, /machine/unattached, ...), else a new device or object
//     at P, missing ancestors being created as containers;
//   - {dev type=T} and {obj type=T}: an object of type T outside the tree
//     (T is registered as a device or object type when unknown).
//
// An {obj id=...} reference, a kind that contradicts an existing object, or
// a name QOM refuses is an error.
func (o *owners) create(refs []dump.ObjRef) error {
	sort.SliceStable(refs, func(i, j int) bool { return refDepth(refs[i]) < refDepth(refs[j]) })
	for _, ref := range refs {
		if _, ok := o.objs[ref]; ok {
			continue
		}
		obj, err := o.make(ref)
		if err != nil {
			return fmt.Errorf("owner %s: %w", ref, err)
		}
		o.objs[ref] = obj
	}
	return nil
}

func (o *owners) make(ref dump.ObjRef) (*qom.Object, error) {
	typ := TypeDumpObject
	if ref.Dev {
		typ = TypeDumpDevice
	}
	switch ref.Key {
	case "id":
		if !ref.Dev {
			return nil, fmt.Errorf("only devices have ids")
		}
		inst, err := o.reg.New(typ)
		if err != nil {
			return nil, err
		}
		defer inst.QOM().Unref()
		if err := o.reg.AddDevice(inst, ref.Value); err != nil {
			return nil, err
		}
		return inst.QOM(), nil
	case "path":
		if !strings.HasPrefix(ref.Value, "/") || ref.Value == "/" || strings.HasSuffix(ref.Value, "/") || strings.Contains(ref.Value, "//") {
			return nil, fmt.Errorf("%q is not a canonical path", ref.Value)
		}
		if obj, _ := o.reg.ResolvePath(ref.Value); obj != nil && obj.CanonicalPath() == ref.Value {
			if (qom.AsDevice(obj) != nil) != ref.Dev {
				return nil, fmt.Errorf("the object at %s is a %s", ref.Value, kindWord(obj))
			}
			return obj, nil
		}
		parent, err := o.reg.Container(path.Dir(ref.Value))
		if err != nil {
			return nil, err
		}
		inst, err := o.reg.NewChild(parent, path.Base(ref.Value), typ)
		if err != nil {
			return nil, err
		}
		if inst.QOM().CanonicalPath() != ref.Value {
			return nil, fmt.Errorf("created at %s instead", inst.QOM().CanonicalPath())
		}
		return inst.QOM(), nil
	case "type":
		if !o.reg.HasType(ref.Value) {
			if !qom.ValidTypeName(ref.Value) {
				return nil, fmt.Errorf("invalid type name %q", ref.Value)
			}
			if err := o.reg.Register(qom.TypeInfo{Name: ref.Value, Parent: typ}); err != nil {
				return nil, err
			}
		}
		inst, err := o.reg.New(ref.Value)
		if err != nil {
			return nil, err
		}
		obj := inst.QOM()
		if (qom.AsDevice(obj) != nil) != ref.Dev {
			obj.Unref()
			return nil, fmt.Errorf("type %s makes a %s", ref.Value, kindWord(obj))
		}
		o.loose = append(o.loose, obj)
		return obj, nil
	}
	return nil, fmt.Errorf("unknown key %q", ref.Key)
}

func kindWord(o *qom.Object) string {
	if qom.AsDevice(o) != nil {
		return "device"
	}
	return "non-device object"
}
