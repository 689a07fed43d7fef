package board_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/device"
)

// The layout of the test guests in testdata/guests (layout.inc).
const (
	loadAddr       = guest.LoadAddr
	mboxPort       = 0x600 // 32-bit out: a report; in: the host's command
	mboxDataPort   = 0x604 // 32-bit out: a value that goes with a report
	debugExitPort  = guest.DebugExitPort
	remapBase      = guest.RemapBase
	romSigLo       = 0x4d454d51 // "QMEM", the flash's first word
	ramPattern     = 0x4d415221 // what the host puts in RAM at remapBase
	testDevCounter = guest.TestDevBase + device.TestDevRegCounter
	afterReads     = 1000
	dirtyBase      = 0x00200000
	counterAddr    = 0x00003000
	withheldAddr   = 0x01000800
)

// testGuest returns the program testdata/guests/NAME.bin.
func testGuest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "guests", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGuestBinariesAreCurrent assembles testdata/guests again and compares
// the result with the committed binaries.
func TestGuestBinariesAreCurrent(t *testing.T) {
	for _, tool := range []string{"sh", "as", "objcopy", "objdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (GNU binutils): cannot check that testdata/guests/*.bin are current", tool)
		}
	}
	out := t.TempDir()
	if msg, err := exec.Command("sh", filepath.Join("testdata", "guests", "build.sh"), out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	srcs, _ := filepath.Glob(filepath.Join("testdata", "guests", "*.S"))
	if len(srcs) == 0 {
		t.Fatal("no test guests")
	}
	for _, src := range srcs {
		name := filepath.Base(src[:len(src)-2])
		built, err := os.ReadFile(filepath.Join(out, name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, testGuest(t, name)) {
			t.Errorf("testdata/guests/%s.bin differs from %s.S assembled: run testdata/guests/build.sh", name, name)
		}
	}
}

// TestGuestLayoutMatches compares every .equ of layout.inc with the Go
// constant of the same meaning.
func TestGuestLayoutMatches(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "guests", "layout.inc"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		"LOAD_ADDR": loadAddr, "MBOX": mboxPort, "MBOX_DATA": mboxDataPort, "DEBUG_EXIT": debugExitPort,
		"REMAP_BASE": remapBase, "ROM_SIG_LO": romSigLo, "RAM_PATTERN": ramPattern,
		"TESTDEV_COUNTER": testDevCounter, "AFTER_READS": afterReads, "DIRTY_BASE": dirtyBase,
		"COUNTER": counterAddr, "WITHHELD": withheldAddr,
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*\.equ\s+(\w+),\s*(\w+)`).FindAllStringSubmatch(string(src), -1) {
		v, err := strconv.ParseUint(m[2], 0, 64)
		w, ok := want[m[1]]
		switch {
		case err != nil:
			t.Errorf(".equ %s, %s: %v", m[1], m[2], err)
		case !ok:
			t.Errorf(".equ %s has no Go constant in this test's table", m[1])
		case v != w:
			t.Errorf(".equ %s, %#x; the Go constant is %#x", m[1], v, w)
		}
		seen[m[1]] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("layout.inc has no .equ %s", name)
		}
	}
	if romSigLo != uint64(guest.ROMSignature[0])|uint64(guest.ROMSignature[1])<<8|uint64(guest.ROMSignature[2])<<16|uint64(guest.ROMSignature[3])<<24 {
		t.Errorf("ROM_SIG_LO %#x is not the start of %q", romSigLo, guest.ROMSignature)
	}
}
