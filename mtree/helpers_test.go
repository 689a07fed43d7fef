package mtree

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// env is a machine under construction in a test: a registry with
// /machine, a memory system, and helpers that fail the test on error. The
// helpers run without the lock; nothing else uses the system meanwhile.
type env struct {
	t   tb
	reg *qom.Registry
	sys *memory.System
}

// tb is what env needs of a *testing.T or *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func newEnv(t tb) *env {
	t.Helper()
	reg := qom.NewRegistry()
	for _, ti := range []qom.TypeInfo{
		{Name: "test-machine", Parent: qom.TypeMachine},
		{Name: "test-device", Parent: qom.TypeDevice},
		{Name: "test-object", Parent: qom.TypeObject},
	} {
		if err := reg.Register(ti); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.NewMachine("test-machine"); err != nil {
		t.Fatal(err)
	}
	sys, err := memory.NewSystem(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, reg: reg, sys: sys}
}

func (e *env) check(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) region(r *memory.Region, err error) *memory.Region {
	e.t.Helper()
	e.check(err)
	return r
}

const size64 = ^uint64(0) // 2^64 for the memory API

func (e *env) container(owner qom.Instance, name string, size uint64) *memory.Region {
	e.t.Helper()
	return e.region(e.sys.NewContainer(owner, name, size))
}

func (e *env) io(owner qom.Instance, name string, size uint64) *memory.Region {
	e.t.Helper()
	return e.region(e.sys.NewIO(owner, name, size, nil))
}

func (e *env) ram(owner qom.Instance, name string, size uint64) *memory.Region {
	e.t.Helper()
	return e.region(e.sys.NewRAM(owner, name, size))
}

func (e *env) rom(owner qom.Instance, name string, size uint64) *memory.Region {
	e.t.Helper()
	return e.region(e.sys.NewROM(owner, name, size))
}

func (e *env) alias(owner qom.Instance, name string, target *memory.Region, off, size uint64) *memory.Region {
	e.t.Helper()
	return e.region(e.sys.NewAlias(owner, name, target, off, size))
}

func (e *env) add(c *memory.Region, off uint64, sub *memory.Region, prio int32) {
	e.t.Helper()
	e.check(c.AddSubregionOverlap(off, sub, prio))
}

func (e *env) as(root *memory.Region, name string) *memory.AddressSpace {
	e.t.Helper()
	as, err := e.sys.NewAddressSpace(root, name)
	e.check(err)
	return as
}

// device returns a new device placed with AddDevice (id "" places it in
// /machine/peripheral-anon).
func (e *env) device(id string) *qom.Object {
	e.t.Helper()
	inst, err := e.reg.New("test-device")
	e.check(err)
	e.check(e.reg.AddDevice(inst, id))
	inst.QOM().Unref()
	return inst.QOM()
}

// object returns a new object at parentPath/name.
func (e *env) object(parentPath, name, typ string) *qom.Object {
	e.t.Helper()
	parent, err := e.reg.Container(parentPath)
	e.check(err)
	inst, err := e.reg.NewChild(parent, name, typ)
	e.check(err)
	return inst.QOM()
}

// print returns the variant opt of the machine.
func (e *env) print(opt Options) string {
	e.t.Helper()
	var b bytes.Buffer
	e.check(Write(&b, e.sys, opt))
	return b.String()
}

// printAll prints the five variants CheckDir compares, each under a header
// line "== <variant> ==".
func printAll(t tb, sys *memory.System) string {
	t.Helper()
	var b bytes.Buffer
	for _, v := range Variants {
		b.WriteString("== " + v.Name + " ==\n")
		if err := Write(&b, sys, v.Opt); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// golden compares got with testdata/golden/<name>.txt, rewriting the file
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("differs from %s:\n%s", file, dump.FirstDiff(file, "got", string(want), got))
	}
}

// bytesBuffer is a strings.Builder with the io.Writer the printers need.
type bytesBuffer = strings.Builder
