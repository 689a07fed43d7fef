package qom_test

import (
	"errors"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// newReg returns a fresh registry and registers a cleanup that fails the
// test if any object created in it is left unreachable (DESIGN L8). Tests
// that leak on purpose call r.Leaks themselves and clean up before the end.
func newReg(t testing.TB) *qom.Registry {
	t.Helper()
	r := qom.NewRegistry()
	t.Cleanup(func() {
		if leaks := r.Leaks(); len(leaks) > 0 {
			t.Errorf("leak check at end of test:\n%s", qom.FormatLeaks(leaks))
		}
	})
	return r
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails the test unless err is non-nil and its message is want.
func wantErr(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("got error %q, want %q", err, want)
	}
}

// wantPanic runs fn and returns the value it panicked with, failing the test
// if it did not panic.
func wantPanic(t testing.TB, fn func()) (v any) {
	t.Helper()
	defer func() { v = recover() }()
	fn()
	t.Fatal("did not panic")
	return nil
}

// isFinalizedError reports whether v (an error or a panic value) is a
// *qom.FinalizedError.
func isFinalizedError(v any) bool {
	err, ok := v.(error)
	if !ok {
		return false
	}
	var fe *qom.FinalizedError
	return errors.As(err, &fe)
}

// recorder collects events in order.
type recorder struct{ events []string }

func (r *recorder) add(e string)   { r.events = append(r.events, e) }
func (r *recorder) String() string { return strings.Join(r.events, " ") }
func (r *recorder) reset()         { r.events = nil }
func (r *recorder) hook(e string) func(qom.Instance) {
	return func(qom.Instance) { r.add(e) }
}

// register registers info and fails the test on error.
func register(t testing.TB, r *qom.Registry, info qom.TypeInfo) {
	t.Helper()
	must(t, r.Register(info))
}

// newObj creates an object of typ and fails the test on error.
func newObj(t testing.TB, r *qom.Registry, typ string) *qom.Object {
	t.Helper()
	inst, err := r.New(typ)
	must(t, err)
	return inst.QOM()
}

// plain is a minimal concrete type derived from object.
const plain = "test-plain"

func registerPlain(t testing.TB, r *qom.Registry) {
	t.Helper()
	register(t, r, qom.TypeInfo{Name: plain, Parent: qom.TypeObject})
}

// child creates a plain object as child name of parent, borrowed from it.
func child(t testing.TB, r *qom.Registry, parent *qom.Object, name string) *qom.Object {
	t.Helper()
	inst, err := r.NewChild(parent, name, plain)
	must(t, err)
	return inst.QOM()
}
