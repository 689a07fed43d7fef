package monitor

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qmp"
)

// hmp is human-monitor-command: a subset of QEMU's HMP, `info mtree [-f]
// [-d] [-o] [-D]` and `info qom-tree [PATH]`, answered with the text the
// monitor would print, line ends as "\r\n" (QEMU's monitor_puts).
func (mon *Monitor) hmp(_ context.Context, a qmp.Args) (any, error) {
	out, err := mon.runHMP(a.String("command-line"))
	if err != nil {
		return nil, err
	}
	return strings.ReplaceAll(out, "\n", "\r\n"), nil
}

func (mon *Monitor) runHMP(line string) (string, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", nil
	}
	if f[0] != "info" {
		return fmt.Sprintf("unknown command: '%s'\n", f[0]), nil
	}
	if len(f) < 2 {
		return "info: missing subcommand (mtree, qom-tree)\n", nil
	}
	var b bytes.Buffer
	switch f[1] {
	case "mtree":
		var opt mtree.Options
		for _, a := range f[2:] {
			switch a {
			case "-f":
				opt.Flat = true
			case "-o":
				opt.Owners = true
			case "-D":
				opt.Disabled = true
			case "-d":
				// the dispatch tree is an internal structure of QEMU's; qmem
				// has none to show (R-MTREEF-3)
			default:
				return fmt.Sprintf("info mtree: unsupported option '%s'\n", a), nil
			}
		}
		if opt.Flat && mon.m.AccelRunning() {
			opt.Accel = &mtree.Accel{Name: "kvm", HasMemory: func(as *memory.AddressSpace, start, size uint64) bool {
				_, ok := mon.m.AccelHasMemory(as, start, size)
				return ok
			}}
		}
		mon.sys.Lock()
		err := mtree.WriteLocked(&b, mon.sys, opt)
		mon.sys.Unlock()
		if err != nil {
			return "", err
		}
	case "qom-tree":
		if len(f) > 3 {
			return "info qom-tree: too many arguments\n", nil
		}
		path := ""
		if len(f) == 3 {
			path = f[2]
		}
		mon.sys.Lock()
		err := mtree.WriteQOMTree(&b, mon.reg, path)
		mon.sys.Unlock()
		if err != nil {
			return "", err
		}
	default:
		return fmt.Sprintf("info: unknown subcommand '%s'\n", f[1]), nil
	}
	return b.String(), nil
}
