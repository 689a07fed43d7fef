package qom

import "strings"

// Link is the storage of a link<> property: a pointer to another object. A
// device embeds one Link per link property and passes its address to AddLink.
// The zero value is an empty link.
type Link struct{ target *Object }

// Target returns the linked object, or nil.
func (l *Link) Target() *Object { return l.target }

// Init stores target in the slot directly, with no reference counting, type
// check or veto: the assignment QEMU code makes before adding a link
// property over the slot (R-LINK-3), typically for read-only links.
//
// Preconditions: no link property uses the slot yet. A strong link property
// added over it afterwards assumes the slot carries one reference on target
// and drops it when the link changes or is released, so the caller hands
// such a reference over with the slot.
func (l *Link) Init(target *Object) { l.target = target }

// LinkCheck may veto setting a link property to target (nil when clearing).
type LinkCheck func(o *Object, name string, target *Object) error

// AllowSetLink is a LinkCheck that accepts every target (R-LINK-5).
func AllowSetLink(*Object, string, *Object) error { return nil }

// linkData is the Opaque of a link<> property.
type linkData struct {
	targetType string
	slot       func(*Object) *Link
	check      LinkCheck
	strong     bool
	constant   *Object // for const links
}

// get returns the link's target; a weak link whose target has been
// finalized reads as empty (QEMU would dangle).
func (d *linkData) get(o *Object) *Object {
	t := d.constant
	if d.slot != nil {
		t = d.slot(o).target
	}
	if t != nil && t.state.Load() == stateFinalized {
		return nil
	}
	return t
}

// AddLink adds a link<targetType> property stored in slot (R-LINK-1). With
// a nil check the link is read-only. A strong link holds a reference on its
// target; whatever slot already points to is assumed to carry one (R-LINK-3).
func (o *Object) AddLink(name, targetType string, slot *Link, check LinkCheck, strong bool) (*Property, error) {
	return o.AddProperty(newLinkProperty(name, targetType, func(*Object) *Link { return slot }, check, strong))
}

// LinkProperty returns a link property for use as a class property: slot
// finds the Link inside each instance (R-LINK-5).
func LinkProperty(name, targetType string, slot func(*Object) *Link, check LinkCheck, strong bool) *Property {
	return newLinkProperty(name, targetType, slot, check, strong)
}

// AddConstLink adds a read-only, non-strong link to a fixed target
// (R-LINK-5).
func (o *Object) AddConstLink(name string, target *Object) (*Property, error) {
	if target == nil {
		return nil, errorf("constant link '%s' needs a target", name)
	}
	p := newLinkProperty(name, target.TypeName(), nil, nil, false)
	p.Opaque.(*linkData).constant = target
	return o.AddProperty(p)
}

func newLinkProperty(name, targetType string, slot func(*Object) *Link, check LinkCheck, strong bool) *Property {
	d := &linkData{targetType: targetType, slot: slot, check: check, strong: strong}
	p := &Property{
		Name:   name,
		Type:   "link<" + targetType + ">",
		Opaque: d,
		Get: func(o *Object, p *Property) (any, error) {
			t := d.get(o)
			if t == nil {
				return "", nil
			}
			return t.CanonicalPath(), nil
		},
		Resolve: func(o *Object, _ *Property) *Object { return d.get(o) },
	}
	if check != nil && slot != nil {
		p.Set = func(o *Object, p *Property, v any) error {
			path, ok := v.(string)
			if !ok {
				return invalidType(p.Name, "string")
			}
			return setLinkPath(o, p, d, path)
		}
	}
	if strong && slot != nil {
		p.Release = func(o *Object, _ *Property) {
			l := d.slot(o)
			if t := l.target; t != nil {
				l.target = nil
				t.Unref()
			}
		}
	}
	return p
}

// setLinkPath is R-LINK-2: resolve, check, then swap.
func setLinkPath(o *Object, p *Property, d *linkData, path string) error {
	var target *Object
	if path != "" {
		var err error
		target, err = o.reg.resolveLinkTarget(p.Name, path, d.targetType)
		if err != nil {
			return err
		}
	}
	return setLinkTarget(o, p, d, target)
}

// setLinkTarget runs the check, then swaps the slot; a strong link
// references the new target before releasing the old one (R-LINK-2).
func setLinkTarget(o *Object, p *Property, d *linkData, target *Object) error {
	if err := d.check(o, p.Name, target); err != nil {
		return err
	}
	l := d.slot(o)
	old := l.target
	if d.strong && target != nil {
		if err := target.TryRef(); err != nil {
			return err
		}
	}
	l.target = target
	if d.strong && old != nil {
		old.Unref()
	}
	return nil
}

// resolveLinkTarget is QEMU's object_resolve_link: the errors name the path
// except the wrong-type one, which names the property.
func (r *Registry) resolveLinkTarget(name, path, typ string) (*Object, error) {
	t, ambiguous := r.ResolvePathType(path, typ)
	if t != nil {
		return t, nil
	}
	if ambiguous {
		return nil, errorf("Path '%s' does not uniquely identify an object", path)
	}
	if other, amb := r.ResolvePathType(path, TypeObject); other != nil || amb {
		return nil, invalidType(name, typ)
	}
	return nil, &Error{Class: DeviceNotFound, Msg: "Device '" + path + "' not found"}
}

// SetLink points the link property name at target (nil clears it) through
// target's canonical path, as QEMU's object_property_set_link does. Unlike
// QEMU (R-LINK-4), a target outside the composition tree is an error rather
// than a silent clear; SetLinkTarget accepts such targets.
func (o *Object) SetLink(name string, target *Object) error {
	path := ""
	if target != nil {
		path = target.CanonicalPath()
		if path == "" {
			return errorf("cannot link '%s' to %s: it is not in the composition tree", name, target)
		}
	}
	return o.SetProperty(name, path)
}

// SetLinkTarget points the link property name at target (nil clears it)
// without going through a path, so the target need not be in the
// composition tree: this is how an object links its own parts while it is
// being built, before it is placed. The target must be of the link's target
// type; the property's check runs, and a strong link references the new
// target before releasing the old one (R-LINK-2). Aliases of links are
// followed.
func (o *Object) SetLinkTarget(name string, target *Object) error {
	if !o.Alive() {
		return &FinalizedError{Object: o.String(), Op: "SetLinkTarget"}
	}
	p, err := o.propertyFor(name)
	if err != nil {
		return err
	}
	lo, lp := followAlias(o, p)
	d, ok := lp.Opaque.(*linkData)
	if !ok {
		return errorf("Property '%s.%s' is not a link", o.TypeName(), name)
	}
	if d.check == nil || d.slot == nil {
		return errorf("Property '%s.%s' is not writable", o.TypeName(), name)
	}
	if target != nil && !target.Alive() {
		return &FinalizedError{Object: target.String(), Op: "SetLinkTarget"}
	}
	if target != nil && !target.IsA(d.targetType) {
		return invalidType(name, d.targetType)
	}
	return setLinkTarget(lo, lp, d, target)
}

// GetLink returns the target of the link property name (nil when empty).
func (o *Object) GetLink(name string) (*Object, error) {
	p, err := o.propertyFor(name)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(p.Type, "link<") || p.Resolve == nil {
		return nil, errorf("Property '%s.%s' is not a link", o.TypeName(), name)
	}
	return p.Resolve(o, p), nil
}

// strongLinkTarget returns the target held by p through a strong link, or
// nil. Used by the leak report.
func strongLinkTarget(o *Object, p *Property) *Object {
	d, ok := p.Opaque.(*linkData)
	if !ok || !d.strong || d.slot == nil {
		return nil
	}
	return d.slot(o).target
}
