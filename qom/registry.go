package qom

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Names of the built-in types every registry has.
const (
	TypeObject    = "object"    // abstract root of every class type (R-TYPE-3)
	TypeInterface = "interface" // abstract root of every interface (R-TYPE-3)
	TypeContainer = "container" // the tree's grouping nodes
)

// TypeInfo describes a type to register (R-TYPE-1). Only Name is required;
// every other field may be left zero. Registration only records the
// description: the class is built lazily, the first time it is needed
// (R-CLASS-1).
type TypeInfo struct {
	Name       string
	Parent     string   // required except for the built-in roots
	Abstract   bool     // abstract types cannot be instantiated (R-TYPE-7)
	Interfaces []string // names of interface types the type implements

	// New allocates the Go value of a fresh instance: a pointer to a struct
	// that embeds the parent type's Go struct (ultimately Object). Nil means
	// "the same Go type as the parent" (R-TYPE-5). Interface types have none.
	New func() Instance

	// Instance hooks. InstanceInit and InstancePostInit run from the root
	// type down to the leaf, InstanceFinalize from the leaf up (R-INST-2,
	// R-FIN-1). Each receives the outer Go value.
	InstanceInit     func(Instance)
	InstancePostInit func(Instance)
	InstanceFinalize func(Instance)

	// Class hooks (R-CLASS-2). ClassBaseInit applies to descendants only;
	// both receive the ClassData of the class being initialized. They run
	// with the registry's type table locked, so they must not call Registry
	// methods; what they need is reachable from c (Parent, Interface,
	// FindProperty, Method).
	ClassInit     func(c *Class, data any)
	ClassBaseInit func(c *Class, data any)
	ClassData     any
}

// typeImpl is a registered type.
type typeImpl struct {
	info   TypeInfo
	class  *Class // nil until initialized
	parent *typeImpl
	// initializing guards against a parent cycle during lazy class init.
	initializing bool
}

// Registry is one universe of types and objects: the type table, the
// composition tree rooted at "/", and the set of live objects used by the
// leak report. Tests make their own with NewRegistry; programs may use
// Default.
//
// The type table is safe for concurrent use. Objects and the tree follow the
// package's concurrency rule (one writer, the machine lock holder).
type Registry struct {
	mu    sync.Mutex // guards types, live, holds, serial, counters
	types map[string]*typeImpl

	live   map[*Object]struct{}
	serial uint64

	root         *Object // "/", created on first use
	internalRoot *Object // the container outside the tree, created on first use

	// Placement counters (R-TREE-3).
	anonDevices       int
	unattachedDevices int

	detachHooks []func(*Object)

	// TrackSites records where each object was created, for the leak report.
	// It costs a stack walk per object; set it before creating objects.
	TrackSites bool
}

var (
	defaultOnce sync.Once
	defaultReg  *Registry
)

// Default returns the process-wide registry for programs that need only one.
// Tests should create their own with NewRegistry.
func Default() *Registry {
	defaultOnce.Do(func() { defaultReg = NewRegistry() })
	return defaultReg
}

// NewRegistry returns a registry that knows the built-in types object,
// interface, container and the device and machine types of this package.
func NewRegistry() *Registry {
	r := &Registry{
		types: make(map[string]*typeImpl),
		live:  make(map[*Object]struct{}),
	}
	r.mustRegister(TypeInfo{
		Name:     TypeObject,
		Abstract: true,
		New:      func() Instance { return new(Object) },
		ClassInit: func(c *Class, _ any) {
			// R-TYPE-3: the read-only class property "type".
			c.MustAddProperty(StringProperty("type", func(o *Object) string { return o.TypeName() }, nil))
		},
	})
	r.mustRegister(TypeInfo{Name: TypeInterface, Abstract: true})
	r.mustRegister(TypeInfo{Name: TypeContainer, Parent: TypeObject})
	registerBuiltins(r)
	return r
}

func (r *Registry) mustRegister(info TypeInfo) {
	if err := r.Register(info); err != nil {
		panic(err)
	}
}

// ValidTypeName reports whether name is a legal type name (R-TYPE-2): at
// least two characters, the first alphanumeric and not '0', the rest from
// A-Z a-z 0-9 - _ .
func ValidTypeName(name string) bool {
	if len(name) < 2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 {
			if !alnum || c == '0' {
				return false
			}
			continue
		}
		if !alnum && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// Register records a type. It fails for an illegal or duplicate name and for
// a non-root type without a parent; a missing parent is only detected when the
// class is first needed (R-TYPE-4).
func (r *Registry) Register(info TypeInfo) error {
	if !ValidTypeName(info.Name) {
		return errorf("Registering '%s' with illegal type name", info.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.types[info.Name]; ok {
		return errorf("Registering `%s' which already exists", info.Name)
	}
	if info.Parent == "" && info.Name != TypeObject && info.Name != TypeInterface {
		return errorf("type '%s' names no parent", info.Name)
	}
	info.Interfaces = append([]string(nil), info.Interfaces...)
	r.types[info.Name] = &typeImpl{info: info}
	return nil
}

// Register registers a type whose instances are values of the Go struct T,
// which must embed its parent type's struct. It sets info.New to allocate a
// zero T.
func Register[T any, PT interface {
	*T
	Instance
}](r *Registry, info TypeInfo) error {
	info.New = func() Instance { return PT(new(T)) }
	return r.Register(info)
}

// HasType reports whether a type of that name is registered.
func (r *Registry) HasType(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.types[name]
	return ok
}

// Class returns the class of the named type, initializing it (and its
// ancestors) first if needed (R-CLASS-1).
func (r *Registry) Class(name string) (*Class, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.classLocked(name)
}

func (r *Registry) classLocked(name string) (*Class, error) {
	t, ok := r.types[name]
	if !ok {
		return nil, errorf("unknown type '%s'", name)
	}
	return r.initClassLocked(t)
}

// TypeDesc is one row of a type enumeration (qom-list-types).
type TypeDesc struct {
	Name     string
	Parent   string // "" for the roots
	Abstract bool
}

// ListTypes enumerates registered types (R-TYPE-7): only those that are or
// descend from, or implement, implements (all when empty), including abstract
// types only when includeAbstract is set, sorted by name without regard to
// case. Every listed class is initialized.
func (r *Registry) ListTypes(implements string, includeAbstract bool) ([]TypeDesc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []TypeDesc
	for _, n := range names {
		c, err := r.initClassLocked(r.types[n])
		if err != nil {
			return nil, err
		}
		if implements != "" && c.castLocked(implements) == nil {
			continue
		}
		if c.abstract && !includeAbstract {
			continue
		}
		out = append(out, TypeDesc{Name: n, Parent: c.typ.info.Parent, Abstract: c.abstract})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, nil
}

// initClassLocked builds t's class (R-CLASS-2). Called with r.mu held; the
// user's class hooks run with it held too, so they must not call back into
// the registry's type table.
func (r *Registry) initClassLocked(t *typeImpl) (*Class, error) {
	if t.class != nil {
		return t.class, nil
	}
	if t.initializing {
		return nil, errorf("type '%s' is its own ancestor", t.info.Name)
	}
	t.initializing = true
	defer func() { t.initializing = false }()

	c := &Class{reg: r, typ: t, name: t.info.Name, methods: map[string]any{}}
	if t.info.Parent != "" {
		pt, ok := r.types[t.info.Parent]
		if !ok {
			return nil, errorf("Type '%s' is missing its parent '%s'", t.info.Name, t.info.Parent)
		}
		pc, err := r.initClassLocked(pt)
		if err != nil {
			return nil, err
		}
		t.parent = pt
		c.parent = pc
		// Step 2: the class starts as a copy of the parent's.
		for k, v := range pc.methods {
			c.methods[k] = v
		}
		c.newFn = pc.newFn
		c.goType = pc.goType
		c.isInterface = pc.isInterface
	}
	if t.info.Name == TypeInterface {
		c.isInterface = true
	}
	if t.info.New != nil {
		if c.isInterface {
			return nil, errorf("interface type '%s' cannot have instances", t.info.Name)
		}
		if c.parent != nil && c.parent.newFn != nil {
			if err := checkEmbeds(t.info.New(), c.parent.newFn()); err != nil {
				return nil, errorf("type '%s': %v", t.info.Name, err)
			}
		}
		c.newFn = t.info.New
	}
	if c.newFn != nil {
		c.goType = reflect.TypeOf(c.newFn())
	}
	c.abstract = t.info.Abstract || c.newFn == nil // R-TYPE-5
	if c.isInterface {
		// R-TYPE-6: interfaces have no instances (so they are abstract
		// whether or not Abstract is set), no instance hooks and no
		// interfaces of their own.
		if t.info.InstanceInit != nil || t.info.InstancePostInit != nil || t.info.InstanceFinalize != nil || len(t.info.Interfaces) > 0 {
			return nil, errorf("interface type '%s' cannot have instance hooks or interfaces", t.info.Name)
		}
		c.abstract = true
	}

	// Step 3: interface classes.
	if c.parent != nil {
		for _, pic := range c.parent.ifaces {
			c.ifaces = append(c.ifaces, r.newInterfaceClass(c, pic.typ, pic))
		}
	}
	for _, in := range t.info.Interfaces {
		it, ok := r.types[in]
		if !ok {
			return nil, errorf("missing interface '%s' for object '%s'", in, t.info.Name)
		}
		ic, err := r.initClassLocked(it)
		if err != nil {
			return nil, err
		}
		if !ic.isInterface {
			return nil, errorf("type '%s' lists '%s', which is not an interface", t.info.Name, in)
		}
		dup := false
		for _, have := range c.ifaces {
			if have.iface.isA(in) {
				dup = true
				break
			}
		}
		if !dup {
			c.ifaces = append(c.ifaces, r.newInterfaceClass(c, it, nil))
		}
	}

	// Step 5: class_base_init of every ancestor, nearest first.
	for a := c.parent; a != nil; a = a.parent {
		if a.typ.info.ClassBaseInit != nil {
			a.typ.info.ClassBaseInit(c, t.info.ClassData)
		}
	}
	// Step 6.
	if t.info.ClassInit != nil {
		t.info.ClassInit(c, t.info.ClassData)
	}
	t.class = c
	return c, nil
}

// newInterfaceClass makes the per-class interface class "<T>::<iface>".
// inherited is the parent class's interface class it copies, if any.
func (r *Registry) newInterfaceClass(owner *Class, it *typeImpl, inherited *Class) *Class {
	base := it.class
	ic := &Class{reg: r, typ: it, name: owner.name + "::" + it.info.Name,
		methods: map[string]any{}, isInterface: true, abstract: true, concrete: owner}
	ic.iface = base
	if inherited != nil {
		ic.iface = inherited.iface
		for k, v := range inherited.methods {
			ic.methods[k] = v
		}
	} else {
		for k, v := range base.methods {
			ic.methods[k] = v
		}
	}
	ic.parent = base
	return ic
}

// checkEmbeds verifies that the Go value child contains the Go type of
// parent as an embedded struct (R-TYPE-5: a child is never smaller than its
// parent).
func checkEmbeds(child, parent Instance) error {
	return checkEmbedsType(reflect.TypeOf(child), reflect.TypeOf(parent))
}

func checkEmbedsType(ct, pt reflect.Type) error {
	if ct == pt {
		return nil
	}
	if ct.Kind() != reflect.Pointer || ct.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("Go type %v is not a pointer to a struct", ct)
	}
	if embeds(ct.Elem(), pt.Elem(), 0) {
		return nil
	}
	return fmt.Errorf("Go type %v does not embed %v of its parent type", ct, pt)
}

func embeds(t, target reflect.Type, depth int) bool {
	if t == target {
		return true
	}
	if depth > 16 || t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && embeds(f.Type, target, depth+1) {
			return true
		}
	}
	return false
}
