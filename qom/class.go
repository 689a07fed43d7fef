package qom

import "reflect"

// Class is the per-type part shared by all instances of a type: its place in
// the hierarchy, its interface classes, its class properties and a table of
// class "methods" (values set by class_init and inherited by copy, like the
// function pointers of a QEMU class struct).
//
// A Class is built once, lazily; after its class_init returns it is only read.
type Class struct {
	reg      *Registry
	typ      *typeImpl
	name     string // type name, or "<T>::<iface>" for interface classes
	parent   *Class
	abstract bool
	newFn    func() Instance
	goType   reflect.Type // type of newFn's values

	props   propTable
	methods map[string]any

	isInterface bool
	ifaces      []*Class // interface classes of a concrete class
	iface       *Class   // for an interface class: the interface type's own class
	concrete    *Class   // for an interface class: the class that implements it
}

// Name returns the class's name: the type name, or "<T>::<iface>" for the
// interface class of T (R-CLASS-2).
func (c *Class) Name() string { return c.name }

// TypeName returns the name of the class's type.
func (c *Class) TypeName() string { return c.typ.info.Name }

// Parent returns the parent class, nil for the roots.
func (c *Class) Parent() *Class { return c.parent }

// Abstract reports whether instances of the class cannot be created.
func (c *Class) Abstract() bool { return c.abstract }

// SetMethod stores a class method (or any class-level value) under key.
// Descendant classes initialized later start with a copy (R-CLASS-2 step 2).
// Only class_init hooks should call it.
func (c *Class) SetMethod(key string, v any) { c.methods[key] = v }

// Method returns the class method stored under key, or nil.
func (c *Class) Method(key string) any { return c.methods[key] }

// Interface returns the class's own interface class for the named interface
// (or a descendant of it), nil if the class does not implement it or if the
// match is ambiguous (R-CAST-2).
func (c *Class) Interface(name string) *Class {
	got := c.Cast(name)
	if got == nil || !got.isInterface {
		return nil
	}
	return got
}

// Cast returns c itself when c's type is name or descends from it, the
// interface class when name is an interface c implements, otherwise nil
// (R-CAST-1, R-CAST-2).
func (c *Class) Cast(name string) *Class {
	return c.castLocked(name)
}

func (c *Class) castLocked(name string) *Class {
	if c.isA(name) {
		return c
	}
	var found *Class
	for _, ic := range c.ifaces {
		if ic.iface.isA(name) {
			if found != nil {
				return nil // ambiguous
			}
			found = ic
		}
	}
	return found
}

// isA reports whether c's type is name or a descendant of it.
func (c *Class) isA(name string) bool {
	for k := c; k != nil; k = k.parent {
		if k.typ.info.Name == name {
			return true
		}
	}
	return false
}

// ancestry returns the classes from the root down to c.
func (c *Class) ancestry() []*Class {
	var chain []*Class
	for k := c; k != nil; k = k.parent {
		chain = append(chain, k)
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

// AddProperty adds a class property (R-PROP-2): every instance has it, and
// it is looked up before instance properties. It fails if the class or one
// of its ancestors already has a property of that name.
func (c *Class) AddProperty(p *Property) error {
	for k := c; k != nil; k = k.parent {
		if k.props.find(p.Name) != nil {
			return errorf("attempt to add duplicate property '%s' to class (type '%s')", p.Name, c.name)
		}
	}
	c.props.add(p)
	return nil
}

// MustAddProperty is AddProperty for class_init hooks, where a duplicate is a
// programming error: it panics.
func (c *Class) MustAddProperty(p *Property) {
	if err := c.AddProperty(p); err != nil {
		panic(err)
	}
}

// FindProperty looks a class property up in c and its ancestors, root-most
// first (R-PROP-2). It does not allocate.
func (c *Class) FindProperty(name string) *Property {
	var found *Property
	for k := c; k != nil; k = k.parent {
		if p := k.props.find(name); p != nil {
			found = p
		}
	}
	return found
}

// OwnProperties returns the properties the class itself added (not its
// ancestors'), in the order they were added.
func (c *Class) OwnProperties() []*Property { return append([]*Property(nil), c.props.list...) }
