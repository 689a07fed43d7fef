package memory

import (
	"fmt"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// fataler is what test helpers need of testing.TB and *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// newTestSystem returns a registry with a machine and an empty memory
// system.
func newTestSystem(t fataler) (*qom.Registry, *System) {
	t.Helper()
	reg := qom.NewRegistry()
	if err := reg.Register(qom.TypeInfo{Name: "test-machine", Parent: qom.TypeMachine}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.NewMachine("test-machine"); err != nil {
		t.Fatal(err)
	}
	s, err := NewSystem(reg)
	if err != nil {
		t.Fatal(err)
	}
	return reg, s
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// viewText prints a view like `info mtree -f` prints ranges.
func viewText(v *FlatView) string {
	var b strings.Builder
	for _, fr := range v.Ranges() {
		label := fr.Region.TypeLabel()
		if fr.Readonly {
			label = "rom"
		}
		fmt.Fprintf(&b, "%016x-%016x (prio %d, %s): %s", fr.Start, fr.Last, fr.Region.Priority(), label, fr.Region.Name())
		if fr.Offset != 0 {
			fmt.Fprintf(&b, " @%016x", fr.Offset)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// testDevice is a device type for ownership tests.
type testDevice struct {
	qom.Device
	finalized int
}

func registerTestDevice(t testing.TB, reg *qom.Registry) {
	t.Helper()
	err := qom.Register[testDevice](reg, qom.TypeInfo{
		Name:   "test-device",
		Parent: qom.TypeDevice,
		InstanceFinalize: func(i qom.Instance) {
			i.(*testDevice).finalized++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newTestDevice(t testing.TB, reg *qom.Registry, id string) *testDevice {
	t.Helper()
	d := qom.MustCast[*testDevice](reg.MustNew("test-device"))
	if err := reg.AddDevice(d, id); err != nil {
		t.Fatal(err)
	}
	d.QOM().Unref() // the tree holds it now
	if err := d.SetRealized(true); err != nil {
		t.Fatal(err)
	}
	return d
}

// synchronize runs System.Synchronize with the lock held, as it requires.
func synchronize(s *System) {
	s.Lock()
	s.Synchronize()
	s.Unlock()
}
