//go:build linux && amd64

package kvm

import "testing"

// progMMIOLoop is `1: mov %eax,0xfe000000; jmp 1b` (a3 00 00 00 fe eb f9).
var progMMIOLoop = []byte{0xa3, 0x00, 0x00, 0x00, 0xfe, 0xeb, 0xf9}

// BenchmarkPIOExit measures one port-write exit round trip: guest OUT ->
// KVM_RUN returns -> decode -> handler -> KVM_RUN re-enters.
func BenchmarkPIOExit(b *testing.B) { benchExits(b, progOutLoop) }

// BenchmarkMMIOExit is BenchmarkPIOExit for a 4-byte MMIO write to a page
// that no slot maps.
func BenchmarkMMIOExit(b *testing.B) { benchExits(b, progMMIOLoop) }

// benchExits runs prog, a loop making one exit an iteration, for b.N exits.
func benchExits(b *testing.B, prog []byte) {
	_, c, _ := newTestMachine(b, 0x10000, prog, 0)
	h := &endAfter{n: b.N}
	b.ReportAllocs()
	b.ResetTimer()
	if err := c.Run(h); err != errTestEnd {
		b.Fatalf("Run = %v", err)
	}
}

// TestRunAllocatesNothingPerExit compares the allocations of a run of 10
// exits with those of a run of 2010: they must be the same.
func TestRunAllocatesNothingPerExit(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progOutLoop, 0)
	allocs := func(exits int) float64 {
		return testing.AllocsPerRun(5, func() {
			if err := c.Run(&endAfter{n: exits}); err != errTestEnd {
				t.Fatalf("Run = %v", err)
			}
		})
	}
	few, many := allocs(10), allocs(2010)
	if many != few {
		t.Errorf("a Run with 10 exits allocates %v times, with 2010 exits %v times", few, many)
	}
	t.Logf("allocations per Run: %v, whatever the number of exits", few)
}
