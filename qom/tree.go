package qom

import "fmt"

// Built-in type names of the standard tree.
const (
	TypeMachine       = "machine"        // abstract base of machine types
	TypeBus           = "bus"            // abstract base of buses
	TypeSystemBus     = "System"         // the machine's sysbus (R-TREE-2)
	TypeUserCreatable = "user-creatable" // interface of object-add types (R-INST-6)
)

func registerBuiltins(r *Registry) {
	r.mustRegister(TypeInfo{Name: TypeMachine, Parent: TypeObject, Abstract: true})
	r.mustRegister(TypeInfo{Name: TypeBus, Parent: TypeObject, Abstract: true})
	r.mustRegister(TypeInfo{Name: TypeSystemBus, Parent: TypeBus})
	r.mustRegister(TypeInfo{Name: TypeUserCreatable, Parent: TypeInterface, Abstract: true})
	registerDevice(r)
}

// Root returns the root object "/", creating it on first use with its
// standard children audiodevs, backend, chardevs and objects (R-TREE-1).
func (r *Registry) Root() *Object {
	if r.root != nil {
		return r.root
	}
	root := r.MustNew(TypeContainer).QOM()
	r.root = root
	for _, n := range []string{"audiodevs", "backend", "chardevs", "objects"} {
		r.mustAddContainer(root, n)
	}
	return root
}

// InternalRoot returns a container that is not part of the composition
// tree (QEMU's object_get_internal_root, R-TREE-1): objects placed under it
// have no canonical path and cannot be found by path resolution, yet the
// leak report counts them as reachable. It is created on first use.
func (r *Registry) InternalRoot() *Object {
	if r.internalRoot == nil {
		r.internalRoot = r.MustNew(TypeContainer).QOM()
	}
	return r.internalRoot
}

func (r *Registry) mustAddContainer(parent *Object, name string) *Object {
	c := r.MustNew(TypeContainer).QOM()
	if _, err := parent.AddChild(name, c); err != nil {
		panic(err)
	}
	c.Unref()
	return c
}

// Container returns the object at the absolute path, creating missing
// components as containers (QEMU's container_get).
func (r *Registry) Container(path string) (*Object, error) {
	o := r.Root()
	for _, part := range splitPath(path) {
		next := o.Child(part)
		if next == nil {
			if o.FindProperty(part) != nil {
				return nil, errorf("'%s' in %s is not a child", part, o)
			}
			c := r.MustNew(TypeContainer)
			if _, err := o.AddChild(part, c); err != nil {
				c.QOM().Unref()
				return nil, err
			}
			c.QOM().Unref()
			next = c.QOM()
		}
		o = next
	}
	return o, nil
}

// NewMachine creates "/machine" of the given machine type with its children
// unattached, peripheral and peripheral-anon (containers) and
// unattached/sysbus (R-TREE-2). There can be one machine per registry.
func (r *Registry) NewMachine(typeName string) (Instance, error) {
	root := r.Root()
	if root.Child("machine") != nil {
		return nil, errorf("the registry already has a machine")
	}
	c, err := r.Class(typeName)
	if err != nil || c.Cast(TypeMachine) == nil {
		return nil, errorf("invalid machine type: %s", typeName)
	}
	m, err := r.New(typeName)
	if err != nil {
		return nil, err
	}
	mo := m.QOM()
	if _, err := root.AddChild("machine", m); err != nil {
		mo.Unref()
		return nil, err
	}
	mo.Unref()
	unattached := r.mustAddContainer(mo, "unattached")
	r.mustAddContainer(mo, "peripheral")
	r.mustAddContainer(mo, "peripheral-anon")
	sysbus := r.MustNew(TypeSystemBus)
	if _, err := unattached.AddChild("sysbus", sysbus); err != nil {
		panic(err)
	}
	sysbus.QOM().Unref()
	return m, nil
}

// Machine returns "/machine", or nil before NewMachine.
func (r *Registry) Machine() *Object { return r.Root().Child("machine") }

func (r *Registry) machineContainer(name string) (*Object, error) {
	m := r.Machine()
	if m == nil {
		return nil, errorf("no machine: create one with NewMachine first")
	}
	return m.Child(name), nil
}

// Unattached returns "/machine/unattached", where ownerless objects are
// placed, or nil before NewMachine.
func (r *Registry) Unattached() *Object {
	c, _ := r.machineContainer("unattached")
	return c
}

// mustPlace adds o as child "<base>[N]" of parent using the counter.
func mustPlace(parent *Object, base string, counter *int, o Instance) error {
	name := fmt.Sprintf("%s[%d]", base, *counter)
	if _, err := parent.AddChild(name, o); err != nil {
		return err
	}
	*counter++
	return nil
}
