package monitor

import (
	"context"
	"fmt"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/qmp"
)

// deviceAdd is device_add: any registered device type, its properties
// passed through (checked by the properties themselves), placed at
// /machine/peripheral/<id> or peripheral-anon, realized (which maps its
// regions). On error nothing is left behind.
func (mon *Monitor) deviceAdd(_ context.Context, a qmp.Args) (any, error) {
	if bus := a.String("bus"); bus != "" {
		return nil, &qmp.Error{Class: qmp.DeviceNotFound, Desc: fmt.Sprintf("Bus '%s' not found", bus)}
	}
	props := map[string]any{}
	for k, v := range a {
		switch k {
		case "driver", "id", "bus":
		default:
			props[k] = v
		}
	}
	spec := board.DeviceSpec{Type: a.String("driver"), ID: a.String("id"), Props: props, Typed: true}
	return mon.locked(func() (any, error) {
		if _, err := mon.m.AddDevice(&spec); err != nil {
			return nil, err
		}
		return nil, nil
	})
}

// deviceDel is device_del: the device is unrealized (its regions leave the
// machine's containers) and unparented at once; DEVICE_DELETED is sent when
// it is really gone: after the grace period of that change, when it has
// been finalized.
func (mon *Monitor) deviceDel(_ context.Context, a qmp.Args) (any, error) {
	id := a.String("id")
	mon.sys.Lock()
	defer mon.sys.Unlock()
	d, err := mon.reg.FindDevice(id)
	if err != nil {
		return nil, err
	}
	path := d.CanonicalPath()
	devID := d.ID()
	if !d.Hotpluggable() {
		return nil, mon.reg.Unplug(d) // the refusal, in QEMU's words
	}
	data := map[string]any{"path": path}
	if devID != "" {
		data["device"] = devID
	}
	if err := d.OnFinalize(func() { _ = mon.srv.Emit("DEVICE_DELETED", data) }); err != nil {
		return nil, err
	}
	if err := mon.reg.Unplug(d); err != nil {
		return nil, err
	}
	if !d.Finalized() {
		// Readers were inside: finish in the background.
		mon.pending.Add(1)
		go mon.finishDelete()
	}
	return nil, nil
}

// finishDelete waits out the grace period without the lock, then performs
// the releases it was holding back (which finalizes the device).
func (mon *Monitor) finishDelete() {
	defer mon.pending.Done()
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := mon.sys.WaitGrace(ctx)
		cancel()
		mon.sys.Lock()
		mon.sys.Reclaim()
		left := mon.sys.Pending()
		mon.sys.Unlock()
		if err == nil && left == 0 {
			return
		}
	}
}

// objectAdd is object-add.
func (mon *Monitor) objectAdd(_ context.Context, a qmp.Args) (any, error) {
	props := map[string]any{}
	for k, v := range a {
		if k != "qom-type" && k != "id" {
			props[k] = v
		}
	}
	return mon.locked(func() (any, error) {
		_, err := mon.reg.AddUserObject(a.String("qom-type"), a.String("id"), props)
		return nil, err
	})
}

// objectDel is object-del.
func (mon *Monitor) objectDel(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		return nil, mon.reg.DelUserObject(a.String("id"))
	})
}

// LeakInfo is one entry of x-query-leaks.
type LeakInfo struct {
	PathOrType string   `json:"path-or-type"`
	Type       string   `json:"type"`
	RetainedBy []string `json:"retained-by"`
	Cycle      []string `json:"cycle,omitempty"`
}

// queryLeaks is x-query-leaks: the leak report of the machine's registry
// after releasing whatever is past its grace period. An empty list means
// no leak.
func (mon *Monitor) queryLeaks(context.Context, qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		mon.sys.Reclaim()
		out := []LeakInfo{}
		for _, l := range mon.reg.Leaks() {
			li := LeakInfo{PathOrType: l.Name, Type: l.Type, RetainedBy: []string{}, Cycle: l.Cycle}
			for _, r := range l.RetainedBy {
				h := r.Holder
				if h == "" {
					h = "(no object)"
				}
				s := h + " via " + r.Via
				if r.Count > 1 {
					s += fmt.Sprintf(" x%d", r.Count)
				}
				li.RetainedBy = append(li.RetainedBy, s)
			}
			out = append(out, li)
		}
		return out, nil
	})
}

// queryLiveObjects is x-query-live-objects: {"count": N}, the number of QOM
// objects created and not yet finalized (after releasing what is past its
// grace period).
func (mon *Monitor) queryLiveObjects(context.Context, qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		mon.sys.Reclaim()
		return map[string]any{"count": mon.reg.LiveObjects()}, nil
	})
}
