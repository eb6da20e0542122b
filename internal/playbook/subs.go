package playbook

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/domain"
)

// Sub-playbooks. A playbook with kind: sub declares inputs; a step of
// another playbook runs it with `use: NAME` and passes the inputs in
// `with`. The sub-playbook's expressions read them as inputs.NAME, typed:
// the loader compiles them against a struct type made at load time
// (reflect.StructOf) with one field per input, so `inputs.device.nmae` is
// a load error like any other misspelt field.

// scopeSet makes the expression environments of one playbook's steps: the
// static Env, entityScope and alertScope for a playbook, and for a
// sub-playbook the same with an `inputs` field added.
type scopeSet struct {
	sub bool // the environments have inputs (a sub-playbook, or a playbook that declares inputs)
	// top marks a playbook's own inputs: an environment without values
	// (not built with WithPlaybookInputs) reads every input's default.
	top    bool
	inputs []Input
	inType reflect.Type    // struct with one field per input
	types  [3]reflect.Type // by itemType: struct{*Env; [Item]; Inputs}
}

func newScopeSet(sub bool, inputs []Input) *scopeSet {
	s := &scopeSet{sub: sub || len(inputs) > 0, top: !sub, inputs: inputs}
	if !s.sub {
		return s
	}
	fields := make([]reflect.StructField, len(inputs))
	for i, in := range inputs {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: inputGoType(in.Type),
			Tag: reflect.StructTag(fmt.Sprintf(`expr:%q`, in.Name))}
	}
	s.inType = reflect.StructOf(fields)
	envField := reflect.StructField{Name: "Env", Type: reflect.TypeOf(&Env{}), Anonymous: true}
	inField := reflect.StructField{Name: "Inputs", Type: s.inType, Tag: `expr:"inputs"`}
	s.types[itemNone] = reflect.StructOf([]reflect.StructField{envField, inField})
	s.types[itemEntity] = reflect.StructOf([]reflect.StructField{envField,
		{Name: "Item", Type: entityViewType, Tag: `expr:"item"`}, inField})
	s.types[itemAlert] = reflect.StructOf([]reflect.StructField{envField,
		{Name: "Item", Type: alertViewType, Tag: `expr:"item"`}, inField})
	return s
}

// inputGoType is the Go type expressions see an input of type t as.
func inputGoType(t string) reflect.Type {
	switch t {
	case InputString:
		return reflect.TypeOf("")
	case InputInt:
		return reflect.TypeOf(0)
	case InputBool:
		return reflect.TypeOf(false)
	case InputStrings:
		return reflect.TypeOf([]string{})
	}
	return entityViewType
}

// zero returns a value of the environment type expressions of a step
// iterating it are compiled against. It is a struct, not a pointer: expr
// compiles field accesses on a struct environment to indexed loads.
// Evaluation passes a pointer to the same type.
func (s *scopeSet) zero(it itemType) any {
	if !s.sub {
		return scopeFor(it)
	}
	return reflect.New(s.types[it]).Elem().Interface()
}

// boundScope is an environment ready for evaluation: value is what
// expressions run against; setItem changes item between for_each items.
type boundScope struct {
	value   any
	setItem func(any)
}

// bind makes the evaluation environment of a step iterating it.
func (s *scopeSet) bind(env *Env, it itemType) (boundScope, error) {
	if !s.sub {
		switch it {
		case itemEntity:
			sc := &entityScope{Env: env}
			return boundScope{value: sc, setItem: func(v any) { sc.Item = v.(EntityView) }}, nil
		case itemAlert:
			sc := &alertScope{Env: env}
			return boundScope{value: sc, setItem: func(v any) { sc.Item = v.(AlertView) }}, nil
		}
		return boundScope{value: env}, nil
	}
	if env.inputs == nil && !s.top {
		return boundScope{}, fmt.Errorf("a sub-playbook's steps run through a use step: build their environment with WithInputs")
	}
	in := reflect.New(s.inType).Elem()
	for i, decl := range s.inputs {
		v, err := inputValue(decl, env.inputs, env)
		if err != nil {
			return boundScope{}, err
		}
		in.Field(i).Set(reflect.ValueOf(v))
	}
	v := reflect.New(s.types[it])
	v.Elem().Field(0).Set(reflect.ValueOf(env))
	if it == itemNone {
		v.Elem().Field(1).Set(in)
		return boundScope{value: v.Interface()}, nil
	}
	v.Elem().Field(2).Set(in)
	item := v.Elem().Field(1)
	return boundScope{value: v.Interface(), setItem: func(x any) { item.Set(reflect.ValueOf(x)) }}, nil
}

// inputValue converts the raw value of one input (as Invocation.Args gave
// it, possibly after a JSON round trip) to the type expressions see.
func inputValue(decl Input, args map[string]any, env *Env) (any, error) {
	raw, ok := args[decl.Name]
	if !ok || raw == nil {
		if decl.Required {
			return nil, fmt.Errorf("input %s is required", decl.Name)
		}
		raw = decl.Default
	}
	switch decl.Type {
	case InputString:
		if s, ok := raw.(string); ok {
			return s, nil
		}
	case InputBool:
		if b, ok := raw.(bool); ok {
			return b, nil
		}
	case InputInt:
		if n, ok := toInt(raw); ok {
			return n, nil
		}
	case InputStrings:
		if l, ok := Strings(raw); ok {
			return l, nil
		}
	default:
		key, ok := raw.(string)
		if v, isView := raw.(EntityView); isView {
			key, ok = v.Key, true
		}
		if !ok {
			break
		}
		l := entityList(env, domain.EntityKind(decl.Type))
		if l == nil {
			return nil, fmt.Errorf("input %s: no %s list", decl.Name, decl.Type)
		}
		i, found := sort.Find(len(*l), func(i int) int { return strings.Compare(key, (*l)[i].Key) })
		if !found {
			return nil, fmt.Errorf("input %s: no %s %q in the incident", decl.Name, decl.Type, key)
		}
		return (*l)[i], nil
	}
	return nil, fmt.Errorf("input %s: want %s, got %s", decl.Name, inputTypeName(decl.Type), valueName(raw))
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
	}
	return 0, false
}

// Strings reads a list of strings as expressions and decoded JSON give it
// ([]string or []any of strings); ok is false for anything else.
func Strings(v any) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return slices.Clone(l), true
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func inputTypeName(t string) string {
	switch t {
	case InputString:
		return "a string"
	case InputInt:
		return "an integer"
	case InputBool:
		return "true or false"
	case InputStrings:
		return "a list of strings"
	}
	return "a " + t
}

var inputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// inputs reads a sub-playbook's inputs mapping.
func (l *loader) inputs(n *yaml.Node) []Input {
	if n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "inputs must be a mapping of input names to types, got %s", kindName(n))
		return nil
	}
	var out []Input
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			l.errorf(k, "input names must be strings")
			continue
		}
		name := k.Value
		switch {
		case !inputName.MatchString(name):
			l.errorf(k, "input name %q: use letters, digits and '_', not starting with a digit (expressions read inputs.%s)", name, name)
			continue
		case seen[name] != nil:
			l.errorf(k, "duplicate input %q, first at line %d", name, seen[name].Line)
			continue
		case len(out) == MaxInputs:
			l.errorf(k, "more than %d inputs", MaxInputs)
			return out
		}
		seen[name] = k
		if l.alias(v) {
			continue
		}
		in := Input{Name: name, Required: true}
		typeNode := v
		if v.Kind == yaml.MappingNode {
			f, _ := l.fields(v, "an input", inputKeys)
			typeNode = f.vals["type"]
			if typeNode == nil {
				l.errorf(v, "input %s has no type", name)
				continue
			}
			if dn := f.vals["description"]; dn != nil {
				in.Description, _ = l.str(dn, "description")
			}
			if dn := f.vals["default"]; dn != nil {
				in.Default, in.Required = dn, false // decoded below, once the type is known
			}
		}
		t, ok := l.str(typeNode, "input type")
		if !ok {
			continue
		}
		if !isInputType(t) {
			l.errorf(typeNode, "input %s: unknown type %q, want one of %s", name, t, strings.Join(inputTypes(), ", "))
			continue
		}
		in.Type = t
		if dn, ok := in.Default.(*yaml.Node); ok {
			in.Default = l.inputDefault(dn, in)
		}
		out = append(out, in)
	}
	return out
}

// inputDefault decodes and checks an input's default value.
func (l *loader) inputDefault(n *yaml.Node, in Input) any {
	var v any
	if n.Kind == yaml.ScalarNode || n.Kind == yaml.SequenceNode {
		if err := n.Decode(&v); err != nil {
			l.errorf(n, "input %s: default: %v", in.Name, err)
			return nil
		}
	}
	ok := false
	switch in.Type {
	case InputString:
		_, ok = v.(string)
	case InputBool:
		_, ok = v.(bool)
	case InputInt:
		_, ok = v.(int)
	case InputStrings:
		var l []string
		if l, ok = Strings(v); ok {
			v = l
		}
	default:
		l.errorf(n, "input %s: an entity input has no default", in.Name)
		return nil
	}
	if !ok {
		l.errorf(n, "input %s: default must be %s, got %s", in.Name, inputTypeName(in.Type), kindName(n))
		return nil
	}
	return v
}

// useArgs compiles the with of a use step: the sub-playbook's inputs, whose
// types link checks once the sub-playbook is known.
func (l *loader) useArgs(n *yaml.Node, scope any) []namedArg {
	if n == nil || n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "with must be a mapping of input names to values, got %s", kindName(n))
		return nil
	}
	var out []namedArg
	for _, e := range l.namedEntries(n, "input") {
		k, v := e.key, e.val
		val, ok := l.argValue(v, "with."+k.Value, scope, 0)
		if !ok {
			continue
		}
		if lit, ok := val.(literal); ok && lit.v == nil {
			continue // null: as if absent
		}
		out = append(out, namedArg{name: k.Value, value: val, line: k.Line, col: k.Column})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// inputArgs evaluates a use step's with into the sub-playbook's inputs:
// entities become their keys, absent optional inputs their defaults.
func (s *Step) inputArgs(scope any) (map[string]any, error) {
	args := make(map[string]any, len(s.args))
	for _, a := range s.args {
		v, err := a.value.eval(scope)
		if err != nil {
			return nil, fmt.Errorf("with.%s: %v", a.name, err)
		}
		if ev, ok := v.(EntityView); ok {
			if s.Callee != nil {
				if in, ok := s.Callee.input(a.name); ok && in.Type != ev.Kind {
					return nil, fmt.Errorf("with.%s: want a %s, got the %s %s", a.name, in.Type, ev.Kind, ev.Key)
				}
			}
			v = ev.Key
		}
		args[a.name] = v
	}
	if s.Callee == nil {
		return args, nil
	}
	for _, in := range s.Callee.Inputs {
		v, ok := args[in.Name]
		switch {
		case (!ok || v == nil) && in.Required:
			return nil, fmt.Errorf("sub-playbook %s needs input %s", s.Use, in.Name)
		case !ok || v == nil:
			args[in.Name] = deepCopy(in.Default)
		case !fitsInput(v, in.Type):
			return nil, fmt.Errorf("with.%s: want %s, got %s", in.Name, inputTypeName(in.Type), valueName(v))
		}
	}
	return args, nil
}

// fitsInput reports whether an evaluated value (entities already turned
// into keys) fits an input type.
func fitsInput(v any, t string) bool {
	switch t {
	case InputString:
		_, ok := v.(string)
		return ok
	case InputBool:
		_, ok := v.(bool)
		return ok
	case InputInt:
		_, ok := toInt(v)
		return ok
	case InputStrings:
		_, ok := Strings(v)
		return ok
	}
	_, ok := v.(string)
	return ok
}

func (p *Playbook) input(name string) (Input, bool) {
	for _, in := range p.Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}

// link resolves the use steps of a set of playbooks: each names a
// sub-playbook of the set, passes inputs it declares with fitting types,
// and no chain of uses loops or nests deeper than MaxCallDepth. It sets
// Step.Callee and returns the problems found. A use of a playbook in broken
// (one that did not load) is not reported: its own errors are.
func link(pbs []*Playbook, broken []string) []Diagnostic {
	byName := map[string]*Playbook{}
	var subs []string
	for _, pb := range pbs {
		if byName[pb.Name] == nil {
			byName[pb.Name] = pb
		}
		if pb.Kind == KindSub {
			subs = append(subs, pb.Name)
		}
	}
	var diags []Diagnostic
	add := func(pb *Playbook, line, col int, format string, args ...any) {
		diags = append(diags, Diagnostic{File: pb.File, Line: max(line, 1), Column: max(col, 1), Message: fmt.Sprintf(format, args...)})
	}
	for _, pb := range pbs {
		for _, st := range pb.uses {
			callee := byName[st.Use]
			switch {
			case callee == nil && slices.Contains(broken, st.Use):
				continue // its own errors are reported
			case callee == nil:
				add(pb, st.useLine, st.useCol, "use: no sub-playbook %q%s", st.Use, suggest(st.Use, subs))
				continue
			case callee.Kind != KindSub:
				add(pb, st.useLine, st.useCol, "use: %q is a playbook that matches incidents, not a sub-playbook (kind: sub)", st.Use)
				continue
			}
			st.Callee = callee
			given := map[string]bool{}
			for _, a := range st.args {
				given[a.name] = true
				in, ok := callee.input(a.name)
				if !ok {
					var want []string
					for _, in := range callee.Inputs {
						want = append(want, in.Name)
					}
					msg := fmt.Sprintf("sub-playbook %s takes no input %q", callee.Name, a.name)
					if len(want) > 0 {
						msg += ", want one of " + strings.Join(want, ", ")
					}
					add(pb, a.line, a.col, "%s", msg)
					continue
				}
				if msg := argFits(a.value, in); msg != "" {
					add(pb, a.line, a.col, "with.%s: %s", a.name, msg)
				}
			}
			for _, in := range callee.Inputs {
				if in.Required && !given[in.Name] {
					line, col := st.withLine, st.withCol
					if line == 0 {
						line, col = st.useLine, st.useCol
					}
					add(pb, line, col, "sub-playbook %s needs input %q", callee.Name, in.Name)
				}
			}
		}
	}

	// Loops and depth, by a walk from every playbook along its uses.
	for _, pb := range pbs {
		for _, st := range pb.uses {
			if st.Callee == nil {
				continue
			}
			if path, loop := callChain(st.Callee, []string{pb.Name}); loop {
				add(pb, st.useLine, st.useCol, "use: %s calls itself: %s", st.Use, strings.Join(path, " → "))
			} else if len(path) > MaxCallDepth {
				add(pb, st.useLine, st.useCol, "use: sub-playbooks nest %d deep, the limit is %d: %s",
					len(path)-1, MaxCallDepth, strings.Join(path, " → "))
			}
		}
	}
	return diags
}

// callChain returns the longest chain of uses from pb, with path before
// it, or the first loop found.
func callChain(pb *Playbook, path []string) ([]string, bool) {
	path = append(slices.Clip(path), pb.Name)
	if slices.Contains(path[:len(path)-1], pb.Name) {
		return path, true
	}
	if len(path) > MaxCallDepth+1 {
		return path, false
	}
	longest := path
	for _, st := range pb.uses {
		if st.Callee == nil {
			continue
		}
		p, loop := callChain(st.Callee, path)
		if loop {
			return p, true
		}
		if len(p) > len(longest) {
			longest = p
		}
	}
	return longest, false
}

// argFits checks a compiled with value against an input as far as load
// time can tell; "" when it fits.
func argFits(a argValue, in Input) string {
	want := inputTypeName(in.Type)
	switch v := a.(type) {
	case whole:
		nt := v.p.nature
		if unknown(nt) {
			return ""
		}
		ok := false
		switch in.Type {
		case InputString:
			ok = nt.Kind == reflect.String
		case InputInt:
			ok = nt.Kind == reflect.Int || nt.Kind == reflect.Int64
		case InputBool:
			ok = nt.Kind == reflect.Bool
		case InputStrings:
			el := elemType(nt)
			ok = (nt.Kind == reflect.Slice || nt.Kind == reflect.Array) &&
				(el == nil || el.Kind() == reflect.String || el.Kind() == reflect.Interface)
		default:
			if nt.Type == entityViewType {
				if v.kind != "" && string(v.kind) != in.Type {
					return fmt.Sprintf("want %s, got a %s", want, v.kind)
				}
				return ""
			}
		}
		if !ok {
			return fmt.Sprintf("want %s, got %s", want, typeName(nt))
		}
		return ""
	case text:
		if in.Type == InputString {
			return ""
		}
		return fmt.Sprintf("want %s, but text with templates renders a string", want)
	case list:
		if in.Type == InputStrings {
			return ""
		}
		return fmt.Sprintf("want %s, got a list", want)
	case mapping:
		return fmt.Sprintf("want %s, got a mapping", want)
	case literal:
		if fitsLiteral(v.v, in.Type) {
			return ""
		}
		if isEntityKind(in.Type) {
			return fmt.Sprintf("want %s: give an entity expression such as \"{{ item }}\"", want)
		}
		return fmt.Sprintf("want %s, got %s", want, valueName(v.v))
	}
	return ""
}

func fitsLiteral(v any, t string) bool {
	switch t {
	case InputString:
		_, ok := v.(string)
		return ok
	case InputBool:
		_, ok := v.(bool)
		return ok
	case InputInt:
		_, ok := v.(int)
		return ok
	case InputStrings:
		_, ok := Strings(v)
		return ok
	}
	return false
}

func isEntityKind(t string) bool {
	return slices.ContainsFunc(entityLists, func(l struct {
		kind domain.EntityKind
		name string
	}) bool {
		return string(l.kind) == t
	})
}

// Source is one playbook file as a workflow pinned it.
type Source struct {
	File   string `json:"file"`
	Source []byte `json:"source"`
}

type setEntry struct {
	once sync.Once
	pbs  []*Playbook
	err  error
}

// sets holds every compilation CompileSet did, for the life of the process.
var sets sync.Map // [sha256.Size]byte → *setEntry

// CompileSet parses, checks and links a set of playbook files together, as
// LoadDir does for a directory: use steps get their Callee from the set.
// The result is sorted like LoadDir's. It is cached process-wide by the
// digest of every file name and source, so a workflow that pinned a set
// recompiles it once per process on replay; concurrent calls for the same
// set compile once and share the result (errors included). The returned
// playbooks are shared: do not modify them.
func CompileSet(srcs []Source) ([]*Playbook, error) {
	h := sha256.New()
	var n [8]byte
	for _, s := range srcs {
		for _, b := range [][]byte{[]byte(s.File), s.Source} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	var key [sha256.Size]byte
	copy(key[:], h.Sum(nil))
	v, _ := sets.LoadOrStore(key, &setEntry{})
	e := v.(*setEntry)
	e.once.Do(func() { e.pbs, e.err = compileSet(srcs) })
	return e.pbs, e.err
}

func compileSet(srcs []Source) ([]*Playbook, error) {
	var (
		pbs    []*Playbook
		diags  []Diagnostic
		broken []string
	)
	for _, s := range srcs {
		pb, name, ds := parseNamed(s.File, s.Source)
		diags = append(diags, ds...)
		if pb != nil {
			pbs = append(pbs, pb)
		} else if name != "" {
			broken = append(broken, name)
		}
	}
	return finish(pbs, broken, diags)
}
