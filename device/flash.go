package device

import (
	"fmt"
	"sync"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// Flash commands (8-bit writes at any offset).
const (
	FlashCmdReadID    = 0x90       // leave romd mode: reads return the ID
	FlashCmdReadArray = 0xff       // back to romd mode: reads come from the array
	FlashID           = 0x51464c53 // "SLFQ"
)

// Flash is a ROM device (R-KIND-5): in romd mode (the default) reads come
// straight from its memory and writes reach its callback, which ignores
// everything but two commands: ReadID switches romd mode off (reads then
// return FlashID through the callback) and ReadArray switches it back on.
// Its content is set before realize with SetContent (the board loads the
// firmware there).
type Flash struct {
	qom.Device
	Addr uint64 // property "addr"
	Size uint64 // property "size"

	content []byte
	region  *memory.Region
	mu      sync.Mutex
	cmds    int
}

func registerFlash(reg *qom.Registry) error {
	return qom.Register[Flash](reg, qom.TypeInfo{
		Name:   TypeFlash,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			qom.SetHotpluggable(c, false)
			c.MustAddProperty(uint64Prop("addr", func(o *qom.Object) *uint64 { return &qom.MustCast[*Flash](o).Addr }).WithDefault(uint64(0xffff0000)))
			c.MustAddProperty(qom.SizeProperty("size",
				func(o *qom.Object) uint64 { return qom.MustCast[*Flash](o).Size },
				func(o *qom.Object, v uint64) error {
					f := qom.MustCast[*Flash](o)
					if f.Realized() {
						return fmt.Errorf("Property 'size' can't be set after realization")
					}
					if v == 0 || v > 1<<30 {
						return fmt.Errorf("flash size %#x out of range (1 byte to 1 GiB)", v)
					}
					f.Size = v
					return nil
				}).WithDefault(uint64(64 << 10)))
			c.MustAddProperty(qom.StringProperty("content",
				func(o *qom.Object) string { return string(qom.MustCast[*Flash](o).content) },
				func(o *qom.Object, v string) error {
					f := qom.MustCast[*Flash](o)
					if f.Realized() {
						return fmt.Errorf("Property 'content' can't be set after realization")
					}
					f.SetContent([]byte(v))
					return nil
				}))
		},
	})
}

// SetContent sets the flash's initial content (copied at realize; longer
// content is an error then).
func (f *Flash) SetContent(b []byte) { f.content = append([]byte(nil), b...) }

// Region returns the flash's ROM device region (nil before realize).
func (f *Flash) Region() *memory.Region { return f.region }

// Realize creates the ROM device, loads the content and maps it at Addr.
func (f *Flash) Realize() error {
	p, err := PlatformOf(f.Registry())
	if err != nil {
		return err
	}
	if uint64(len(f.content)) > f.Size {
		return fmt.Errorf("flash content (%d bytes) larger than the flash (%d bytes)", len(f.content), f.Size)
	}
	r, err := p.MemorySystem().NewROMDevice(f, "flash", f.Size, &memory.Ops{
		Read:       f.read,
		Write:      f.write,
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 4},
	})
	if err != nil {
		return err
	}
	copy(r.Host(), f.content)
	f.region = r
	return mapInto(p.SystemMemory(), f.Addr, r, 0)
}

func (f *Flash) read(off uint64, size uint, _ memory.Attrs) (uint64, memory.Result) {
	// Only reached with romd mode off.
	return FlashID >> (8 * (off & 3)), memory.OK
}

func (f *Flash) write(_, v uint64, size uint, _ memory.Attrs) memory.Result {
	if size != 1 {
		return memory.OK // data writes to a read-only array are ignored
	}
	var romd bool
	switch v {
	case FlashCmdReadID:
		romd = false
	case FlashCmdReadArray:
		romd = true
	default:
		return memory.OK
	}
	sys := f.region.System()
	sys.Lock()
	defer sys.Unlock()
	f.mu.Lock()
	f.cmds++
	f.mu.Unlock()
	_ = f.region.SetRomdMode(romd)
	return memory.OK
}
