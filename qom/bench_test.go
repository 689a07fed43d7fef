package qom_test

import (
	"sync/atomic"
	"testing"

	"qmem.dev/qmem/qom"
)

// BenchmarkRefUnref is a Ref/Unref pair on a live object (tracked by name in
// DESIGN §6; target: at most 6 ns and no allocation).
func BenchmarkRefUnref(b *testing.B) {
	r := qom.NewRegistry()
	o := r.MustNew(qom.TypeContainer).QOM()
	defer o.Unref()
	b.ReportAllocs()
	for b.Loop() {
		o.Ref()
		o.Unref()
	}
}

// BenchmarkAtomicAddPair is the floor under BenchmarkRefUnref: two atomic
// adds on one counter, nothing else.
func BenchmarkAtomicAddPair(b *testing.B) {
	var n atomic.Int64
	n.Store(1)
	b.ReportAllocs()
	for b.Loop() {
		n.Add(1)
		n.Add(-1)
	}
}

// BenchmarkRefUnrefParallel measures Ref/Unref pairs from every P on one
// shared object (the counter's cache line bounces between cores).
func BenchmarkRefUnrefParallel(b *testing.B) {
	r := qom.NewRegistry()
	o := r.MustNew(qom.TypeContainer).QOM()
	defer o.Unref()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.Ref()
			o.Unref()
		}
	})
}

// BenchmarkGetProperty reads a class property by name.
func BenchmarkGetProperty(b *testing.B) {
	r := qom.NewRegistry()
	o := r.MustNew(qom.TypeContainer).QOM()
	defer o.Unref()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.GetProperty("type"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolvePath resolves an absolute and a partial path in a small
// machine tree.
func BenchmarkResolvePath(b *testing.B) {
	r := qom.NewRegistry()
	if err := r.Register(qom.TypeInfo{Name: "bench-machine", Parent: qom.TypeMachine}); err != nil {
		b.Fatal(err)
	}
	m, err := r.NewMachine("bench-machine")
	if err != nil {
		b.Fatal(err)
	}
	defer m.QOM().Unparent()
	for _, tc := range []struct{ name, path string }{
		{"absolute", "/machine/unattached/sysbus"},
		{"partial", "sysbus"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if o, _ := r.ResolvePath(tc.path); o == nil {
					b.Fatal("not found")
				}
			}
		})
	}
}
