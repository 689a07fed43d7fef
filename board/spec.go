package board

import (
	"fmt"
	"sort"

	"qmem.dev/qmem/board/guest"
)

// Spec describes a machine: its RAM, its devices in creation order, and the
// guest program to load.
type Spec struct {
	Name    string
	RAMBase uint64
	RAMSize uint64
	Devices []DeviceSpec
	// Guest names the guest program loaded into RAM: "demo" for the test
	// guest of package board/guest, "" for none.
	Guest string
}

// DeviceSpec describes one device: its QOM type, its id ("" places it in
// /machine/peripheral-anon) and its properties (values as JSON would carry
// them: strings are parsed with the property's type).
type DeviceSpec struct {
	Type  string
	ID    string
	Props map[string]any
	Line  int // where the device was described, for messages (0: unknown)
	// Typed says the values are JSON values to set as they are (QMP's
	// device_add), not strings to parse.
	Typed bool
}

func (d *DeviceSpec) label() string {
	s := d.Type
	if d.ID != "" {
		s = fmt.Sprintf("%s (id %s)", d.Type, d.ID)
	}
	if d.Line > 0 {
		s += fmt.Sprintf(" at line %d", d.Line)
	}
	return s
}

// propOrder returns the property names in a fixed order: sorted, so that
// errors do not depend on map order.
func (d *DeviceSpec) propOrder() []string {
	keys := make([]string, 0, len(d.Props))
	for k := range d.Props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks what can be checked without building: RAM size and
// guest, duplicate ids.
func (s *Spec) Validate() error {
	if s.RAMSize == 0 || s.RAMSize%4096 != 0 {
		return fmt.Errorf("board %s: RAM size %#x must be a non-zero multiple of 4 KiB", s.Name, s.RAMSize)
	}
	if s.RAMBase%4096 != 0 || s.RAMBase+s.RAMSize < s.RAMBase {
		return fmt.Errorf("board %s: RAM at %#x+%#x is misaligned or wraps", s.Name, s.RAMBase, s.RAMSize)
	}
	switch s.Guest {
	case "", "demo":
	default:
		return fmt.Errorf("board %s: unknown guest %q (known: demo)", s.Name, s.Guest)
	}
	if s.Guest == "demo" && (s.RAMBase != guest.RAMBase || s.RAMSize < guest.RAMSize) {
		return fmt.Errorf("board %s: the demo guest needs RAM at %#x of at least %#x bytes", s.Name, guest.RAMBase, guest.RAMSize)
	}
	ids := map[string]bool{}
	for _, d := range s.Devices {
		if d.ID == "" {
			continue
		}
		if ids[d.ID] {
			return fmt.Errorf("board %s: Duplicate device ID '%s'", s.Name, d.ID)
		}
		ids[d.ID] = true
	}
	return nil
}

// loadGuest copies the guest program into RAM.
func (m *Machine) loadGuest(name string) error {
	img := guest.Image()
	if uint64(len(img)) > m.ram.Size()-guest.LoadAddr {
		return fmt.Errorf("guest %s does not fit in RAM", name)
	}
	copy(m.ram.Host()[guest.LoadAddr-guest.RAMBase:], img)
	return nil
}
