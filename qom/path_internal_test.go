package qom

import (
	"strings"
	"testing"
)

// FuzzSplitPath checks path splitting (R-PATH-2): no empty components, no
// slashes inside a component, and joining the components gives the path
// with runs of slashes collapsed and leading and trailing ones removed.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"", "/", "//", "/a", "a", "//a//b/", "/machine/unattached/device[0]", "a/b/c", "x//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		parts := splitPath(path)
		for _, p := range parts {
			if p == "" || strings.Contains(p, "/") {
				t.Fatalf("splitPath(%q) = %q: bad component %q", path, parts, p)
			}
		}
		want := strings.Trim(path, "/")
		for strings.Contains(want, "//") {
			want = strings.ReplaceAll(want, "//", "/")
		}
		if got := strings.Join(parts, "/"); got != want {
			t.Fatalf("splitPath(%q) joins to %q, want %q", path, got, want)
		}
	})
}

// FuzzResolvePath resolves arbitrary paths in a small tree: it never panics,
// an ambiguous answer carries no object, and an absolute path is never
// ambiguous.
func FuzzResolvePath(f *testing.F) {
	for _, s := range []string{"", "/", "a", "/a/b", "b", "a//b", "/objects/../a", "x/b", "l/b", "[*]"} {
		f.Add(s)
	}
	r := NewRegistry()
	objects := r.Root().Child("objects")
	a, _ := r.NewChild(objects, "a", TypeContainer)
	_, _ = r.NewChild(a.QOM(), "b", TypeContainer)
	x, _ := r.NewChild(objects, "x", TypeContainer)
	_, _ = r.NewChild(x.QOM(), "b", TypeContainer)
	_, _ = objects.AddConstLink("l", a.QOM())
	f.Fuzz(func(t *testing.T, path string) {
		o, amb := r.ResolvePath(path)
		if amb && o != nil {
			t.Fatalf("%q: ambiguous with a result", path)
		}
		if strings.HasPrefix(path, "/") && amb {
			t.Fatalf("%q: an absolute path was ambiguous", path)
		}
		if o != nil && !o.Alive() {
			t.Fatalf("%q: resolved to a dead object", path)
		}
	})
}
