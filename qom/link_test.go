package qom_test

import (
	"errors"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// R-CHILD-1, R-CHILD-2: a child<T> property names the child's type at the
// time, reads as the child's path, cannot be written, resolves to the child;
// an object has at most one parent and the tree has no cycles.
func TestChildProperty(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	parent := child(t, r, r.Root(), "parent")
	defer parent.Unparent()
	kid := newObj(t, r, plain)
	p, err := parent.AddChild("kid", kid)
	must(t, err)
	if kid.RefCount() != 2 || kid.Parent() != parent || kid.PathComponent() != "kid" {
		t.Fatalf("after AddChild: refs=%d parent=%v", kid.RefCount(), kid.Parent())
	}
	kid.Unref() // R-CHILD-3: object_new + add_child + unref -> 1
	if kid.RefCount() != 1 {
		t.Fatalf("refs = %d, want 1 (the parent's)", kid.RefCount())
	}
	if p.Type != "child<test-plain>" || p.Set != nil || p.Resolve == nil {
		t.Fatalf("child property = %+v", p)
	}
	if v, err := parent.GetString("kid"); err != nil || v != "/parent/kid" {
		t.Fatalf("child property reads %q, %v", v, err)
	}
	wantErr(t, parent.SetProperty("kid", "/"), "Property 'test-plain.kid' is not writable")
	if o := parent.ResolvePathAt("kid"); o != kid {
		t.Fatalf("resolve kid = %v", o)
	}

	other := child(t, r, r.Root(), "other")
	defer other.Unparent()
	_, err = other.AddChild("stolen", kid)
	wantErr(t, err, "object /parent/kid already has a parent (/parent)")
	loose := newObj(t, r, plain)
	defer loose.Unref()
	_, err = kid.AddChild("loop", r.Root())
	wantErr(t, err, "object / cannot be a child of its own descendant /parent/kid")
	for _, name := range []string{"", "a/b", "/"} {
		_, err := parent.AddChild(name, loose)
		wantErr(t, err, "invalid child name '"+name+"'")
	}
	// An object cannot become its own child or a child of a descendant.
	_, err = kid.AddChild("self", kid)
	if err == nil {
		t.Fatal("an object became its own child")
	}
	if loose.Parent() != nil || loose.RefCount() != 1 {
		t.Fatal("failed AddChild calls changed the child")
	}
}

// R-CHILD-2: an object cannot be adopted by one of its descendants, nor by
// a second parent.
func TestChildCycleRefused(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	top := newObj(t, r, plain)
	defer top.Unref()
	mid := child(t, r, top, "mid")
	low := child(t, r, mid, "low")
	other := newObj(t, r, plain)
	defer other.Unref()
	_, err := low.AddChild("top", top)
	if err == nil || !strings.Contains(err.Error(), "cannot be a child of its own descendant") {
		t.Fatalf("cycle: %v", err)
	}
	_, err = other.AddChild("mid", mid)
	if err == nil || !strings.Contains(err.Error(), "already has a parent") {
		t.Fatalf("second parent: %v", err)
	}
	if top.Parent() != nil || top.RefCount() != 1 || mid.Parent() != top {
		t.Fatalf("refused AddChild changed the tree: parent=%v refs=%d", top.Parent(), top.RefCount())
	}
}

// linker holds link slots used by the link tests.
type linker struct {
	qom.Object
	strong, weak, ro qom.Link
	vetoes           int
}

func lk(o *qom.Object) *linker { return qom.MustCast[*linker](o.Instance()) }

func registerLinker(t *testing.T, r *qom.Registry) {
	t.Helper()
	registerPlain(t, r)
	register(t, r, qom.TypeInfo{Name: "plain-kid", Parent: plain})
	must(t, qom.Register[linker](r, qom.TypeInfo{Name: "linker", Parent: qom.TypeObject,
		ClassInit: func(c *qom.Class, _ any) {
			// R-LINK-5: class link properties find their slot per instance.
			c.MustAddProperty(qom.LinkProperty("strong", plain, func(o *qom.Object) *qom.Link { return &lk(o).strong },
				func(o *qom.Object, name string, target *qom.Object) error {
					if target != nil && target.PathComponent() == "forbidden" {
						lk(o).vetoes++
						return errors.New("vetoed " + name)
					}
					return nil
				}, true))
			c.MustAddProperty(qom.LinkProperty("weak", plain, func(o *qom.Object) *qom.Link { return &lk(o).weak },
				qom.AllowSetLink, false))
			// R-LINK-1: no check means read-only.
			c.MustAddProperty(qom.LinkProperty("ro", plain, func(o *qom.Object) *qom.Link { return &lk(o).ro }, nil, true))
		}}))
}

// R-LINK-1, R-LINK-2: link<T> properties read as the target's path, are set
// from a path (absolute or partial), "" clears them, and QEMU's errors come
// in QEMU's order (ambiguous, wrong type, not found, then the check).
func TestLinkProperty(t *testing.T) {
	r := newReg(t)
	registerLinker(t, r)
	l := newObj(t, r, "linker")
	_, err := r.Root().AddChild("l", l)
	must(t, err)
	l.Unref()
	defer l.Unparent()
	a := child(t, r, r.Root(), "a")
	defer a.Unparent()
	x1 := child(t, r, a, "x")
	b := child(t, r, r.Root(), "b")
	defer b.Unparent()
	child(t, r, b, "x")
	forbidden := child(t, r, r.Root(), "forbidden")
	defer forbidden.Unparent()
	cont, err := r.Container("/stuff")
	must(t, err)
	defer cont.Unparent()

	p := l.FindProperty("strong")
	if p.Type != "link<test-plain>" {
		t.Fatalf("type = %s", p.Type)
	}
	if v, _ := l.GetString("strong"); v != "" {
		t.Fatalf("empty link reads %q", v)
	}
	before := x1.RefCount()
	must(t, l.SetProperty("strong", "/a/x"))
	if v, _ := l.GetString("strong"); v != "/a/x" || x1.RefCount() != before+1 {
		t.Fatalf("strong link reads %q, refs %d -> %d", v, before, x1.RefCount())
	}
	if got, err := l.GetLink("strong"); err != nil || got != x1 {
		t.Fatalf("GetLink = %v, %v", got, err)
	}
	if l.ResolvePathAt("strong") != x1 || l.ResolvePathAt("strong/..") != nil {
		t.Fatal("link does not resolve as a path component")
	}

	for _, tc := range []struct {
		path, err string
		class     qom.ErrorClass
	}{
		{"x", "Path 'x' does not uniquely identify an object", qom.GenericError},
		{"/stuff", "Invalid parameter type for 'strong', expected: test-plain", qom.GenericError},
		{"stuff", "Invalid parameter type for 'strong', expected: test-plain", qom.GenericError},
		{"/nowhere", "Device '/nowhere' not found", qom.DeviceNotFound},
		{"nowhere", "Device 'nowhere' not found", qom.DeviceNotFound},
		{"forbidden", "vetoed strong", qom.GenericError},
	} {
		err := l.SetProperty("strong", tc.path)
		wantErr(t, err, tc.err)
		if qom.ClassOf(err) != tc.class {
			t.Errorf("%s: class %s, want %s", tc.path, qom.ClassOf(err), tc.class)
		}
		if got, _ := l.GetLink("strong"); got != x1 {
			t.Fatalf("failed set to %q changed the link to %v", tc.path, got)
		}
	}
	if lk(l).vetoes != 1 {
		t.Fatalf("check ran %d times, want once (after resolution only)", lk(l).vetoes)
	}
	wantErr(t, l.SetProperty("strong", 1), "Invalid parameter type for 'strong', expected: string")
	// A descendant type is accepted; a partial path that is unique works.
	kid := newObj(t, r, "plain-kid")
	_, err = b.AddChild("special", kid)
	must(t, err)
	kid.Unref()
	must(t, l.SetProperty("strong", "special"))
	if x1.RefCount() != before {
		t.Fatalf("old target still referenced: %d", x1.RefCount())
	}
	must(t, l.SetProperty("strong", ""))
	if got, _ := l.GetLink("strong"); got != nil || kid.RefCount() != 1 {
		t.Fatalf("cleared link: %v, refs %d", got, kid.RefCount())
	}
	// Read-only links.
	wantErr(t, l.SetProperty("ro", "/a/x"), "Property 'linker.ro' is not writable")
	// Weak links take no reference, and a dead target reads as empty.
	must(t, l.SetLink("weak", b))
	if got, _ := l.GetLink("weak"); got != b {
		t.Fatalf("weak link = %v", got)
	}
	_, err = l.GetLink("type")
	wantErr(t, err, "Property 'linker.type' is not a link")
	_, err = l.GetLink("nope")
	wantErr(t, err, "Property 'linker.nope' not found")
}

// R-LINK-2: a strong link takes its new target's reference before dropping
// the old target's.
func TestStrongLinkSwapOrder(t *testing.T) {
	r := newReg(t)
	registerLinker(t, r)
	l := newObj(t, r, "linker")
	_, err := r.Root().AddChild("l", l)
	must(t, err)
	l.Unref()
	defer l.Unparent()
	old := child(t, r, r.Root(), "old")
	next := child(t, r, r.Root(), "next")
	defer next.Unparent()
	must(t, l.SetLink("strong", old))
	old.Unparent() // the link now holds old's only reference
	var nextRefs int64 = -1
	must(t, old.OnFinalize(func() { nextRefs = next.RefCount() }))
	must(t, l.SetLink("strong", next))
	if !old.Finalized() || nextRefs != 2 {
		t.Fatalf("old finalized=%v; next had %d refs when old died, want 2", old.Finalized(), nextRefs)
	}
}

// R-LINK-3: a strong link assumes it owns a reference on whatever its slot
// holds when the property is added, and drops it on release.
func TestStrongLinkAdoptsSlot(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	holder := child(t, r, r.Root(), "h")
	defer holder.Unparent()
	target := newObj(t, r, plain) // its creation reference goes to the slot
	_, err := r.Root().AddChild("t", target)
	must(t, err)
	var slot qom.Link
	slot.Init(target) // hands the creation reference over with the slot
	if slot.Target() != target || target.RefCount() != 2 {
		t.Fatalf("slot %v, refs %d", slot.Target(), target.RefCount())
	}
	_, err = holder.AddLink("adopt", plain, &slot, nil, true)
	must(t, err)
	if target.RefCount() != 2 {
		t.Fatalf("adding a strong link took a reference: %d", target.RefCount())
	}
	// Releasing the strong link drops the reference it assumed: the
	// creation reference.
	must(t, holder.DelProperty("adopt"))
	if target.RefCount() != 1 || slot.Target() != nil {
		t.Fatalf("release: refs %d, slot %v", target.RefCount(), slot.Target())
	}
	target.Unparent()
	if !target.Finalized() {
		t.Fatal("target survived")
	}
}

// R-LINK-4 (deviation): SetLink to an object outside the composition tree
// is an error and leaves the link alone; QEMU silently clears the link.
func TestSetLinkOutsideTree(t *testing.T) {
	r := newReg(t)
	registerLinker(t, r)
	l := newObj(t, r, "linker")
	_, err := r.Root().AddChild("l", l)
	must(t, err)
	l.Unref()
	defer l.Unparent()
	in := child(t, r, r.Root(), "in")
	defer in.Unparent()
	must(t, l.SetLink("strong", in))
	out := newObj(t, r, plain)
	defer out.Unref()
	err = l.SetLink("strong", out)
	if err == nil {
		t.Fatal("SetLink to an object outside the tree succeeded")
	}
	if got, _ := l.GetLink("strong"); got != in {
		t.Fatalf("link changed to %v", got)
	}
	must(t, l.SetLink("strong", nil))
	if got, _ := l.GetLink("strong"); got != nil {
		t.Fatalf("SetLink(nil) left %v", got)
	}
}

// R-LINK-5: constant links are read-only, weak and fixed; AllowSetLink
// accepts anything.
func TestConstLink(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	o := child(t, r, r.Root(), "o")
	defer o.Unparent()
	target := child(t, r, r.Root(), "target")
	defer target.Unparent()
	before := target.RefCount()
	p, err := o.AddConstLink("fixed", target)
	must(t, err)
	if p.Type != "link<test-plain>" || p.Set != nil || target.RefCount() != before {
		t.Fatalf("const link: type %s, settable %v, refs %d", p.Type, p.Set != nil, target.RefCount())
	}
	if v, _ := o.GetString("fixed"); v != "/target" || o.ResolvePathAt("fixed") != target {
		t.Fatalf("const link reads %q", v)
	}
	_, err = o.AddConstLink("none", nil)
	if err == nil {
		t.Fatal("const link to nil accepted")
	}
	if qom.AllowSetLink(o, "x", nil) != nil || qom.AllowSetLink(o, "x", target) != nil {
		t.Fatal("AllowSetLink refused")
	}
}

// R-ALIAS-1: an alias forwards get, set, parse and resolve to its target
// property, copies its type (child<X> becomes link<X>), description and
// default, and holds no reference on the target object.
func TestAlias(t *testing.T) {
	r := newReg(t)
	registerStore(t, r)
	registerPlain(t, r)
	s := newObj(t, r, "store")
	front := child(t, r, r.Root(), "front")
	defer front.Unparent()
	before := s.RefCount()
	_, err := s.AddProperty(qom.UintProperty("width", 16, func(o *qom.Object) uint64 { return st(o).u16 },
		func(o *qom.Object, v uint64) error { st(o).u16 = v; return nil }).WithDescription("bus width").WithDefault(8))
	must(t, err)
	p, err := front.AddAlias("w", s, "width")
	must(t, err)
	if p.Type != "uint16" || p.Description != "bus width" || !p.HasDefault || p.Default != 8 {
		t.Fatalf("alias = %+v", p)
	}
	if s.RefCount() != before {
		t.Fatal("alias took a reference")
	}
	must(t, front.SetProperty("w", 300))
	if st(s).u16 != 300 {
		t.Fatalf("set through alias: %d", st(s).u16)
	}
	must(t, front.ParseProperty("w", "0x20"))
	if v, _ := front.GetUint("w"); v != 32 {
		t.Fatalf("get through alias: %d", v)
	}
	wantErr(t, front.SetProperty("w", 70000), "Parameter 'width' expects uint16_t")

	_, err = front.AddAlias("c", s, "color")
	must(t, err)
	must(t, front.SetProperty("c", "blue"))
	if idx, err := front.GetEnum("c", "Color"); err != nil || idx != 2 {
		t.Fatalf("GetEnum through alias = %d, %v", idx, err)
	}

	// child<X> reads as link<X> and resolves through the alias.
	kid := child(t, r, front, "kid")
	pa, err := front.AddAlias("kid-alias", front, "kid")
	must(t, err)
	if pa.Type != "link<test-plain>" || front.ResolvePathAt("kid-alias") != kid {
		t.Fatalf("alias of a child: type %s", pa.Type)
	}
	if o, _ := r.ResolvePath("/front/kid-alias"); o != kid {
		t.Fatal("absolute path through an alias")
	}
	_, err = front.AddAlias("bad", s, "nope")
	wantErr(t, err, "Property 'store.nope' not found")
	_, err = front.AddAlias("w2", s, "type") // an alias of a class property
	must(t, err)
	if v, _ := front.GetString("w2"); v != "store" {
		t.Fatalf("alias of a class property reads %q", v)
	}

	// The alias dangles once the target is gone; it reports that instead of
	// touching a dead object.
	s.Unref()
	if _, err := front.GetProperty("w"); !isFinalizedError(err) {
		t.Fatalf("alias of a dead object: %v", err)
	}
	if err := front.SetProperty("w", 1); !isFinalizedError(err) {
		t.Fatalf("set through a dangling alias: %v", err)
	}
}

// Weak links whose target dies read as empty (qmem's answer to QEMU's
// dangling pointer).
func TestWeakLinkTargetDies(t *testing.T) {
	r := newReg(t)
	registerLinker(t, r)
	l := newObj(t, r, "linker")
	_, err := r.Root().AddChild("l", l)
	must(t, err)
	l.Unref()
	defer l.Unparent()
	tgt := child(t, r, r.Root(), "tgt")
	must(t, l.SetLink("weak", tgt))
	tgt.Unparent()
	if got, err := l.GetLink("weak"); err != nil || got != nil {
		t.Fatalf("weak link to a dead object = %v, %v", got, err)
	}
	if v, _ := l.GetString("weak"); v != "" {
		t.Fatalf("weak link to a dead object reads %q", v)
	}
}

// SetLinkTarget links objects that are not (yet) in the tree, with the
// same type check, veto and strong-reference order as a path.
func TestSetLinkTarget(t *testing.T) {
	r := newReg(t)
	registerLinker(t, r)
	l := newObj(t, r, "linker")
	defer l.Unref()
	part := newObj(t, r, plain)
	must(t, l.SetLinkTarget("strong", part))
	if part.RefCount() != 2 {
		t.Fatalf("strong link to a loose object: refs %d", part.RefCount())
	}
	part.Unref() // the link now holds the only reference
	if got, _ := l.GetLink("strong"); got != part {
		t.Fatalf("GetLink = %v", got)
	}
	if v, _ := l.GetString("strong"); v != "" {
		t.Fatalf("a target outside the tree reads as path %q", v)
	}
	wrong := newObj(t, r, qom.TypeContainer)
	defer wrong.Unref()
	wantErr(t, l.SetLinkTarget("strong", wrong), "Invalid parameter type for 'strong', expected: test-plain")
	wantErr(t, l.SetLinkTarget("ro", part), "Property 'linker.ro' is not writable")
	wantErr(t, l.SetLinkTarget("type", part), "Property 'linker.type' is not a link")
	wantErr(t, l.SetLinkTarget("nope", part), "Property 'linker.nope' not found")
	_, err := l.AddAlias("via", l, "weak")
	must(t, err)
	must(t, l.SetLinkTarget("via", part))
	if lk(l).weak.Target() != part {
		t.Fatal("SetLinkTarget through an alias")
	}
	dead := newObj(t, r, plain)
	dead.Unref()
	if err := l.SetLinkTarget("weak", dead); !isFinalizedError(err) {
		t.Fatalf("link to a dead object: %v", err)
	}
	must(t, l.SetLinkTarget("strong", nil))
	if !part.Finalized() {
		t.Fatal("clearing the only strong link did not finalize the target")
	}
}
