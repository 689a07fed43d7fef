package qom

import (
	"fmt"
	"sort"
)

// UserCreatable is implemented by the Go values of types that have a
// completion step after their properties are set (QEMU's
// UserCreatableClass.complete). It is called only for types that implement
// the interface type "user-creatable" (TypeUserCreatable).
type UserCreatable interface{ Complete() error }

// Deletable is implemented by object-add types that can refuse deletion
// (QEMU's UserCreatableClass.can_be_deleted).
type Deletable interface{ CanBeDeleted() bool }

// IDWellFormed reports whether id is a valid user id: letters, digits, '-',
// '.' and '_', starting with a letter (QEMU's id_wellformed).
func IDWellFormed(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(c >= '0' && c <= '9') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// complete runs the user-creatable completion of inst, if its type
// implements "user-creatable" and its Go value has a Complete method.
func complete(inst Instance) error {
	if !inst.QOM().IsA(TypeUserCreatable) {
		return nil
	}
	if uc, ok := inst.(UserCreatable); ok {
		return uc.Complete()
	}
	return nil
}

// adopt makes the new object inst (holding only its creation reference)
// child name of parent, completes it, and drops the creation reference. On
// success parent holds the only reference (R-CHILD-3); on failure the
// object is unparented and finalized.
func adopt(parent *Object, name string, inst Instance) error {
	o := inst.QOM()
	defer o.Unref()
	if _, err := parent.AddChild(name, inst); err != nil {
		return err
	}
	if err := complete(inst); err != nil {
		o.Unparent()
		return err
	}
	return nil
}

// NewChild creates an object of the named type as child name of parent
// (QEMU's object_new followed by object_property_add_child and
// object_unref). The result is borrowed from parent, whose child property
// holds its only reference (R-CHILD-3). A name ending in "[*]" is
// auto-numbered (R-PROP-3).
func (r *Registry) NewChild(parent *Object, name, typeName string) (Instance, error) {
	inst, err := r.New(typeName)
	if err != nil {
		return nil, err
	}
	if err := adopt(parent, name, inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// InitializeChild is QEMU's object_initialize_child (R-INST-4): it
// initializes inst, a zero value the caller allocated (typically a field of
// the parent's own struct), as typeName, adds it as child name of parent,
// completes it if it is user-creatable (unparenting it on failure) and drops
// the creation reference, so that parent holds the only reference.
func (r *Registry) InitializeChild(parent *Object, name string, inst Instance, typeName string) error {
	if err := r.Initialize(inst, typeName); err != nil {
		return err
	}
	return adopt(parent, name, inst)
}

// NewWithProps is QEMU's object_new_with_props (R-INST-5): it creates an
// object of the named type, sets the properties given as name, value pairs
// from their string forms (ParseProperty) in the order given, adds it as
// child id of parent and completes it if it is user-creatable. The result
// is borrowed from parent. With a nil parent the object is returned with
// its creation reference, which the caller owns. On any error nothing is
// left behind.
func (r *Registry) NewWithProps(typeName string, parent *Object, id string, props ...string) (Instance, error) {
	if len(props)%2 != 0 {
		return nil, errorf("property '%s' has no value", props[len(props)-1])
	}
	if _, err := r.instantiableClass(typeName); err != nil {
		return nil, err
	}
	inst, err := r.New(typeName)
	if err != nil {
		return nil, err
	}
	o := inst.QOM()
	for i := 0; i < len(props); i += 2 {
		if err := o.ParseProperty(props[i], props[i+1]); err != nil {
			o.Unref()
			return nil, err
		}
	}
	if parent == nil {
		if err := complete(inst); err != nil {
			o.Unref()
			return nil, err
		}
		return inst, nil
	}
	if err := adopt(parent, id, inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// AddUserObject is object-add as QMP does it (R-INST-6): it creates an
// object of the type, sets props from JSON-compatible values (in sorted key
// order, so failures are deterministic), places it at /objects/<id>, and
// completes it. The result is borrowed from /objects. On any error nothing
// is left behind.
func (r *Registry) AddUserObject(typeName, id string, props map[string]any) (Instance, error) {
	return r.addUserObject(typeName, id, sortedKeys(props), func(o *Object, k string) error {
		return o.SetProperty(k, props[k])
	})
}

// AddUserObjectFromStrings is object-add as the -object command line does
// it: like AddUserObject, but every value is a string parsed according to
// its property's type ("on", "4k", "0x10"), as ParseProperty does.
func (r *Registry) AddUserObjectFromStrings(typeName, id string, props map[string]string) (Instance, error) {
	return r.addUserObject(typeName, id, sortedKeys(props), func(o *Object, k string) error {
		return o.ParseProperty(k, props[k])
	})
}

func (r *Registry) addUserObject(typeName, id string, keys []string, set func(*Object, string) error) (Instance, error) {
	if !IDWellFormed(id) {
		return nil, errorf("Parameter 'id' expects an identifier")
	}
	c, err := r.Class(typeName)
	if err != nil {
		return nil, errorf("invalid object type: %s", typeName)
	}
	if c.Cast(TypeUserCreatable) == nil {
		return nil, errorf("object type '%s' isn't supported by object-add", typeName)
	}
	inst, err := r.New(typeName)
	if err != nil {
		return nil, err
	}
	o := inst.QOM()
	for _, k := range keys {
		if err := set(o, k); err != nil {
			o.Unref()
			return nil, err
		}
	}
	if err := adopt(r.Root().Child("objects"), id, inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// DelUserObject is object-del: it refuses an object in use (R-INST-6),
// otherwise unparents /objects/<id>.
func (r *Registry) DelUserObject(id string) error {
	o := r.Root().Child("objects").Child(id)
	if o == nil {
		return errorf("object '%s' not found", id)
	}
	if d, ok := o.self.(Deletable); ok && !d.CanBeDeleted() {
		return errorf("object '%s' is in use, can not be deleted", id)
	}
	o.Unparent()
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CheckCast is a checked cast by type name (QEMU's OBJECT_CHECK family,
// R-CAST-3): it returns o when o is a typeName (R-CAST-1) and panics with
// "Object <o> is not an instance of type <typeName>" otherwise.
func (o *Object) CheckCast(typeName string) *Object {
	if !o.IsA(typeName) {
		panic(fmt.Sprintf("Object %s is not an instance of type %s", o, typeName))
	}
	return o
}
