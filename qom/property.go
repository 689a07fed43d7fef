package qom

import (
	"fmt"
	"strings"
)

// Property is one named, typed property of an object or class (R-PROP-1).
// Hooks left nil mean "not readable", "not writable", "not a path component",
// "nothing to release" and "no class default".
//
// Values crossing Get and Set are JSON-compatible: nil, bool, string,
// int64 / uint64 (Set also accepts the other Go integer types, float64 with an
// integral value and json.Number), []any and map[string]any.
type Property struct {
	Name        string
	Type        string // e.g. "bool", "uint64", "child<device>", "link<memory-region>"
	Description string

	Get func(o *Object, p *Property) (any, error)
	Set func(o *Object, p *Property, v any) error
	// Parse sets the property from its string form (QEMU's
	// object_property_parse); nil means "Set with the string itself".
	Parse func(o *Object, p *Property, s string) error
	// Resolve returns the object the property leads to as a path component
	// (child, link, alias), or nil.
	Resolve func(o *Object, p *Property) *Object
	// Release runs once when the property is deleted or its object is
	// finalized (R-FIN-2).
	Release func(o *Object, p *Property)
	// Init applies a class property's default to a new instance (R-PROP-7).
	Init func(o *Object, p *Property)

	Default    any // the default value, when HasDefault
	HasDefault bool

	// Opaque is the property kind's private data (a child's object, a link's
	// slot, an alias's target).
	Opaque any
}

// propTable is an insertion-ordered table of properties. QEMU's tables are
// hash tables (unspecified order); qmem's order is insertion order, which is
// deterministic and a valid instance of QEMU's.
type propTable struct {
	list  []*Property
	index map[string]*Property
}

func (t *propTable) find(name string) *Property {
	if t.index == nil {
		return nil
	}
	return t.index[name]
}

func (t *propTable) add(p *Property) {
	if t.index == nil {
		t.index = make(map[string]*Property)
	}
	t.index[p.Name] = p
	t.list = append(t.list, p)
}

func (t *propTable) remove(p *Property) {
	delete(t.index, p.Name)
	for i, q := range t.list {
		if q == p {
			t.list = append(t.list[:i:i], t.list[i+1:]...)
			return
		}
	}
}

// FindProperty looks name up: class properties first, from the root-most
// ancestor class down to o's class, then o's instance properties (R-PROP-2).
func (o *Object) FindProperty(name string) *Property {
	if p := o.class.FindProperty(name); p != nil {
		return p
	}
	return o.props.find(name)
}

// AddProperty adds an instance property and returns it. A name ending in
// "[*]" is auto-numbered: the first free "<base>[N]" is used and p.Name is
// updated (R-PROP-3). A name already used by a class or instance property is
// an error (R-PROP-2); so is adding to a dying object.
func (o *Object) AddProperty(p *Property) (*Property, error) {
	if !o.Alive() {
		return nil, &FinalizedError{Object: o.String(), Op: "AddProperty"}
	}
	if base, ok := strings.CutSuffix(p.Name, "[*]"); ok {
		for i := 0; ; i++ {
			n := fmt.Sprintf("%s[%d]", base, i)
			if o.FindProperty(n) == nil {
				p.Name = n
				break
			}
		}
	}
	if o.FindProperty(p.Name) != nil {
		return nil, errorf("attempt to add duplicate property '%s' to object (type '%s')", p.Name, o.TypeName())
	}
	o.props.add(p)
	return p, nil
}

// DelProperty releases and removes an instance property (R-PROP-6).
func (o *Object) DelProperty(name string) error {
	p := o.props.find(name)
	if p == nil {
		return errorf("Property '%s.%s' not found", o.TypeName(), name)
	}
	if p.Release != nil {
		p.Release(o, p)
	}
	o.props.remove(p)
	return nil
}

// Properties lists o's properties: instance properties, then o's class's,
// then each ancestor class's (R-PROP-4). Each table is in insertion order.
func (o *Object) Properties() []*Property {
	out := append([]*Property(nil), o.props.list...)
	for k := o.class; k != nil; k = k.parent {
		out = append(out, k.props.list...)
	}
	return out
}

// ClassProperties lists the class properties of c and its ancestors (what
// qom-list-properties reports for a type), leaf class first.
func (c *Class) Properties() []*Property {
	var out []*Property
	for k := c; k != nil; k = k.parent {
		out = append(out, k.props.list...)
	}
	return out
}

func (o *Object) propertyFor(name string) (*Property, error) {
	p := o.FindProperty(name)
	if p == nil {
		return nil, errorf("Property '%s.%s' not found", o.TypeName(), name)
	}
	return p, nil
}

// GetProperty reads a property as a JSON-compatible value (R-PROP-5).
func (o *Object) GetProperty(name string) (any, error) {
	p, err := o.propertyFor(name)
	if err != nil {
		return nil, err
	}
	if p.Get == nil {
		return nil, errorf("Property '%s.%s' is not readable", o.TypeName(), name)
	}
	return p.Get(o, p)
}

// SetProperty writes a property from a JSON-compatible value (R-PROP-5). On
// error the property keeps its old value.
func (o *Object) SetProperty(name string, v any) error {
	if !o.Alive() {
		return &FinalizedError{Object: o.String(), Op: "SetProperty"}
	}
	p, err := o.propertyFor(name)
	if err != nil {
		return err
	}
	if p.Set == nil {
		return errorf("Property '%s.%s' is not writable", o.TypeName(), name)
	}
	return p.Set(o, p, v)
}

// ParseProperty sets a property from its string form, parsed according to
// the property's type (QEMU's object_property_parse: "on"/"off" for bool,
// "0x10" for integers, "128M" for sizes).
func (o *Object) ParseProperty(name, s string) error {
	if !o.Alive() {
		return &FinalizedError{Object: o.String(), Op: "ParseProperty"}
	}
	p, err := o.propertyFor(name)
	if err != nil {
		return err
	}
	if p.Set == nil {
		return errorf("Property '%s.%s' is not writable", o.TypeName(), name)
	}
	if p.Parse != nil {
		return p.Parse(o, p, s)
	}
	return p.Set(o, p, s)
}

// PrintProperty returns a property's value in string form (QEMU's
// object_property_print): strings raw, other values as JSON.
func (o *Object) PrintProperty(name string) (string, error) {
	v, err := o.GetProperty(name)
	if err != nil {
		return "", err
	}
	return formatValue(v), nil
}
