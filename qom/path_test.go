package qom_test

import (
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// pathTree builds:
//
//	/
//	  a (plain)            link "to-b" -> /b, alias "via" -> a's child "x"
//	    x (plain-kid)
//	      deep (plain)
//	  b (plain)
//	    x (plain)
//	  c (container)
//	    lone (plain-kid)
//
// plus the standard containers.
func pathTree(t *testing.T) (*qom.Registry, map[string]*qom.Object) {
	t.Helper()
	r := newReg(t)
	registerPlain(t, r)
	register(t, r, qom.TypeInfo{Name: "plain-kid", Parent: plain})
	objs := map[string]*qom.Object{}
	mk := func(parent *qom.Object, name, typ, key string) *qom.Object {
		inst, err := r.NewChild(parent, name, typ)
		must(t, err)
		objs[key] = inst.QOM()
		return inst.QOM()
	}
	a := mk(r.Root(), "a", plain, "a")
	ax := mk(a, "x", "plain-kid", "a/x")
	mk(ax, "deep", plain, "a/x/deep")
	b := mk(r.Root(), "b", plain, "b")
	mk(b, "x", plain, "b/x")
	c, err := r.Container("/c")
	must(t, err)
	objs["c"] = c
	mk(c, "lone", "plain-kid", "c/lone")
	var l qom.Link
	_, err = a.AddLink("to-b", plain, &l, qom.AllowSetLink, false)
	must(t, err)
	must(t, a.SetLink("to-b", b))
	_, err = a.AddAlias("via", a, "x")
	must(t, err)
	t.Cleanup(func() {
		for _, k := range []string{"a", "b", "c"} {
			objs[k].Unparent()
		}
	})
	return r, objs
}

// R-PATH-1: the canonical path walks child<> properties up to the root; an
// object whose walk ends elsewhere has none.
func TestCanonicalPath(t *testing.T) {
	r, objs := pathTree(t)
	if p := r.Root().CanonicalPath(); p != "/" {
		t.Fatalf("root path %q", p)
	}
	if r.Root().PathComponent() != "" {
		t.Fatal("the root has a path component")
	}
	for key, o := range objs {
		if got := o.CanonicalPath(); got != "/"+key {
			t.Errorf("%s: path %q", key, got)
		}
		if got := o.PathComponent(); got != key[strings.LastIndex(key, "/")+1:] {
			t.Errorf("%s: component %q", key, got)
		}
		if o.String() != "/"+key {
			t.Errorf("%s: String %q", key, o.String())
		}
	}
	loose := newObj(t, r, plain)
	defer loose.Unref()
	kid := child(t, r, loose, "kid")
	if loose.CanonicalPath() != "" || kid.CanonicalPath() != "" || kid.PathComponent() != "kid" {
		t.Fatalf("detached: %q %q %q", loose.CanonicalPath(), kid.CanonicalPath(), kid.PathComponent())
	}
	if !strings.HasPrefix(loose.String(), "test-plain#") {
		t.Fatalf("detached String %q", loose.String())
	}
	hidden := child(t, r, r.InternalRoot(), "hidden")
	if hidden.CanonicalPath() != "" || r.InternalRoot().CanonicalPath() != "" {
		t.Fatal("the internal root is part of the tree")
	}
	if o, _ := r.ResolvePath("hidden"); o != nil {
		t.Fatal("an object under the internal root was found by path")
	}
	hidden.Unparent()
}

// R-PATH-2, R-PATH-3, R-PATH-4: absolute and partial resolution, with
// QEMU's ambiguity rules.
func TestResolvePath(t *testing.T) {
	r, objs := pathTree(t)
	tests := []struct {
		path, typ string
		want      string // key in objs, "/" for the root, "" for none
		ambiguous bool
	}{
		// Absolute: empty components are skipped; never ambiguous.
		{"/", "", "/", false},
		{"//", "", "/", false},
		{"/a/x", "", "a/x", false},
		{"//a//x/", "", "a/x", false},
		{"/a/x/deep", "", "a/x/deep", false},
		{"/a/to-b", "", "b", false},     // through a link
		{"/a/to-b/x", "", "b/x", false}, // and on
		{"/a/via/deep", "", "a/x/deep", false},
		{"/a/type", "", "", false}, // a property without resolve
		{"/a/nope", "", "", false},
		{"/a/x", "plain-kid", "a/x", false},
		{"/b/x", "plain-kid", "", false}, // wrong type
		{"/a/x", qom.TypeObject, "a/x", false},
		// Partial: tried from every object of the tree.
		{"deep", "", "a/x/deep", false},
		{"x/deep", "", "a/x/deep", false},
		{"lone", "", "c/lone", false},
		{"x", "", "", true},              // /a/x and /b/x
		{"x", "plain-kid", "a/x", false}, // the type check makes it unique
		{"to-b/x", "", "b/x", false},     // through a link
		{"b/x", "", "b/x", false},
		{"nope", "", "", false},
		{"a//x", "", "a/x", false},
		// The empty path matches every object of the type (R-PATH-4).
		{"", "plain-kid", "", true},
		{"", qom.TypeSystemBus, "", false},
		{"", qom.TypeContainer, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.path+"@"+tc.typ, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = qom.TypeObject
			}
			got, amb := r.ResolvePathType(tc.path, typ)
			var want *qom.Object
			switch tc.want {
			case "":
			case "/":
				want = r.Root()
			default:
				want = objs[tc.want]
			}
			if got != want || amb != tc.ambiguous {
				t.Fatalf("got %v (ambiguous %v), want %v (ambiguous %v)", got, amb, want, tc.ambiguous)
			}
			if tc.typ == "" {
				got2, amb2 := r.ResolvePath(tc.path)
				if got2 != got || amb2 != amb {
					t.Fatal("ResolvePath differs from ResolvePathType(object)")
				}
			}
		})
	}
}

// R-PATH-3: two routes to the same object make a partial path ambiguous.
func TestPartialPathSameObjectTwice(t *testing.T) {
	r, objs := pathTree(t)
	// A link is followed but is not a starting point: "deep" stays unique
	// although /b/x2/deep also names /a/x/deep.
	var l qom.Link
	_, err := objs["b"].AddLink("x2", plain, &l, qom.AllowSetLink, false)
	must(t, err)
	must(t, objs["b"].SetLink("x2", objs["a/x"]))
	if o, amb := r.ResolvePath("deep"); o != objs["a/x/deep"] || amb {
		t.Fatalf("deep: %v %v", o, amb)
	}
	// "via/deep" starts at /a (alias "via") and at /b (another alias "via"
	// to the same child): one object, two routes, ambiguous.
	_, err = objs["b"].AddAlias("via", objs["a"], "x")
	must(t, err)
	if o, amb := r.ResolvePath("via/deep"); o != nil || !amb {
		t.Fatalf("via/deep: %v ambiguous=%v, want ambiguous", o, amb)
	}
}

// R-PATH-4: the unambiguous type lookup.
func TestResolveTypeUnambiguous(t *testing.T) {
	r, objs := pathTree(t)
	_, err := r.ResolveTypeUnambiguous("plain-kid")
	wantErr(t, err, "More than one object of type plain-kid")
	_, err = r.ResolveTypeUnambiguous(qom.TypeMachine)
	wantErr(t, err, "No object found of type machine")
	objs["c/lone"].Unparent()
	o, err := r.ResolveTypeUnambiguous("plain-kid")
	must(t, err)
	if o != objs["a/x"] {
		t.Fatalf("got %v", o)
	}
}

// R-PATH-5: resolution relative to an object: absolute from the root,
// otherwise from the object itself, without a partial search.
func TestResolvePathAt(t *testing.T) {
	r, objs := pathTree(t)
	a := objs["a"]
	for _, tc := range []struct {
		path string
		want *qom.Object
	}{
		{"x", objs["a/x"]},
		{"x/deep", objs["a/x/deep"]},
		{"to-b/x", objs["b/x"]},
		{"", a},
		{"/b/x", objs["b/x"]},
		{"/", r.Root()},
		{"deep", nil}, // no partial search
		{"lone", nil},
	} {
		if got := a.ResolvePathAt(tc.path); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.path, got, tc.want)
		}
	}
}

// R-TREE-1: the root and its standard containers, created once on first use.
func TestStandardRoot(t *testing.T) {
	r := newReg(t)
	root := r.Root()
	if root != r.Root() {
		t.Fatal("Root is not stable")
	}
	var names []string
	for _, c := range root.Children() {
		if c.TypeName() != qom.TypeContainer {
			t.Errorf("%s is a %s", c, c.TypeName())
		}
		names = append(names, c.PathComponent())
	}
	if strings.Join(names, " ") != "audiodevs backend chardevs objects" {
		t.Fatalf("root children = %v", names)
	}
	if root.TypeName() != qom.TypeContainer || root.CanonicalPath() != "/" {
		t.Fatal("bad root")
	}
	if r.Machine() != nil || r.Unattached() != nil {
		t.Fatal("a machine exists before NewMachine")
	}
	// Container creates what is missing and refuses non-child components.
	c, err := r.Container("/chardevs/x/y")
	must(t, err)
	if c.CanonicalPath() != "/chardevs/x/y" || c.TypeName() != qom.TypeContainer {
		t.Fatalf("container at %s", c)
	}
	again, err := r.Container("chardevs/x/y")
	must(t, err)
	if again != c {
		t.Fatal("Container created a second container")
	}
	_, err = r.Container("/objects/type")
	if err == nil {
		t.Fatal("Container went through a non-child property")
	}
	r.Root().Child("chardevs").Child("x").Unparent()
}

// R-TREE-2, R-TREE-4: the machine and its standard children.
func TestMachineTree(t *testing.T) {
	r := newReg(t)
	register(t, r, qom.TypeInfo{Name: "demo-machine", Parent: qom.TypeMachine})
	registerPlain(t, r)
	_, err := r.NewMachine(plain)
	wantErr(t, err, "invalid machine type: test-plain")
	_, err = r.NewMachine("nope")
	wantErr(t, err, "invalid machine type: nope")
	_, err = r.NewMachine(qom.TypeMachine)
	wantErr(t, err, "object type 'machine' is abstract")
	m, err := r.NewMachine("demo-machine")
	must(t, err)
	mo := m.QOM()
	if r.Machine() != mo || mo.CanonicalPath() != "/machine" || mo.RefCount() != 1 {
		t.Fatalf("machine at %s refs %d", mo, mo.RefCount())
	}
	var names []string
	for _, c := range mo.Children() {
		names = append(names, c.PathComponent()+"("+c.TypeName()+")")
	}
	if strings.Join(names, " ") != "unattached(container) peripheral(container) peripheral-anon(container)" {
		t.Fatalf("machine children = %v", names)
	}
	sb, _ := r.ResolvePath("/machine/unattached/sysbus")
	if sb == nil || sb.TypeName() != "System" || !sb.IsA(qom.TypeBus) {
		t.Fatalf("sysbus = %v", sb)
	}
	if r.Unattached() != mo.Child("unattached") {
		t.Fatal("Unattached")
	}
	_, err = r.NewMachine("demo-machine")
	wantErr(t, err, "the registry already has a machine")
	mo.Unparent()
	if !mo.Finalized() || !sb.Finalized() {
		t.Fatal("machine tree survived its unparenting")
	}
}

// R-PATH-6: what a consumer such as `info qom-tree <path>` sees: "not found"
// and "ambiguous" both come back without an object, and only the flag tells
// them apart (QEMU's own consumer prints one message for both).
func TestAmbiguousPathForConsumers(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	for _, dev := range []string{"dev0", "dev1"} {
		d := child(t, r, r.Root().Child("objects"), dev)
		child(t, r, d, "unnamed-gpio-in[0]")
		t.Cleanup(d.Unparent)
	}
	for _, tc := range []struct {
		path      string
		ambiguous bool
	}{{"unnamed-gpio-in[0]", true}, {"unnamed-gpio-in[1]", false}} {
		o, amb := r.ResolvePath(tc.path)
		if o != nil || amb != tc.ambiguous {
			t.Errorf("%s: %v, ambiguous %v", tc.path, o, amb)
		}
	}
	if o, amb := r.ResolvePath("dev1/unnamed-gpio-in[0]"); o == nil || amb {
		t.Error("a longer partial path does not disambiguate")
	}
}
