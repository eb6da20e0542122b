package playbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
)

// Playbook inputs. A playbook (not only a sub-playbook) may declare inputs:
// tenant switches such as `containHosts: {type: bool, default: true}`,
// read in its expressions as inputs.NAME. Each has a default, and a tenant
// sets its own values without editing the file (stored settings, the API
// and `starter playbooks inputs`); the workflow reads them with its
// snapshot of the incident, so a replay sees the values the run saw.

// MaxConnectors is the most connectors a step may list.
const MaxConnectors = 8

// valueTypes are the input types a playbook's own inputs may have: values a
// tenant can set, not entities of an incident.
var valueTypes = []string{InputString, InputInt, InputBool, InputStrings}

// topInputs checks a playbook's own inputs: values with defaults.
func (l *loader) topInputs(n *yaml.Node, inputs []Input) {
	for _, in := range inputs {
		at := n
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == in.Name {
				at = n.Content[i]
			}
		}
		switch {
		case !slices.Contains(valueTypes, in.Type):
			l.errorf(at, "input %s: a playbook's inputs are tenant switches of type %s; entity inputs (%s) are for sub-playbooks (kind: sub)",
				in.Name, strings.Join(valueTypes, ", "), in.Type)
		case in.Required:
			l.errorf(at, "input %s needs a default: a tenant that never sets it runs the playbook with the default", in.Name)
		}
	}
}

var connectorName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// connectors reads a step's connectors and checks each against the
// registry: a connector kind must carry the action type; any other name is
// a configured webhook's, so webhooks must carry it.
func (l *loader) connectors(n *yaml.Node, spec *actions.Spec) []string {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.errorf(n, "connectors must be a list of connector names in order of preference, got %s", kindName(n))
		return nil
	}
	if len(n.Content) > MaxConnectors {
		l.errorf(n.Content[MaxConnectors], "more than %d connectors", MaxConnectors)
		return nil
	}
	var out []string
	for _, item := range n.Content {
		name, ok := l.str(item, "a connector")
		if !ok {
			continue
		}
		if slices.Contains(out, name) {
			l.errorf(item, "connector %s is listed twice", name)
			continue
		}
		kind, what := name, name
		if !actions.IsConnectorKind(name) {
			if !connectorName.MatchString(name) {
				l.errorf(item, "connector %q: want a connector kind (%s) or a configured webhook's name (lower-case letters, digits, '-' and '_')",
					name, strings.Join(actions.ConnectorKinds, ", "))
				continue
			}
			kind, what = actions.Webhook, name+" (no connector kind, so a webhook's name)"
		}
		if spec != nil && !spec.CarriedBy(kind) {
			l.errorf(item, "connector %s cannot carry out %s; %s can", what, spec.Type, strings.Join(spec.Connectors, ", "))
			continue
		}
		out = append(out, name)
	}
	return out
}

// InputValues are a tenant's values of a playbook's inputs, by name.
type InputValues map[string]any

// WithPlaybookInputs returns the environment a playbook's steps run in
// with the tenant's values of its inputs (nil: every input at its
// default). Values the playbook does not declare, or of the wrong type
// (set for an earlier version of it), are left out: the default applies.
// env is not changed.
func WithPlaybookInputs(e *Env, pb *Playbook, values InputValues) *Env {
	c := *e
	c.inputs = pb.ResolveInputs(values)
	return &c
}

// ResolveInputs returns every input of the playbook with its value: the
// tenant's when it fits the declared type, else the default.
func (p *Playbook) ResolveInputs(values InputValues) map[string]any {
	out := make(map[string]any, len(p.Inputs))
	for _, in := range p.Inputs {
		if v, ok := values[in.Name]; ok {
			if c, err := convertInput(in, v); err == nil {
				out[in.Name] = c
				continue
			}
		}
		if in.Default != nil {
			out[in.Name] = in.Default
		}
	}
	return out
}

// Input returns the playbook's input of that name.
func (p *Playbook) Input(name string) (Input, bool) {
	i := slices.IndexFunc(p.Inputs, func(in Input) bool { return in.Name == name })
	if i < 0 {
		return Input{}, false
	}
	return p.Inputs[i], true
}

// CheckInputValues checks a tenant's values against the playbook's inputs
// and returns them converted to the declared types (JSON numbers to
// integers). An unknown input or a value of the wrong type is invalid,
// naming the input (field inputs.NAME).
func (p *Playbook) CheckInputValues(values InputValues) (InputValues, error) {
	if p.Kind == KindSub {
		return nil, domain.Invalid("inputs", "%s is a sub-playbook: its inputs come from the steps that use it, not from the tenant", p.Name)
	}
	out := make(InputValues, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		in, ok := p.Input(name)
		if !ok {
			return nil, domain.Invalid("inputs."+name, "playbook %s has no input %q%s", p.Name, name, p.inputList())
		}
		v, err := convertInput(in, values[name])
		if err != nil {
			return nil, domain.Invalid("inputs."+name, "%v", err)
		}
		out[name] = v
	}
	return out, nil
}

func (p *Playbook) inputList() string {
	if len(p.Inputs) == 0 {
		return " (it declares none)"
	}
	names := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		names[i] = in.Name
	}
	return "; want one of " + strings.Join(names, ", ")
}

// ParseInputText reads an input's value as a person types it on a command
// line (KEY=VALUE; see ParseInputValue).
func (p *Playbook) ParseInputText(name, text string) (any, error) {
	in, ok := p.Input(name)
	if !ok {
		return nil, domain.Invalid("inputs."+name, "playbook %s has no input %q%s", p.Name, name, p.inputList())
	}
	return ParseInputValue(in.Name, in.Type, text)
}

// ParseInputValue reads a value of an input of type typ as typed on a
// command line: bool as true/false (yes/no, on/off), int as a decimal
// integer, strings as a comma-separated list, string as it is.
func ParseInputValue(name, typ, text string) (any, error) {
	switch typ {
	case InputBool:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
		return nil, domain.Invalid("inputs."+name, "want true or false (yes or no), got %q", text)
	case InputInt:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, domain.Invalid("inputs."+name, "want an integer, got %q", text)
		}
		return n, nil
	case InputStrings:
		out := []string{}
		for _, s := range strings.Split(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case InputString:
		return text, nil
	}
	return nil, domain.Invalid("inputs."+name, "an entity input (%s) is not set by hand", typ)
}

// convertInput checks a value (from JSON or YAML) against an input's type
// and converts it to the type expressions see.
func convertInput(in Input, v any) (any, error) {
	switch in.Type {
	case InputString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case InputBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case InputInt:
		if n, ok := toInt(v); ok {
			return n, nil
		}
	case InputStrings:
		if l, ok := Strings(v); ok {
			return l, nil
		}
	default:
		return nil, fmt.Errorf("input %s is an entity (%s): the tenant cannot set it", in.Name, in.Type)
	}
	return nil, fmt.Errorf("input %s: want %s, got %s", in.Name, inputTypeName(in.Type), valueName(v))
}
