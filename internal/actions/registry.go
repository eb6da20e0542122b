// Package actions is the registry of action types: what each one targets,
// which parameters it takes, whether it can be undone and by what. The
// playbook language checks steps against it, the policy reads its risk, the
// action center shows it, and connectors say which types they carry out.
package actions

import (
	"fmt"
	"slices"

	"github.com/airsoc/air/internal/domain"
)

// ParamType is the type of an action parameter as a playbook writes it.
type ParamType string

// Parameter types.
const (
	String     ParamType = "string"
	Int        ParamType = "int"
	Bool       ParamType = "bool"
	StringList ParamType = "[]string"
)

// Param declares one parameter of an action type.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	Enum     []string // allowed values, when the parameter is an enum
	Default  any
	Doc      string
}

// Spec declares an action type.
type Spec struct {
	Type string
	// Target is the kind of entity the action acts on; "" for actions on the
	// incident itself (tagging, commenting, reporting).
	Target domain.EntityKind
	Params []Param
	Undo   string // the action type that reverses this one, if any
	// Remediation actions touch the outside world and go through policy and
	// the action center; the others (incident bookkeeping, enrichment) run
	// directly as workflow steps.
	Remediation bool
	Doc         string
}

// Param returns the named parameter's declaration.
func (s *Spec) Param(name string) (Param, bool) {
	i := slices.IndexFunc(s.Params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return s.Params[i], true
}

var comment = Param{Name: "comment", Type: String, Doc: "free text sent with the request"}

var registry = []Spec{
	{Type: "device.isolate", Target: domain.KindDevice, Undo: "device.release", Remediation: true,
		Params: []Param{{Name: "isolationType", Type: String, Enum: []string{"Full", "Selective"}, Default: "Full"}, comment},
		Doc:    "cut a device off the network except for the security service"},
	{Type: "device.release", Target: domain.KindDevice, Remediation: true, Params: []Param{comment},
		Doc: "release a device from isolation"},
	{Type: "device.run_av_scan", Target: domain.KindDevice, Remediation: true,
		Params: []Param{{Name: "scanType", Type: String, Enum: []string{"Quick", "Full"}, Default: "Quick"}, comment},
		Doc:    "run an antivirus scan"},
	{Type: "user.disable", Target: domain.KindUser, Undo: "user.enable", Remediation: true, Params: []Param{comment},
		Doc: "disable a user account"},
	{Type: "user.enable", Target: domain.KindUser, Remediation: true, Params: []Param{comment},
		Doc: "enable a user account"},
	{Type: "user.revoke_sessions", Target: domain.KindUser, Remediation: true, Params: []Param{comment},
		Doc: "revoke every sign-in session of a user"},
	{Type: "incident.tag", Params: []Param{{Name: "tags", Type: StringList, Required: true}},
		Doc: "add tags to the incident"},
	{Type: "incident.comment", Params: []Param{{Name: "text", Type: String, Required: true}},
		Doc: "add a comment to the incident"},
}

// Lookup returns the spec of an action type.
func Lookup(actionType string) (*Spec, bool) {
	for i := range registry {
		if registry[i].Type == actionType {
			return &registry[i], true
		}
	}
	return nil, false
}

// All returns every registered spec in a stable order.
func All() []Spec { return slices.Clone(registry) }

// Names lists every registered action type, for error messages.
func Names() []string {
	n := make([]string, len(registry))
	for i, s := range registry {
		n[i] = s.Type
	}
	return n
}

// CheckArgs verifies that args fit the spec: no unknown names, required ones
// present, values of the declared type and enum. Defaults fill absent ones.
func (s *Spec) CheckArgs(args map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(s.Params))
	for name := range args {
		if _, ok := s.Param(name); !ok {
			return nil, domain.Invalid(name, "%s takes no parameter %q", s.Type, name)
		}
	}
	for _, p := range s.Params {
		v, ok := args[p.Name]
		if !ok || v == nil {
			if p.Required {
				return nil, domain.Invalid(p.Name, "%s needs parameter %q", s.Type, p.Name)
			}
			if p.Default != nil {
				out[p.Name] = p.Default
			}
			continue
		}
		if err := p.check(v); err != nil {
			return nil, domain.Invalid(p.Name, "%v", err)
		}
		out[p.Name] = v
	}
	return out, nil
}

func (p Param) check(v any) error {
	switch p.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return fmt.Errorf("unknown value %q, want one of %v", s, p.Enum)
		}
	case Int:
		switch v.(type) {
		case int, int64, float64:
		default:
			return fmt.Errorf("want an integer, got %T", v)
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, got %T", v)
		}
	case StringList:
		switch l := v.(type) {
		case []string:
		case []any:
			for i, e := range l {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("item %d: want a string, got %T", i, e)
				}
			}
		default:
			return fmt.Errorf("want a list of strings, got %T", v)
		}
	}
	return nil
}
