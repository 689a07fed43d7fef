package qom

import "strings"

// CanonicalPath returns o's path from the root: "/" for the root itself,
// "/a/b/c" for an object held as child c of b of a, and "" when the chain of
// parents does not end at the root (R-PATH-1).
func (o *Object) CanonicalPath() string {
	if o.reg == nil {
		return ""
	}
	root := o.reg.root
	if o == root {
		return "/"
	}
	var parts []string
	n := 0
	for p := o; p != root; p = p.parent {
		if p.parent == nil {
			return ""
		}
		parts = append(parts, p.parentProp)
		n += len(p.parentProp) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// PathComponent returns the name under which o's parent holds it, "" without
// a parent (R-PATH-1).
func (o *Object) PathComponent() string { return o.parentProp }

func splitPath(path string) []string {
	var parts []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return parts
}

// resolveParts follows the components from start through each property's
// resolve hook (child, link, alias, ...); nil when a component is missing or
// cannot be followed.
func resolveParts(start *Object, parts []string) *Object {
	o := start
	for _, part := range parts {
		p := o.FindProperty(part)
		if p == nil || p.Resolve == nil {
			return nil
		}
		o = p.Resolve(o, p)
		if o == nil {
			return nil
		}
	}
	return o
}

// ResolvePath resolves an absolute or partial path to an object of any type.
// See ResolvePathType.
func (r *Registry) ResolvePath(path string) (obj *Object, ambiguous bool) {
	return r.ResolvePathType(path, TypeObject)
}

// ResolvePathType resolves path to an object that is a typ (R-PATH-2..4).
//
// An absolute path (leading "/") is followed from the root, empty components
// skipped; it is never ambiguous. A partial path is tried from every object
// reachable from the root through child<> properties; exactly one success is
// the result, two or more make it ambiguous (even when both reach the same
// object by different routes), with a nil result. The empty path matches
// every object of type typ.
func (r *Registry) ResolvePathType(path, typ string) (obj *Object, ambiguous bool) {
	root := r.Root()
	parts := splitPath(path)
	if strings.HasPrefix(path, "/") {
		o := resolveParts(root, parts)
		if o == nil || !o.IsA(typ) {
			return nil, false
		}
		return o, false
	}
	var found *Object
	var walk func(start *Object) bool
	walk = func(start *Object) bool {
		if o := resolveParts(start, parts); o != nil && o.IsA(typ) {
			if found != nil {
				ambiguous = true
				return false
			}
			found = o
		}
		for _, c := range start.Children() {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	walk(root)
	if ambiguous {
		return nil, true
	}
	return found, false
}

// ResolvePathAt resolves path relative to o (R-PATH-5): from the root when
// it starts with "/", otherwise from o itself, without any partial search.
func (o *Object) ResolvePathAt(path string) *Object {
	if strings.HasPrefix(path, "/") {
		return resolveParts(o.reg.Root(), splitPath(path))
	}
	return resolveParts(o, splitPath(path))
}

// ResolveTypeUnambiguous finds the single object of type typ in the tree
// (R-PATH-4): errors for none and for more than one.
func (r *Registry) ResolveTypeUnambiguous(typ string) (*Object, error) {
	o, amb := r.ResolvePathType("", typ)
	if amb {
		return nil, errorf("More than one object of type %s", typ)
	}
	if o == nil {
		return nil, errorf("No object found of type %s", typ)
	}
	return o, nil
}
