package qom

import (
	"strings"
)

// childData is the Opaque of a child<> property.
type childData struct{ child *Object }

// AddChild makes child a child of o under the property name, of type
// child<T> with T child's type (R-CHILD-1). o takes a reference on child. A
// name ending in "[*]" is auto-numbered (R-PROP-3); the property returned
// carries the name used. It fails, changing nothing, when child already has
// a parent (R-CHILD-2; QEMU asserts), when child is o or one of its
// ancestors, when either object is dying or dead, or when the name is empty
// or contains '/'.
func (o *Object) AddChild(name string, child Instance) (*Property, error) {
	c := child.QOM()
	switch {
	case !c.Alive():
		return nil, &FinalizedError{Object: c.String(), Op: "AddChild"}
	case !o.Alive():
		return nil, &FinalizedError{Object: o.String(), Op: "AddChild"}
	case c.reg != o.reg:
		return nil, errorf("object %s belongs to another registry", c)
	case c.parent != nil:
		return nil, errorf("object %s already has a parent (%s)", c, c.parent)
	case c == o || o.hasAncestor(c):
		return nil, errorf("object %s cannot be a child of its own descendant %s", c, o)
	case name == "" || strings.Contains(name, "/"):
		return nil, errorf("invalid child name '%s'", name)
	}
	p := &Property{
		Name:   name,
		Type:   "child<" + c.TypeName() + ">",
		Opaque: &childData{child: c},
		Get: func(_ *Object, p *Property) (any, error) {
			return p.Opaque.(*childData).child.CanonicalPath(), nil
		},
		Resolve: func(_ *Object, p *Property) *Object { return p.Opaque.(*childData).child },
		Release: releaseChild,
	}
	p, err := o.AddProperty(p)
	if err != nil {
		return nil, err
	}
	c.Ref()
	c.parent = o
	c.parentProp = p.Name
	c.lastPath = ""
	return p, nil
}

func (o *Object) hasAncestor(a *Object) bool {
	for p := o.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

// releaseChild is R-UNP-1 steps (a) to (c): the child's unparent behaviour
// runs while it is still listed in its parent and still has its parent set,
// then the link is cut and the parent's reference dropped (which may finalize
// the child).
func releaseChild(_ *Object, p *Property) {
	c := p.Opaque.(*childData).child
	if u, ok := c.self.(unparenter); ok {
		u.qomUnparent()
	}
	if u, ok := c.self.(UnparentHook); ok {
		u.OnUnparent()
	}
	c.reg.runDetachHooks(c)
	if path := c.CanonicalPath(); path != "" {
		c.lastPath = path
	}
	c.parent = nil
	c.parentProp = ""
	c.Unref()
}

// unparenter is implemented by the package's own types with behaviour at
// unparent time (devices unrealize, R-UNP-2).
type unparenter interface{ qomUnparent() }

// UnparentHook is implemented by object types with work of their own to do
// when they are removed from their parent (QEMU's ObjectClass.unparent,
// R-UNP-1). OnUnparent runs while the object is still listed in its parent
// and Parent still returns it, before the parent's reference is dropped. For
// a device it runs after the device has been unrealized (R-UNP-2). It may
// unparent the object's own children and delete properties of its parent.
type UnparentHook interface{ OnUnparent() }

// Parent returns o's parent in the composition tree, or nil.
func (o *Object) Parent() *Object { return o.parent }

// Unparent removes o from its parent (R-UNP-1): a no-op without a parent.
// The parent's reference is dropped, which finalizes o if nothing else holds
// it.
func (o *Object) Unparent() {
	if o.parent == nil {
		return
	}
	if err := o.parent.DelProperty(o.parentProp); err != nil {
		panic("qom: parent of " + o.String() + " lost its child property: " + err.Error())
	}
}

// Child returns o's child held under the property name, or nil.
func (o *Object) Child(name string) *Object {
	p := o.props.find(name)
	if p == nil {
		return nil
	}
	if cd, ok := p.Opaque.(*childData); ok {
		return cd.child
	}
	return nil
}

// Children returns o's children in property order (R-PROP-4's
// object_child_foreach).
func (o *Object) Children() []*Object {
	var out []*Object
	for _, p := range o.props.list {
		if cd, ok := p.Opaque.(*childData); ok {
			out = append(out, cd.child)
		}
	}
	return out
}

// WalkChildren calls fn for every descendant of o in pre-order (R-PROP-4's
// recursive foreach); fn returning false stops the walk.
func (o *Object) WalkChildren(fn func(*Object) bool) bool {
	for _, c := range o.Children() {
		if !fn(c) || !c.WalkChildren(fn) {
			return false
		}
	}
	return true
}

// AddDetachHook registers fn to run whenever an object of r is unparented
// or a device of r is unrealized, before the object loses its parent. The
// memory system uses it to take a dying owner's regions out of other owners'
// containers (DESIGN L4). Hooks must tolerate running more than once for the
// same object.
func (r *Registry) AddDetachHook(fn func(*Object)) {
	r.mu.Lock()
	r.detachHooks = append(r.detachHooks, fn)
	r.mu.Unlock()
}

func (r *Registry) runDetachHooks(o *Object) {
	r.mu.Lock()
	hooks := append([]func(*Object){}, r.detachHooks...)
	r.mu.Unlock()
	for _, h := range hooks {
		h(o)
	}
}
