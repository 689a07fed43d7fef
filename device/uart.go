package device

import (
	"io"
	"sync"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// UART16550A is a minimal 16550A: transmitted bytes go to the platform's
// serial writer (or Out), the line status register always reports an empty
// transmitter, received data is never available. Registers: THR/RBR (+0),
// IER (+1), IIR/FCR (+2), LCR (+3), MCR (+4), LSR (+5), MSR (+6), SCR (+7);
// with LCR bit 7 set, +0 and +1 are the divisor latch.
type UART16550A struct {
	qom.Device
	Port uint64    // base I/O port (property "port")
	Out  io.Writer // overrides the platform's serial writer when set

	mu   sync.Mutex
	regs [8]uint8
	dll  uint8
	dlm  uint8
	out  io.Writer
}

func registerUART(reg *qom.Registry) error {
	return qom.Register[UART16550A](reg, qom.TypeInfo{
		Name:   TypeUART,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			qom.SetHotpluggable(c, false)
			c.MustAddProperty(uint64Prop("port", func(o *qom.Object) *uint64 { return &qom.MustCast[*UART16550A](o).Port }).WithDefault(uint64(0x3f8)))
		},
	})
}

const (
	lsrTHRE = 0x20
	lsrTEMT = 0x40
	lcrDLAB = 0x80
)

// Realize maps the eight registers at Port.
func (u *UART16550A) Realize() error {
	p, err := PlatformOf(u.Registry())
	if err != nil {
		return err
	}
	u.out = u.Out
	if u.out == nil {
		u.out = p.Serial()
	}
	r, err := p.MemorySystem().NewIO(u, "serial", 8, &memory.Ops{
		Read:       u.read,
		Write:      u.write,
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 1},
	})
	if err != nil {
		return err
	}
	return mapInto(p.IOPorts(), u.Port, r, 0)
}

func (u *UART16550A) read(off uint64, _ uint, _ memory.Attrs) (uint64, memory.Result) {
	u.mu.Lock()
	defer u.mu.Unlock()
	dlab := u.regs[3]&lcrDLAB != 0
	switch off {
	case 0:
		if dlab {
			return uint64(u.dll), memory.OK
		}
		return 0, memory.OK // no received data
	case 1:
		if dlab {
			return uint64(u.dlm), memory.OK
		}
		return uint64(u.regs[1]), memory.OK
	case 2:
		return 0xc1, memory.OK // FIFOs enabled, no interrupt pending
	case 5:
		return lsrTHRE | lsrTEMT, memory.OK
	case 6:
		return 0xb0, memory.OK // CTS, DSR, DCD
	}
	return uint64(u.regs[off&7]), memory.OK
}

func (u *UART16550A) write(off, v uint64, _ uint, _ memory.Attrs) memory.Result {
	u.mu.Lock()
	defer u.mu.Unlock()
	dlab := u.regs[3]&lcrDLAB != 0
	switch {
	case off == 0 && dlab:
		u.dll = uint8(v)
	case off == 0:
		if u.out != nil {
			_, _ = u.out.Write([]byte{byte(v)})
		}
	case off == 1 && dlab:
		u.dlm = uint8(v)
	case off == 5 || off == 6:
		// read-only
	default:
		u.regs[off&7] = uint8(v)
	}
	return memory.OK
}
