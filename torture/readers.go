package torture

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/memory"
)

// reader hammers the address spaces with reads and writes until stop is
// closed. Its accesses land in the playground, the hot-plug windows, RAM and
// the I/O space.
func (st *state) reader(id uint64, stop <-chan struct{}, count *atomic.Uint64) {
	rd := st.sys.NewReader()
	defer rd.Close()
	rng := rand.New(rand.NewPCG(id, st.cfg.Seed))
	var buf [8]byte
	n := uint64(0)
	defer func() { count.Add(n) }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		spaces := *st.spaceList.Load()
		as := spaces[rng.IntN(len(spaces))]
		var addr uint64
		switch k := rng.IntN(10); {
		case k < 4:
			addr = playBase + uint64(rng.IntN(playSize))
		case k < 6:
			addr = testdevBase + uint64(rng.IntN(testdevMax*testdevSlot))
		case k < 8:
			addr = ramBase + uint64(rng.IntN(ramMax*ramSlot))
		default:
			addr = uint64(rng.IntN(1 << 16))
		}
		if as == st.m.IO {
			addr &= 0xffff
		} else if len(spaces) > 2 && as != st.m.Memory {
			addr = uint64(rng.IntN(1 << 16)) // run-made spaces are small
		}
		size := 1 << rng.IntN(4)
		if rng.IntN(3) == 0 {
			rd.Write(as, addr, buf[:size], memory.Attrs{})
		} else {
			rd.Read(as, addr, buf[:size], memory.Attrs{})
		}
		n++
	}
}

// guest boots the board's guest under KVM again and again until stop;
// it reports how many boots completed.
func (st *state) guest(stop <-chan struct{}, done chan<- int) {
	runs := 0
	defer func() { done <- runs }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		st.m.ResetExit()
		_, err := st.m.Run()
		if errors.Is(err, board.ErrNoKVM) {
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		runs++
	}
}
