package qom

import "strings"

// aliasData is the Opaque of an alias property.
type aliasData struct {
	target *Object
	name   string
}

// AddAlias adds property name to o forwarding to property targetName of
// target (R-ALIAS-1). The alias's type is the target property's, except that
// child<X> reads as link<X>. No reference is taken on target: the alias must
// not outlive it.
func (o *Object) AddAlias(name string, target *Object, targetName string) (*Property, error) {
	tp := target.FindProperty(targetName)
	if tp == nil {
		return nil, errorf("Property '%s.%s' not found", target.TypeName(), targetName)
	}
	typ := tp.Type
	if rest, ok := strings.CutPrefix(typ, "child<"); ok {
		typ = "link<" + rest
	}
	d := &aliasData{target: target, name: targetName}
	p := &Property{
		Name:        name,
		Type:        typ,
		Description: tp.Description,
		Default:     tp.Default,
		HasDefault:  tp.HasDefault,
		Opaque:      d,
		Get: func(*Object, *Property) (any, error) {
			return d.target.GetProperty(d.name)
		},
		Set: func(_ *Object, _ *Property, v any) error {
			return d.target.SetProperty(d.name, v)
		},
		Parse: func(_ *Object, _ *Property, s string) error {
			return d.target.ParseProperty(d.name, s)
		},
		Resolve: func(*Object, *Property) *Object {
			tp := d.target.FindProperty(d.name)
			if tp == nil || tp.Resolve == nil {
				return nil
			}
			return tp.Resolve(d.target, tp)
		},
	}
	return o.AddProperty(p)
}

// followAlias returns the property an alias finally forwards to, and its
// object; any other property is returned as is.
func followAlias(o *Object, p *Property) (*Object, *Property) {
	for i := 0; i < 64; i++ {
		d, ok := p.Opaque.(*aliasData)
		if !ok {
			return o, p
		}
		tp := d.target.FindProperty(d.name)
		if tp == nil {
			return o, p
		}
		o, p = d.target, tp
	}
	return o, p
}
