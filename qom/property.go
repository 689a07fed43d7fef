package qom

import (
	"math"
	"strconv"
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

	// releasing is set on an instance property once its release has begun,
	// so that a release hook deleting the same property (a child unparenting
	// itself from its unparent hook) does not release it twice.
	releasing bool
}

// propTable is an insertion-ordered table of properties. QEMU's tables are
// hash tables (unspecified order); qmem's order is insertion order, which is
// deterministic and a valid instance of QEMU's.
type propTable struct {
	list  []*Property
	index map[string]*Property
	next  map[string]int // auto-numbering hint per "<base>[*]": lower indices are taken
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

// firstReleasable returns the first property with a release hook whose
// release has not begun.
func (t *propTable) firstReleasable() *Property {
	for _, p := range t.list {
		if p.Release != nil && !p.releasing {
			return p
		}
	}
	return nil
}

func (t *propTable) remove(p *Property) {
	if t.index[p.Name] == p {
		delete(t.index, p.Name)
	}
	if base, i, ok := splitIndexed(p.Name); ok && t.next != nil && i < t.next[base] {
		t.next[base] = i // that index is free again
	}
	for i, q := range t.list {
		if q == p {
			t.list = append(t.list[:i:i], t.list[i+1:]...)
			return
		}
	}
}

// nextIndex returns the lowest index of "<base>[N]" that may be free.
func (t *propTable) nextIndex(base string) int { return t.next[base] }

func (t *propTable) setNextIndex(base string, i int) {
	if t.next == nil {
		t.next = map[string]int{}
	}
	t.next[base] = i
}

// splitIndexed splits "<base>[N]" into base and N.
func splitIndexed(name string) (string, int, bool) {
	if !strings.HasSuffix(name, "]") {
		return "", 0, false
	}
	open := strings.LastIndexByte(name, '[')
	if open < 0 {
		return "", 0, false
	}
	i, err := strconv.Atoi(name[open+1 : len(name)-1])
	if err != nil || i < 0 {
		return "", 0, false
	}
	return name[:open], i, true
}

// FindProperty looks name up: class properties first, from the root-most
// ancestor class down to o's class, then o's instance properties (R-PROP-2).
func (o *Object) FindProperty(name string) *Property {
	if p := o.class.FindProperty(name); p != nil {
		return p
	}
	return o.props.find(name)
}

// AddProperty adds an instance property and returns it. p must be a fresh
// value that no other object or class uses. A name ending in
// "[*]" is auto-numbered: the first free "<base>[N]" is used and p.Name is
// updated (R-PROP-3). A name already used by a class or instance property is
// an error (R-PROP-2); so is adding to a dying object.
func (o *Object) AddProperty(p *Property) (*Property, error) {
	if !o.Alive() {
		return nil, &FinalizedError{Object: o.String(), Op: "AddProperty"}
	}
	if base, ok := strings.CutSuffix(p.Name, "[*]"); ok {
		// Indices below the table's hint are taken (see remove), so the
		// search starts there: adding n children "x[*]" costs O(n), not
		// O(n^2).
		for i := o.props.nextIndex(base); ; i++ {
			n := base + "[" + strconv.Itoa(i) + "]"
			if o.FindProperty(n) == nil {
				p.Name = n
				o.props.setNextIndex(base, i+1)
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

// DelProperty releases and removes an instance property (R-PROP-6). Class
// properties cannot be deleted. Deleting a property whose release is already
// running (from within that release) does nothing.
func (o *Object) DelProperty(name string) error {
	p := o.props.find(name)
	if p == nil {
		return errorf("Property '%s.%s' not found", o.TypeName(), name)
	}
	o.releaseProperty(p)
	return nil
}

// releaseProperty runs p's release hook once and removes p from o's
// instance table.
func (o *Object) releaseProperty(p *Property) {
	if p.releasing {
		return
	}
	p.releasing = true
	if p.Release != nil {
		p.Release(o, p)
	}
	o.props.remove(p)
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

// GetProperty reads a property as a JSON-compatible value (R-PROP-5). It
// fails on an object whose finalization has completed (reading from the
// object's own finalize hooks is allowed).
func (o *Object) GetProperty(name string) (any, error) {
	if o.state.Load() == stateFinalized {
		return nil, &FinalizedError{Object: o.String(), Op: "GetProperty"}
	}
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

// GetBool reads a property whose value is a bool (QEMU's
// object_property_get_bool).
func (o *Object) GetBool(name string) (bool, error) {
	v, err := o.GetProperty(name)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, invalidType(name, "boolean")
	}
	return b, nil
}

// GetString reads a property whose value is a string (QEMU's
// object_property_get_str).
func (o *Object) GetString(name string) (string, error) {
	v, err := o.GetProperty(name)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", invalidType(name, "string")
	}
	return s, nil
}

// GetInt reads a property whose value is an integer that fits int64 (QEMU's
// object_property_get_int).
func (o *Object) GetInt(name string) (int64, error) {
	v, err := o.GetProperty(name)
	if err != nil {
		return -1, err
	}
	switch n := v.(type) {
	case int64:
		return n, nil
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), nil
		}
	}
	return -1, invalidType(name, "int")
}

// GetUint reads a property whose value is a non-negative integer (QEMU's
// object_property_get_uint).
func (o *Object) GetUint(name string) (uint64, error) {
	v, err := o.GetProperty(name)
	if err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case uint64:
		return n, nil
	case int64:
		if n >= 0 {
			return uint64(n), nil
		}
	}
	return 0, invalidType(name, "uint")
}

// GetEnum returns the index of an enum property's current value among the
// enum's values (QEMU's object_property_get_enum). typ must be the enum's
// type name; a property of another type is an error. Aliases of enum
// properties are followed. On error it returns -1.
func (o *Object) GetEnum(name, typ string) (int, error) {
	p, err := o.propertyFor(name)
	if err != nil {
		return -1, err
	}
	_, tp := followAlias(o, p)
	d, ok := tp.Opaque.(*enumData)
	if !ok || p.Type != typ {
		return -1, errorf("Property %s on %s is not '%s' enum type", name, o.TypeName(), typ)
	}
	s, err := o.GetString(name)
	if err != nil {
		return -1, err
	}
	for i, v := range d.values {
		if v == s {
			return i, nil
		}
	}
	return -1, errorf("Parameter '%s' does not accept value '%s'", name, s)
}

// EnumValues returns the values an enum property accepts, in index order,
// or nil when the property is not an enum (for qom-list-properties and
// help output).
func (p *Property) EnumValues() []string {
	if d, ok := p.Opaque.(*enumData); ok {
		return append([]string(nil), d.values...)
	}
	return nil
}
