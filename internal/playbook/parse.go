package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
)

// Keys each mapping accepts, in the order error messages list them; the
// tables in schema.go hold them with their documentation.
var (
	playbookKeys = names(playbookFields)
	stepKeys     = names(stepFields)
	retryKeys    = names(retryFields)
	inputKeys    = names(inputFields)
)

// Parse parses, validates and compiles one playbook file. file names it in
// diagnostics and becomes Playbook.File. Every problem found is reported at
// once in a *LoadError.
func Parse(file string, src []byte) (*Playbook, error) {
	pb, diags := parse(file, src)
	if len(diags) > 0 {
		return nil, &LoadError{Diagnostics: diags}
	}
	return pb, nil
}

// parse returns the playbook, or the diagnostics sorted by position and the
// name of the playbook when the file got as far as naming one, so that a
// directory's other files do not report it missing as well.
func parse(file string, src []byte) (*Playbook, []Diagnostic) {
	pb, _, diags := parseNamed(file, src)
	return pb, diags
}

func parseNamed(file string, src []byte) (*Playbook, string, []Diagnostic) {
	l := newLoader(file, src)
	pb := l.playbook(src)
	name := ""
	if pb != nil {
		name = pb.Name
	}
	if len(l.diags) > 0 {
		sortDiagnostics(l.diags)
		return nil, name, l.diags
	}
	return pb, name, nil
}

// loader holds the state of loading one file: its text, for mapping
// positions inside expressions back to the file, and the diagnostics so far.
type loader struct {
	file       string
	text       []rune
	lineStart  []int // rune offset of each line's start
	diags      []Diagnostic
	cur        *exprCtx // the step whose expressions are being compiled; nil for match
	inputNames []string // a sub-playbook's input names, for suggestions
}

// exprCtx is what compiling a step's expressions needs to know of the step
// and collects from them.
type exprCtx struct {
	handler  bool              // the step is an error handler: error and failed_step are set
	itemKind domain.EntityKind // the for_each entity kind, when known
	refs     []stepRef         // steps.ID read by the step
}

// stepRef is one steps.ID in an expression, where it was found.
type stepRef struct {
	id        string
	line, col int
	what      string // the field, for diagnostics: when, with.text, …
	// field is the output field read (steps.ID.FIELD), "" when the
	// syntax does not tell.
	field string
}

func newLoader(file string, src []byte) *loader {
	l := &loader{file: file, text: []rune(string(src)), lineStart: []int{0}}
	for i, r := range l.text {
		if r == '\n' {
			l.lineStart = append(l.lineStart, i+1)
		}
	}
	return l
}

func (l *loader) add(line, col int, format string, args ...any) {
	l.diags = append(l.diags, Diagnostic{File: l.file, Line: max(line, 1), Column: max(col, 1),
		Message: fmt.Sprintf(format, args...)})
}

// errorf records a problem at the start of node n, saying so when a YAML
// comment cut n's value short (commentTrap).
func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	l.add(n.Line, n.Column, "%s", withTrap(fmt.Sprintf(format, args...), n))
}

// errorAt records a problem at rune offset off of the scalar n's value.
func (l *loader) errorAt(n *yaml.Node, off int, format string, args ...any) {
	line, col := l.posIn(n, off)
	l.add(line, col, "%s", withTrap(fmt.Sprintf(format, args...), n))
}

// withTrap adds commentTrap's explanation to a message about n.
func withTrap(msg string, n *yaml.Node) string {
	if hint := commentTrap(n); hint != "" {
		return msg + " (" + hint + ")"
	}
	return msg
}

// posIn maps rune offset off of scalar n's value to a file position. It walks
// the source from the node's start, matching the value's characters, with a
// run of white space in the value matching any run of white space (line
// breaks and indentation included) in the source, which is what YAML's line
// folding and block indentation amount to. When the source does not match
// the value (escape sequences in a double-quoted string) it falls back to
// the node's start.
func (l *loader) posIn(n *yaml.Node, off int) (int, int) {
	if n.Kind != yaml.ScalarNode || n.Line < 1 || n.Line > len(l.lineStart) {
		return n.Line, n.Column
	}
	text := l.text
	i := l.lineStart[n.Line-1] + n.Column - 1
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		for i < len(text) && text[i] != '\n' { // the header line
			i++
		}
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		i++
	}
	skipSpace := func() {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
	}
	val := []rune(n.Value)
	off = min(off, len(val))
	if len(val) > 0 && !isSpace(val[0]) {
		skipSpace()
	}
	for k := 0; k < off; {
		if isSpace(val[k]) {
			for k < off && isSpace(val[k]) {
				k++
			}
			skipSpace()
			continue
		}
		if i >= len(text) || text[i] != val[k] {
			return n.Line, n.Column
		}
		i++
		k++
	}
	if off < len(val) && !isSpace(val[off]) {
		skipSpace()
		if i >= len(text) || text[i] != val[off] {
			return n.Line, n.Column
		}
	}
	return l.lineCol(i)
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// lineCol converts a rune offset into a 1-based line and column.
func (l *loader) lineCol(i int) (int, int) {
	line := sort.Search(len(l.lineStart), func(j int) bool { return l.lineStart[j] > i }) - 1
	return line + 1, i - l.lineStart[line] + 1
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError records a YAML syntax error, which yaml.v3 locates by line only.
func (l *loader) yamlError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if hint := yamlHint(msg, []byte(string(l.text)), line); hint != "" {
		msg += " (" + hint + ")"
	}
	l.add(line, 1, "%s", msg)
}

// playbook parses the whole file.
func (l *loader) playbook(src []byte) *Playbook {
	if len(src) > maxFileSize {
		l.add(1, 1, "file is %d bytes, the limit is %d", len(src), maxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(1, 1, "empty file, want a playbook with at least name and version")
		} else {
			l.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		l.errorf(&extra, "a playbook file holds one YAML document")
	case !errors.Is(err, io.EOF):
		l.yamlError(err)
	}
	if len(doc.Content) != 1 {
		l.add(1, 1, "empty file, want a playbook with at least name and version")
		return nil
	}
	root := doc.Content[0]

	pb := &Playbook{File: l.file, Source: bytes.Clone(src)}
	f, ok := l.fields(root, "a playbook", playbookKeys)
	if !ok {
		return nil
	}
	if n := f.vals["name"]; n == nil {
		l.errorf(root, "playbook has no name")
	} else if s, ok := l.str(n, "name"); ok {
		if !validID(s) {
			l.errorf(n, "name %q: use lower-case letters, digits, '-' and '_'", s)
		}
		pb.Name, pb.nameLine, pb.nameCol = s, n.Line, n.Column
	}
	if n := f.vals["version"]; n == nil {
		l.errorf(root, "playbook has no version")
	} else if v, ok := l.integer(n, "version"); ok {
		if v < 1 {
			l.errorf(n, "version must be 1 or more, got %d", v)
		}
		pb.Version = v
	}
	if n := f.vals["kind"]; n != nil {
		if k, ok := l.str(n, "kind"); ok {
			if k != KindSub {
				l.errorf(n, "kind must be sub (a sub-playbook), got %q; leave kind out for a playbook that matches incidents", k)
			}
			pb.Kind = k
		}
	}
	sub := pb.Kind == KindSub
	if n := f.vals["order"]; n != nil {
		pb.Order, _ = l.integer(n, "order")
	}
	if n := f.vals["description"]; n != nil && n.ShortTag() != "!!null" {
		pb.Description, _ = l.str(n, "description")
	}
	if n := f.vals["fallback"]; n != nil {
		pb.Fallback, _ = l.boolean(n, "fallback")
	}
	if n := f.vals["exclusive"]; n != nil {
		pb.Exclusive, _ = l.boolean(n, "exclusive")
	}
	if n := f.vals["beside"]; n != nil {
		pb.Beside, _ = l.boolean(n, "beside")
		if k := f.keys["fallback"]; pb.Beside && k != nil && pb.Fallback {
			l.errorf(k, "a beside playbook runs beside the others; it cannot also be a fallback")
		}
	}
	if sub {
		for _, key := range []string{"match", "order", "fallback", "exclusive", "beside"} {
			if k := f.keys[key]; k != nil {
				l.errorf(k, "a sub-playbook (kind: sub) takes no %s: it runs only where a step says use: %s", key, pb.Name)
			}
		}
	}
	if n := f.vals["inputs"]; n != nil {
		pb.Inputs = l.inputs(n)
		if !sub {
			l.topInputs(n, pb.Inputs)
		}
		for _, in := range pb.Inputs {
			l.inputNames = append(l.inputNames, in.Name)
		}
	}
	pb.scopes = newScopeSet(sub, pb.Inputs)

	if n := f.vals["match"]; n != nil && !sub && n.ShortTag() != "!!null" && strings.TrimSpace(n.Value) != "" {
		if src, ok := l.exprSource(n, "match"); ok {
			if c := l.compileExpr(n, 0, src, "match", pb.scopes.zero(itemNone)); c != nil {
				if !c.isBool() {
					l.errorAt(n, 0, "match: want true or false, got %s", typeName(c.nature))
				}
				pb.match = c.program
				pb.Match = c.src
			}
		}
	}
	if n := f.vals["stages"]; n != nil {
		l.stages(n, pb)
	}
	return pb
}

// fieldSet is a mapping's values and keys by key.
type fieldSet struct {
	vals, keys map[string]*yaml.Node
}

// fields reads a mapping whose keys must be among allowed, reporting unknown
// and duplicate keys and aliases.
func (l *loader) fields(n *yaml.Node, what string, allowed []string) (fieldSet, bool) {
	f := fieldSet{vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping, got %s", what, kindName(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "keys must be plain strings")
			continue
		}
		if !contains(allowed, k.Value) {
			l.errorf(k, "unknown key %q, want one of %s", k.Value, strings.Join(allowed, ", "))
			continue
		}
		if first := f.keys[k.Value]; first != nil {
			l.errorf(k, "duplicate key %q, first at line %d", k.Value, first.Line)
			continue
		}
		f.keys[k.Value] = k
		if l.alias(v) {
			continue
		}
		f.vals[k.Value] = v
	}
	return f, true
}

// alias reports (and records) a YAML alias, which playbooks do not use: they
// hide what a step does and can blow up in size.
func (l *loader) alias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		l.errorf(n, "YAML aliases are not supported in playbooks")
		return true
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("%q", n.Value)
		}
		return n.Value
	}
	return "nothing"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a string scalar.
func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		l.errorf(n, "%s must be a string, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// integer reads an integer scalar.
func (l *loader) integer(n *yaml.Node, what string) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		l.errorf(n, "%s must be an integer, got %s", what, kindName(n))
		return 0, false
	}
	return v, true
}

// boolean reads a true or false scalar.
func (l *loader) boolean(n *yaml.Node, what string) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		l.errorf(n, "%s must be true or false, got %s", what, kindName(n))
		return false, false
	}
	return v, true
}

// duration reads a Go duration such as 30s or 1h30m, positive and at most
// MaxTimeout.
func (l *loader) duration(n *yaml.Node, what string) (time.Duration, bool) {
	return l.durationUpTo(n, what, MaxTimeout)
}

// durationUpTo reads a positive Go duration of at most limit.
func (l *loader) durationUpTo(n *yaml.Node, what string, limit time.Duration) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		l.errorf(n, "%s must be a duration such as 30s, 5m or 1h, got %s", what, kindName(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		l.errorf(n, "%s must be a duration such as 30s, 5m or 1h, got %q", what, n.Value)
		return 0, false
	case d <= 0:
		l.errorf(n, "%s must be positive, got %s", what, n.Value)
		return 0, false
	case d > limit:
		l.errorf(n, "%s is %s, the limit is %s", what, n.Value, limit)
		return 0, false
	}
	return d, true
}

// exprSource reads an expression: any scalar, so that `when: true` works.
func (l *loader) exprSource(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.errorf(n, "%s must be an expression, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// validID reports whether s is a valid playbook name or step id.
func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// stages reads the stages mapping, then checks how the steps refer to
// each other.
func (l *loader) stages(n *yaml.Node, pb *Playbook) {
	if n.ShortTag() == "!!null" {
		return
	}
	names := make([]string, len(Stages))
	for i, s := range Stages {
		names[i] = string(s)
	}
	f, ok := l.fields(n, "stages", names)
	if !ok {
		return
	}
	fl := &flow{declared: map[string]*yaml.Node{}}
	count := 0
	for i, stage := range Stages {
		sn := f.vals[string(stage)]
		if sn == nil || sn.ShortTag() == "!!null" {
			continue
		}
		if sn.Kind != yaml.SequenceNode {
			l.errorf(sn, "stage %s must be a list of steps, got %s", stage, kindName(sn))
			continue
		}
		for j, stn := range sn.Content {
			if l.alias(stn) {
				continue
			}
			if count++; count == MaxSteps+1 {
				l.errorf(stn, "more than %d steps in a playbook", MaxSteps)
			}
			info := &stepInfo{ord: i*(MaxSteps+1) + j, node: stn}
			if st := l.step(stn, stage, pb, fl, info); st != nil {
				info.step = st
				pb.Stages[i] = append(pb.Stages[i], st)
				fl.steps = append(fl.steps, info)
			}
		}
	}
	l.checkFlow(pb, fl)
}

// step reads, checks and compiles one step.
func (l *loader) step(n *yaml.Node, stage Stage, pb *Playbook, fl *flow, info *stepInfo) *Step {
	f, ok := l.fields(n, "a step", stepKeys)
	if !ok {
		return nil
	}
	st := &Step{Stage: stage, Line: n.Line, playbook: pb.Name, sub: pb.Kind == KindSub, scope: pb.scopes,
		OnError: OnErrorFail}
	errs := len(l.diags)

	if idn := f.vals["id"]; idn == nil {
		l.errorf(n, "step has no id")
	} else if id, ok := l.str(idn, "id"); ok {
		switch first := fl.declared[id]; {
		case !validID(id):
			l.errorf(idn, "step id %q: use lower-case letters, digits, '-' and '_'", id)
		case first != nil:
			l.errorf(idn, "duplicate step id %q, first at line %d", id, first.Line)
		default:
			fl.declared[id] = idn
			info.id = id
		}
		st.ID = id
	}

	actn, usen, askn, waitn := f.vals["action"], f.vals["use"], f.vals["ask"], f.vals["wait"]
	var kinds []string
	for _, k := range []string{"action", "use", "ask", "wait"} {
		if f.vals[k] != nil {
			kinds = append(kinds, k)
		}
	}
	waits := len(kinds) == 1 && (askn != nil || waitn != nil)
	switch {
	case len(kinds) > 1:
		l.errorf(f.keys[kinds[1]], "a step has one of action, use, ask and wait, not both %s and %s", kinds[0], kinds[1])
	case len(kinds) == 0:
		l.errorf(n, "step has no action: give it action: TYPE, use: SUB-PLAYBOOK, ask: (a question) or wait: (a condition)")
	case waits:
	case actn != nil:
		if a, ok := l.str(actn, "action"); ok {
			st.Action = a
			if spec, ok := actions.Lookup(a); ok {
				st.Spec = spec
				st.Approval = ApprovalPolicy
			} else {
				msg := fmt.Sprintf("unknown action %q", a)
				if s := closest(a, actions.Names()); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				l.errorf(actn, "%s, want one of %s", msg, strings.Join(actions.Names(), ", "))
			}
		}
	default:
		if u, ok := l.str(usen, "use"); ok {
			if !validID(u) {
				l.errorf(usen, "use %q: a sub-playbook name has lower-case letters, digits, '-' and '_'", u)
			}
			st.Use, st.useLine, st.useCol = u, usen.Line, usen.Column
			pb.uses = append(pb.uses, st)
		}
	}
	use := usen != nil && actn == nil

	if hn := f.vals["handler"]; hn != nil {
		st.Handler, _ = l.boolean(hn, "handler")
		if st.Handler {
			info.handlerKey = f.keys["handler"]
		}
	}
	if on := f.vals["on_error"]; on != nil {
		if v, ok := l.str(on, "on_error"); ok {
			st.OnError = v
			info.onError = on
		}
	}
	if an := f.vals["approval"]; an != nil {
		if a, ok := l.str(an, "approval"); ok {
			switch {
			case a != ApprovalAuto && a != ApprovalRequired && a != ApprovalPolicy:
				l.errorf(an, "approval must be auto, required or policy, got %q", a)
			case use:
				l.errorf(f.keys["approval"], "a use step takes no approval: the sub-playbook's steps set their own")
			case waits:
				// askOrWait says so.
			case st.Spec != nil && !st.Spec.Remediation:
				l.errorf(an, "approval applies to remediation actions only; %s runs without one", st.Action)
			}
			st.Approval = a
		}
	}
	if tn := f.vals["timeout"]; tn != nil && !waits {
		if use {
			l.errorf(f.keys["timeout"], "a use step takes no timeout: the sub-playbook's steps set their own")
		} else {
			st.Timeout, _ = l.duration(tn, "timeout")
		}
	}
	if rn := f.vals["retry"]; rn != nil && !waits {
		if use {
			l.errorf(f.keys["retry"], "a use step takes no retry: the sub-playbook's steps set their own")
		} else {
			st.Retry = l.retry(rn)
		}
	}
	if cn := f.vals["connectors"]; cn != nil {
		switch {
		case use:
			l.errorf(f.keys["connectors"], "a use step takes no connectors: the sub-playbook's steps set their own")
		case st.Spec != nil && !st.Spec.Remediation:
			l.errorf(f.keys["connectors"], "connectors apply to remediation actions only; %s runs in the workflow", st.Action)
		default:
			st.Connectors = l.connectors(cn, st.Spec)
		}
	}

	ctx := &exprCtx{handler: st.Handler}
	l.cur = ctx
	defer func() { l.cur = nil }()

	// for_each decides how `item` is typed in the other expressions.
	if fen := f.vals["for_each"]; fen != nil && !waits {
		src, ok := l.exprSource(fen, "for_each")
		if !ok {
			return nil
		}
		c := l.compileExpr(fen, 0, src, "for_each", pb.scopes.zero(itemNone))
		if c == nil {
			return nil
		}
		switch elemType(c.nature) {
		case entityViewType:
			st.items = itemEntity
			ctx.itemKind = collectionKind(c.tree)
		case alertViewType:
			st.items = itemAlert
		default:
			msg := fmt.Sprintf("for_each: want a list of entities or alerts, got %s", typeName(c.nature))
			if hint := typeLosing(c.src); hint != "" {
				msg += " (" + hint + ")"
			}
			l.errorAt(fen, 0, "%s", msg)
			return nil
		}
		st.forEach, st.ForEach = c.program, c.src
	}
	feKind := ctx.itemKind
	scope := pb.scopes.zero(st.items)

	if wn := f.vals["when"]; wn != nil {
		if src, ok := l.exprSource(wn, "when"); ok {
			if c := l.compileExpr(wn, 0, src, "when", scope); c != nil {
				if !c.isBool() {
					l.errorAt(wn, 0, "when: want true or false, got %s", typeName(c.nature))
				}
				st.when, st.When = c.program, c.src
			}
		}
	}

	var targetKind domain.EntityKind
	tn := f.vals["target"]
	if tn != nil && use {
		l.errorf(f.keys["target"], "a use step takes no target: pass entities to the sub-playbook in with")
		tn = nil
	}
	if tn != nil && waitn != nil {
		tn = nil // askOrWait says a wait takes none
	}
	if tn != nil {
		if src, ok := l.exprSource(tn, "target"); ok {
			if c := l.compileExpr(tn, 0, src, "target", scope); c != nil {
				if !unknown(c.nature) && c.nature.Type != entityViewType {
					l.errorAt(tn, 0, "target: want an entity, got %s", typeName(c.nature))
				}
				st.target, st.Target = c.program, c.src
				targetKind = entityKind(c.tree, feKind)
			}
		}
	}

	if k := f.keys["with"]; k != nil {
		st.withLine, st.withCol = k.Line, k.Column
	}
	switch {
	case waits:
		l.askOrWait(f, st, scope, targetKind)
	case use:
		st.args = l.useArgs(f.vals["with"], scope)
	default:
		st.args = l.args(f.vals["with"], f.keys["with"], actn, st.Spec, scope)
		l.argsTogether(f.vals["with"], st.Spec, st.args)
	}

	if spec := st.Spec; spec != nil {
		switch {
		case spec.Target == "" && tn != nil:
			l.errorf(tn, "%s acts on the incident and takes no target", spec.Type)
		case spec.Target == "" || st.target != nil:
			if targetKind != "" && targetKind != spec.Target {
				l.errorf(tn, "%s acts on a %s, but the target is a %s", spec.Type, spec.Target, targetKind)
			}
		case tn != nil:
			// The target did not compile; that is reported already.
		case st.items == itemEntity:
			if feKind != "" && feKind != spec.Target {
				l.errorf(actn, "%s acts on %s, but for_each iterates %s", spec.Type, listOf(spec.Target), listOf(feKind))
			}
		default:
			l.errorf(actn, "%s acts on a %s: give it one with for_each over %s or with target",
				spec.Type, spec.Target, listOf(spec.Target))
		}
	}

	info.refs = ctx.refs
	if len(l.diags) > errs {
		return nil
	}
	return st
}

// argsTogether checks a step's literal arguments against each other (a
// determination must fit its classification); arguments computed by
// expressions are checked when the step runs.
func (l *loader) argsTogether(with *yaml.Node, spec *actions.Spec, args []namedArg) {
	if spec == nil || with == nil {
		return
	}
	vals := make(map[string]any, len(args))
	for _, a := range args {
		if lit, ok := a.value.(literal); ok {
			vals[a.name] = lit.v
		} else {
			vals[a.name] = a.value // not known until the step runs
		}
	}
	err := spec.CheckTogether(vals)
	if err == nil {
		return
	}
	at, field := with, ""
	if de, ok := err.(*domain.Error); ok {
		field = de.Field
		err = errors.New(de.Message)
	}
	for i := 0; i+1 < len(with.Content); i += 2 {
		if with.Content[i].Value == field {
			at = with.Content[i+1]
		}
	}
	l.errorf(at, "with.%s: %v", field, err)
}

// retry reads a retry policy.
func (l *loader) retry(n *yaml.Node) RetryPolicy {
	var r RetryPolicy
	f, ok := l.fields(n, "retry", retryKeys)
	if !ok {
		return r
	}
	if an := f.vals["attempts"]; an != nil {
		if v, ok := l.integer(an, "retry.attempts"); ok {
			if v < 1 || v > MaxAttempts {
				l.errorf(an, "retry.attempts must be 1 to %d, got %d", MaxAttempts, v)
			}
			r.Attempts = v
		}
	}
	if bn := f.vals["backoff"]; bn != nil {
		r.Backoff, _ = l.duration(bn, "retry.backoff")
	}
	if mn := f.vals["max_backoff"]; mn != nil {
		if d, ok := l.duration(mn, "retry.max_backoff"); ok {
			if r.Backoff > 0 && d < r.Backoff {
				l.errorf(mn, "retry.max_backoff %s is shorter than retry.backoff %s", d, r.Backoff)
			}
			r.MaxBackoff = d
		}
	}
	if nn := f.vals["non_retryable"]; nn != nil {
		if nn.Kind != yaml.SequenceNode {
			l.errorf(nn, "retry.non_retryable must be a list of error kinds (%s), got %s", strings.Join(ErrorKinds, ", "), kindName(nn))
			return r
		}
		for _, kn := range nn.Content {
			k, ok := l.str(kn, "retry.non_retryable item")
			if !ok {
				continue
			}
			switch {
			case !contains(ErrorKinds, k):
				l.errorf(kn, "retry.non_retryable: unknown error kind %q, want one of %s", k, strings.Join(ErrorKinds, ", "))
			case contains(r.NonRetryable, k):
				l.errorf(kn, "retry.non_retryable: %q is listed twice", k)
			default:
				r.NonRetryable = append(r.NonRetryable, k)
			}
		}
	}
	return r
}

// args reads a step's `with` mapping and checks it against the action spec.
func (l *loader) args(n, key, actn *yaml.Node, spec *actions.Spec, scope any) []namedArg {
	var out []namedArg
	given := map[string]bool{}
	if n != nil && n.ShortTag() != "!!null" {
		if n.Kind != yaml.MappingNode {
			l.errorf(n, "with must be a mapping of argument names to values, got %s", kindName(n))
			return nil
		}
		for _, e := range l.namedEntries(n, "argument") {
			k, v := e.key, e.val
			name := k.Value
			given[name] = true
			what := "with." + name
			var p actions.Param
			if spec != nil {
				var ok bool
				if p, ok = spec.Param(name); !ok {
					l.errorf(k, "%s", unknownArg(spec, name))
					continue
				}
			}
			val, ok := l.argValue(v, what, scope, 0)
			if !ok {
				continue
			}
			if lit, ok := val.(literal); ok && lit.v == nil {
				given[name] = false // null: as if absent
				continue
			}
			if spec != nil {
				l.checkArg(spec, p, val, v, what)
			}
			out = append(out, namedArg{name: name, value: val})
		}
	}
	if spec != nil {
		for _, p := range spec.Params {
			if p.Required && !given[p.Name] {
				at := actn
				if key != nil {
					at = key
				}
				l.errorf(at, "%s needs argument %q", spec.Type, p.Name)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// entry is one key and value of a YAML mapping.
type entry struct{ key, val *yaml.Node }

// namedEntries lists a mapping's entries whose keys are strings, each name
// once: a key that is no string, or a name seen before, is reported (noun
// says what the names are: "argument", "input") and left out.
func (l *loader) namedEntries(n *yaml.Node, noun string) []entry {
	var out []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			l.errorf(k, "%s names must be strings", noun)
			continue
		}
		if first := seen[k.Value]; first != nil {
			l.errorf(k, "duplicate %s %q, first at line %d", noun, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{k, v})
	}
	return out
}

func unknownArg(spec *actions.Spec, name string) string {
	if len(spec.Params) == 0 {
		return fmt.Sprintf("%s takes no arguments, got %q", spec.Type, name)
	}
	names := make([]string, len(spec.Params))
	for i, p := range spec.Params {
		names[i] = p.Name
	}
	return fmt.Sprintf("%s takes no argument %q, want one of %s", spec.Type, name, strings.Join(names, ", "))
}
