package torture

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// bytesSource is a rand.Source that reads the fuzzer's input: the
// operations follow the bytes, so coverage guides the search. When the
// input runs out it continues with a fixed generator (a source that only
// returned zeros would make rand's rejection sampling spin).
type bytesSource struct {
	data []byte
	rest *rand.PCG
}

func (b *bytesSource) Uint64() uint64 {
	if len(b.data) >= 8 {
		v := binary.LittleEndian.Uint64(b.data)
		b.data = b.data[8:]
		return v
	}
	if b.rest == nil {
		b.rest = rand.NewPCG(uint64(len(b.data)), 1)
	}
	return b.rest.Uint64()
}

// FuzzOps runs operation sequences chosen by the input on the demo board
// (no readers, no guest) and requires every check to pass: views equal the
// brute-force resolver after every operation, nothing leaks, no finalizer
// runs early or twice.
func FuzzOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("plug, unplug, regions, aliases, transactions, spaces"))
	seed := make([]byte, 512)
	for i := range seed {
		seed[i] = byte(i * 37)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		rep, err := Run(Config{Ops: len(data)/8 + 1, Source: &bytesSource{data: data}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed() {
			t.Fatalf("%s\n%s", rep.Line(), rep.First)
		}
	})
}

// TestShortTorture runs a short torture with readers (the full run is
// `qmem torture`).
func TestShortTorture(t *testing.T) {
	rep, err := Run(Config{Ops: 300, Readers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("%s\n%s", rep.Line(), rep.First)
	}
	t.Log(rep.Line())
}
