package mtree

import (
	"strings"
	"testing"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
)

// ruleCases build machines that show one rule each of SPEC A.20/A.21,
// mostly quirks the QEMU corpus lacks. Each prints the five variants into
// testdata/golden/<rule>.txt (reviewed by hand) and must parse back with
// mtree/dump to the same text (see TestRuleCasesParse).
var ruleCases = []struct {
	rule  string
	build func(e *env)
}{
	{"R-MTREE-1 grouping by root identity, names sorted with strcmp", func(e *env) {
		sys := e.container(nil, "system", size64)
		other := e.container(nil, "system", 0x1000) // same name, another region
		e.add(sys, 0, e.ram(nil, "ram", 0x1000), 0)
		e.add(other, 0, e.io(nil, "dev", 0x10), 0)
		e.as(sys, "memory")
		e.as(sys, "cpu-memory-1")
		e.as(sys, "I/O")
		e.as(other, "memory")
		e.as(sys, "cpu-memory-0")
	}},
	{"R-MTREE-2 groups in creation order of their first space", func(e *env) {
		a, b := e.io(nil, "a", 0x100), e.io(nil, "b", 0x100)
		e.as(b, "second-root first")
		e.as(a, "first-root second")
		e.as(b, "another of b")
	}},
	{"R-MTREE-3 alias targets queued as met, the queue growing while printed", func(e *env) {
		sys := e.container(nil, "system", size64)
		t1 := e.container(nil, "t1", 0x10000)
		t2 := e.ram(nil, "t2", 0x1000)
		t3 := e.ram(nil, "t3", 0x1000)
		e.add(t1, 0x100, e.alias(nil, "to-t2", t2, 0, 0x1000), 0)
		e.add(t1, 0x2000, e.alias(nil, "to-t3", t3, 0x800, 0x800), 0)
		e.add(t1, 0x4000, e.alias(nil, "to-t2-again", t2, 0, 0x10), 0)
		e.add(sys, 0x1000, e.alias(nil, "to-t1", t1, 0, 0x10000), 0)
		e.add(sys, 0x20000, e.alias(nil, "to-t3-first", t3, 0, 0x1000), 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-4 region line: signed priority, nv- prefix, disabled tag", func(e *env) {
		sys := e.container(nil, "system", size64)
		nv := e.ram(nil, "nvram", 0x1000)
		e.check(nv.SetNonvolatile(true))
		e.add(sys, 0x1000, nv, -1000)
		off := e.io(nil, "off", 0x100)
		e.add(sys, 0x2000, off, 4096)
		e.check(off.SetEnabled(false))
		e.add(sys, 0x3000, e.rom(nil, "rom with spaces / and [*]", 0x1000), 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-5 alias line: final target label, direct target name, offset range", func(e *env) {
		sys := e.container(nil, "system", size64)
		rom := e.rom(nil, "rom", 0x10000)
		romd := e.region(e.sys.NewROMDevice(nil, "flash", 0x10000, nil))
		inner := e.alias(nil, "inner", rom, 0x1000, 0x8000)
		e.add(sys, 0, e.alias(nil, "outer", inner, 0x100, 0x100), 0)
		e.add(sys, 0x1000, e.alias(nil, "to-flash", romd, 0x8000, 0x8000), 0)
		e.add(sys, 0x20000, e.alias(nil, "empty", rom, 0x40, 0), 0)
		e.add(sys, 0x30000, e.io(nil, "one-byte", 1), 0)
		nvAlias := e.alias(nil, "nv-alias", rom, 0, 0x100)
		e.check(nvAlias.SetNonvolatile(true))
		e.add(sys, 0x40000, nvAlias, 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-6 alias-target sections start at the target's own address", func(e *env) {
		sys := e.container(nil, "system", size64)
		bus := e.container(nil, "bus", 0x100000)
		dev := e.io(nil, "dev", 0x1000)
		e.add(bus, 0x5000, dev, 0)
		e.add(dev, 0x10, e.io(nil, "dev-reg", 0x10), 0)
		e.add(sys, 0x100000, bus, 0)
		e.add(sys, 0, e.alias(nil, "dev-window", dev, 0, 0x1000), 1)
		e.as(sys, "memory")
	}},
	{"R-MTREE-7 children by address, then priority, then list order", func(e *env) {
		sys := e.container(nil, "system", size64)
		e.add(sys, 0x2000, e.io(nil, "late-addr", 0x10), 5)
		e.add(sys, 0x1000, e.io(nil, "first-added", 0x1000), 0)
		e.add(sys, 0x1000, e.io(nil, "second-added", 0x10), 0)
		e.add(sys, 0x1000, e.io(nil, "high-prio", 0x100), 1)
		e.add(sys, 0x1000, e.io(nil, "low-prio", 0x100), -1)
		e.add(sys, 0x1000, e.io(nil, "third-added", 0x100), 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-8 a disabled alias still queues its target", func(e *env) {
		sys := e.container(nil, "system", size64)
		bm := e.container(nil, "bus master container", size64)
		a := e.alias(nil, "bus master", sys, 0, size64)
		e.add(bm, 0, a, 0)
		e.check(a.SetEnabled(false))
		e.add(sys, 0, e.ram(nil, "ram", 0x1000), 0)
		e.as(bm, "dev")
		e.as(sys, "memory")
	}},
	{"R-MTREE-9 children of a hidden disabled region print at their depth", func(e *env) {
		io := e.io(nil, "io", 0x10000)
		pm := e.container(nil, "pm", 0x40)
		e.add(pm, 0, e.io(nil, "evt", 4), 0)
		e.add(pm, 4, e.io(nil, "cnt", 2), 0)
		inner := e.container(nil, "inner-off", 0x10)
		e.add(inner, 8, e.io(nil, "tmr", 4), 0)
		e.add(pm, 8, inner, 0)
		e.check(inner.SetEnabled(false))
		e.add(io, 0, pm, 0)
		e.check(pm.SetEnabled(false))
		e.add(io, 0, e.io(nil, "dma", 8), 0)
		e.as(io, "I/O")
	}},
	{"R-MTREE-10 overflow marker, also before the text after a hidden line", func(e *env) {
		sys := e.container(nil, "system", size64)
		c := e.container(nil, "c", 0x1000)
		e.add(sys, 0x1000, c, 0)
		e.add(c, 0xfffffffffffff000, e.io(nil, "wraps", 0x1000), 0)
		d := e.container(nil, "d", 0x1000)
		e.add(d, 0, e.io(nil, "after-hidden", 0x10), 0)
		e.add(c, 0xfffffffffffff000, d, 1)
		e.check(d.SetEnabled(false))
		e.add(sys, 0x10000, e.io(nil, "fine", 0x10), 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-11 owner suffixes: dev id, dev path, obj path, type, parent, orphan", func(e *env) {
		sys := e.container(nil, "system", size64)
		withID := e.device("n1")
		anon := e.device("")
		backend := e.object("/objects", "mem1", "test-object")
		inner := e.object("/machine/unattached/device[0]", "lapic", "test-device")
		loose := e.reg.MustNew("test-object")
		defer loose.QOM().Unref()
		looseDev := e.reg.MustNew("test-device")
		defer looseDev.QOM().Unref()
		e.add(sys, 0x0000, e.io(withID, "bar", 0x100), 0)
		e.add(sys, 0x1000, e.io(anon, "anon-bar", 0x100), 0)
		e.add(sys, 0x2000, e.ram(backend, "mem1", 0x1000), 0)
		e.add(sys, 0x3000, e.io(inner, "lapic", 0x100), 0)
		e.add(sys, 0x4000, e.io(loose, "loose", 0x100), 0)
		e.add(sys, 0x5000, e.io(looseDev, "loose-dev", 0x100), 0)
		e.add(sys, 0x6000, e.io(nil, "unnamed-below", 0x100), 0)
		e.add(sys, 0x7000, e.io(nil, "", 0x100), 0)
		e.add(sys, 0x8000, e.io(withID, "", 0x100), 0)
		e.add(sys, 0x9000, e.alias(anon, "bar-alias", e.io(withID, "bar2", 0x1000), 0x800, 0x100), 0)
		e.as(sys, "memory")
	}},
	{"R-MTREE-12 a disabled root hides its line, not its header or children", func(e *env) {
		root := e.container(nil, "root-off", 0x10000)
		e.add(root, 0x100, e.io(nil, "child", 0x10), 0)
		e.check(root.SetEnabled(false))
		e.as(root, "dma")
		sec := e.container(nil, "sec-off", 0x1000)
		e.add(sec, 0, e.ram(nil, "sec-ram", 0x100), 0)
		e.check(sec.SetEnabled(false))
		top := e.container(nil, "top", 0x10000)
		e.add(top, 0, e.alias(nil, "to-sec", sec, 0, 0x1000), 0)
		e.as(top, "memory")
	}},
	{"R-MTREEF-1 spaces grouped by flat view object, numbered in print order", func(e *env) {
		sys := e.container(nil, "system", size64)
		e.add(sys, 0, e.ram(nil, "ram", 0x10000), 0)
		e.add(sys, 0x100000, e.io(nil, "mmio", 0x1000), 0)
		full := e.alias(nil, "memory-alias", sys, 0, size64)
		single := e.container(nil, "single", size64)
		e.add(single, 0, e.alias(nil, "bus master", sys, 0, size64), 0)
		e.as(sys, "memory")
		e.as(full, "through-alias")
		e.as(e.io(nil, "io", 0x10000), "I/O")
		e.as(single, "through-single-child")
		e.as(sys, "cpu-memory-0")
	}},
	{"R-MTREEF-2 (none), No rendered FlatView, alias roots", func(e *env) {
		sys := e.container(nil, "system", size64)
		e.add(sys, 0, e.ram(nil, "ram", 0x1000), 0)
		bm := e.container(nil, "bus master container", size64)
		a := e.alias(nil, "bus master", sys, 0, size64)
		e.add(bm, 0, a, 0)
		e.check(a.SetEnabled(false))
		e.as(bm, "e1000")
		e.as(bm, "e1000 again")
		two := e.container(nil, "two-empty", 0x1000)
		e.add(two, 0, e.io(nil, "zero-a", 0), 0)
		e.add(two, 0x10, e.io(nil, "zero-b", 0), 0)
		e.as(two, "renders-nothing")
		e.as(e.alias(nil, "window", sys, 0x800, 0x800), "alias-root")
	}},
	{"R-MTREEF-2 range lines: leaf priority, nv-, rom, ramd, offsets", func(e *env) {
		sys := e.container(nil, "system", size64)
		ram := e.ram(nil, "ram", 0x10000)
		nv := e.ram(nil, "nv", 0x1000)
		e.check(nv.SetNonvolatile(true))
		host := make([]byte, 0x1000)
		ramd := e.region(e.sys.NewRAMDevice(nil, "vfio-bar", 0x1000, host))
		e.add(sys, 0, ram, 3)
		ro := e.alias(nil, "ro-window", ram, 0x4000, 0x1000)
		e.check(ro.SetReadonly(true))
		e.add(sys, 0x4000, ro, 7)
		e.add(sys, 0x20000, nv, 0)
		nvAlias := e.alias(nil, "nv-window", ram, 0x100, 0x100)
		e.check(nvAlias.SetNonvolatile(true))
		e.add(sys, 0x30000, nvAlias, 0)
		e.add(sys, 0x40000, ramd, -2)
		io := e.io(nil, "mmio", 0x100)
		e.add(io, 0x10, e.io(nil, "reg", 0x10), 0)
		e.add(sys, 0x50000, io, 0)
		e.as(sys, "memory")
	}},
	{"R-MTREEF-4 ranges ascending after simplification (R-DUMP-7: only flags keep them apart)", func(e *env) {
		sys := e.container(nil, "system", size64)
		ram := e.ram(nil, "ram", 0x4000)
		e.add(sys, 0x10000, e.alias(nil, "lo", ram, 0, 0x1000), 0)
		e.add(sys, 0x11000, e.alias(nil, "mid", ram, 0x1000, 0x1000), 0)
		ro := e.alias(nil, "hi-ro", ram, 0x2000, 0x1000)
		e.check(ro.SetReadonly(true))
		e.add(sys, 0x12000, ro, 0)
		e.add(sys, 0x13000, e.alias(nil, "top", ram, 0x3000, 0x1000), 0)
		e.add(sys, 0, e.io(nil, "low", 0x100), 0)
		e.as(sys, "memory")
	}},
}

func ruleFile(rule string) string {
	name, _, _ := strings.Cut(rule, " ")
	i := 0
	for _, c := range ruleCases {
		if strings.HasPrefix(c.rule, name+" ") {
			i++
			if c.rule == rule {
				break
			}
		}
	}
	if i > 1 {
		return name + "-" + string(rune('0'+i))
	}
	return name
}

// TestRuleCases prints every rule case and compares with its golden file.
func TestRuleCases(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.rule, func(t *testing.T) {
			e := newEnv(t)
			c.build(e)
			golden(t, ruleFile(c.rule), printAll(t, e.sys))
		})
	}
}

// TestRuleCasesParse: the tree variants of every rule case parse with
// mtree/dump (the -D dump, owners from the -o dump: R-DUMP-6) and print back
// byte for byte, and a machine built from the parse prints the same tree
// variants again.
func TestRuleCasesParse(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.rule, func(t *testing.T) {
			e := newEnv(t)
			c.build(e)
			roundTripTree(t, e.sys)
		})
	}
}

// roundTripTree checks dump.ParseWithOwners(print -D, print -o) prints
// -D, plain and -o back exactly, and that Build of the parse prints them
// again exactly.
func roundTripTree(t *testing.T, sys *memory.System) *dump.Dump {
	t.Helper()
	texts := map[string]string{}
	for _, v := range Variants[:3] {
		var b strings.Builder
		if err := Write(&b, sys, v.Opt); err != nil {
			t.Fatal(err)
		}
		texts[v.Name] = b.String()
	}
	d, err := dump.ParseWithOwners([]byte(texts["info mtree -D"]), []byte(texts["info mtree -o"]))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, texts["info mtree -D"])
	}
	m, err := Build(d)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer m.Close()
	for _, v := range Variants[:3] {
		var p strings.Builder
		if err := d.Print(&p, dump.PrintOptions{Disabled: v.Opt.Disabled, Owners: v.Opt.Owners}); err != nil {
			t.Fatal(err)
		}
		if p.String() != texts[v.Name] {
			t.Errorf("%s: dump prints back differently:\n%s", v.Name, dump.FirstDiff("printed", "dump", texts[v.Name], p.String()))
		}
		var b strings.Builder
		if err := Write(&b, m.System, v.Opt); err != nil {
			t.Fatal(err)
		}
		if b.String() != texts[v.Name] {
			t.Errorf("%s: rebuilt machine prints differently:\n%s", v.Name, dump.FirstDiff("printed", "rebuilt", texts[v.Name], b.String()))
		}
	}
	return d
}
