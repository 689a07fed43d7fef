package monitor

import (
	"context"
	"fmt"

	"qmem.dev/qmem/qmp"
	"qmem.dev/qmem/qom"
)

// PropertyInfo is one entry of qom-list (ObjectPropertyInfo).
type PropertyInfo struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Description  string `json:"description,omitempty"`
	DefaultValue any    `json:"default-value,omitempty"`
}

// listOrder returns an object's properties in the order qom-list prints
// them: class properties from the root type down, then instance properties.
func listOrder(o *qom.Object) []*qom.Property {
	var chain []*qom.Class
	for c := o.Class(); c != nil; c = c.Parent() {
		chain = append(chain, c)
	}
	var out []*qom.Property
	instance := o.Properties()
	classProps := map[*qom.Property]bool{}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, p := range chain[i].OwnProperties() {
			out = append(out, p)
			classProps[p] = true
		}
	}
	for _, p := range instance {
		if !classProps[p] {
			out = append(out, p)
		}
	}
	return out
}

func (mon *Monitor) qomList(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		o, err := mon.resolve(a.String("path"))
		if err != nil {
			return nil, err
		}
		out := []PropertyInfo{}
		for _, p := range listOrder(o) {
			out = append(out, PropertyInfo{Name: p.Name, Type: p.Type, Description: p.Description})
		}
		return out, nil
	})
}

func (mon *Monitor) qomGet(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		o, err := mon.resolve(a.String("path"))
		if err != nil {
			return nil, err
		}
		return o.GetProperty(a.String("property"))
	})
}

func (mon *Monitor) qomSet(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		o, err := mon.resolve(a.String("path"))
		if err != nil {
			return nil, err
		}
		return nil, o.SetProperty(a.String("property"), a["value"])
	})
}

// TypeInfo is one entry of qom-list-types (ObjectTypeInfo).
type TypeInfo struct {
	Name     string `json:"name"`
	Abstract bool   `json:"abstract,omitempty"`
	Parent   string `json:"parent,omitempty"`
}

func (mon *Monitor) qomListTypes(_ context.Context, a qmp.Args) (any, error) {
	types, err := mon.reg.ListTypes(a.String("implements"), a.Bool("abstract"))
	if err != nil {
		return nil, err
	}
	out := make([]TypeInfo, 0, len(types))
	for _, t := range types {
		out = append(out, TypeInfo{Name: t.Name, Abstract: t.Abstract, Parent: t.Parent})
	}
	return out, nil
}

// typeProperties lists the class properties of a type, root type first.
// (QEMU also lists the instance properties of a scratch instance; qmem's
// types declare theirs on the class.)
func (mon *Monitor) typeProperties(c *qom.Class, hide map[string]bool) ([]PropertyInfo, error) {
	var chain []*qom.Class
	for k := c; k != nil; k = k.Parent() {
		chain = append(chain, k)
	}
	var props []*qom.Property
	for i := len(chain) - 1; i >= 0; i-- {
		props = append(props, chain[i].OwnProperties()...)
	}
	out := []PropertyInfo{}
	for _, p := range props {
		if hide[p.Name] {
			continue
		}
		pi := PropertyInfo{Name: p.Name, Type: p.Type, Description: p.Description}
		if p.HasDefault {
			pi.DefaultValue = p.Default
		}
		out = append(out, pi)
	}
	return out, nil
}

func (mon *Monitor) qomListProperties(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		name := a.String("typename")
		c, err := mon.reg.Class(name)
		if err != nil {
			return nil, &qmp.Error{Class: qmp.DeviceNotFound, Desc: fmt.Sprintf("Class '%s' not found", name)}
		}
		return mon.typeProperties(c, nil)
	})
}

// deviceHidden are the properties device-list-properties leaves out.
var deviceHidden = map[string]bool{"type": true, "realized": true, "hotpluggable": true, "hotplugged": true, "parent_bus": true}

func (mon *Monitor) deviceListProperties(_ context.Context, a qmp.Args) (any, error) {
	return mon.locked(func() (any, error) {
		name := a.String("typename")
		c, err := mon.reg.Class(name)
		if err != nil {
			return nil, &qmp.Error{Class: qmp.DeviceNotFound, Desc: fmt.Sprintf("Device '%s' not found", name)}
		}
		if c.Cast(qom.TypeDevice) == nil {
			return nil, fmt.Errorf("Parameter 'typename' expects device")
		}
		if c.Abstract() {
			return nil, fmt.Errorf("Parameter 'typename' expects non-abstract device")
		}
		return mon.typeProperties(c, deviceHidden)
	})
}
