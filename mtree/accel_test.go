package mtree

import (
	"bytes"
	"strings"
	"testing"

	"qmem.dev/qmem/memory"
)

// R-MTREEF-2 item 7: with an accelerator, " kvm" follows each range once
// per space of the group that the accelerator maps it in, in creation
// order.
func TestAccelColumn(t *testing.T) {
	m, err := NewSpecExample()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var b bytes.Buffer
	err = Write(&b, m.System, Options{Flat: true, Accel: &Accel{Name: "kvm",
		HasMemory: func(as *memory.AddressSpace, start, size uint64) bool {
			// Only "memory" is mapped, and only below 0x20000000 (RAM).
			return as.Name() == "memory" && start+size <= 0x20000000
		}}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"  0000000000000000-0000000007ffffff (prio 0, ram): ram kvm\n",
		"  0000000020000000-00000000200fffff (prio 0, romd): flash\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
