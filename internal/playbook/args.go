package playbook

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
)

// namedArg is one compiled `with` argument.
type namedArg struct {
	name      string
	value     argValue
	line, col int // of the name, for link diagnostics
}

// argValue is a compiled `with` value: a literal, a template, or a list or
// mapping holding templates.
type argValue interface {
	eval(scope any) (any, error)
}

// literal is a value with no template in it, fixed at load time.
type literal struct{ v any }

// eval returns a copy, so that a caller changing an invocation's arguments
// cannot change the (shared, cached) playbook.
func (a literal) eval(any) (any, error) { return deepCopy(a.v), nil }

// whole is a string that is exactly one `{{ expr }}`: the expression's value,
// typed.
type whole struct {
	p    *program
	kind domain.EntityKind // of an entity value, when the syntax tells
}

func (a whole) eval(scope any) (any, error) {
	v, err := a.p.run(scope)
	if err != nil {
		return nil, err
	}
	return deepCopy(v), nil
}

// text is a string with templates among text: always a string.
type text struct{ parts []textPart }

type textPart struct {
	lit string
	p   *program // nil for a literal part
}

func (a text) eval(scope any) (any, error) {
	var b strings.Builder
	for _, part := range a.parts {
		if part.p == nil {
			b.WriteString(part.lit)
			continue
		}
		v, err := part.p.run(scope)
		if err != nil {
			return nil, err
		}
		b.WriteString(render(v))
	}
	return b.String(), nil
}

// render formats a template value inside text.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v) // lists and maps; fmt sorts map keys
}

type list []argValue

func (a list) eval(scope any) (any, error) {
	out := make([]any, len(a))
	for i, e := range a {
		v, err := e.eval(scope)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type mapping struct {
	keys []string
	vals []argValue
}

func (a mapping) eval(scope any) (any, error) {
	out := make(map[string]any, len(a.keys))
	for i, k := range a.keys {
		v, err := a.vals[i].eval(scope)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// deepCopy copies lists and maps; other values are immutable.
func deepCopy(v any) any {
	switch v := v.(type) {
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = deepCopy(e)
		}
		return c
	case []string:
		return append([]string{}, v...)
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = deepCopy(e)
		}
		return c
	}
	return v
}

// argValue compiles a `with` value, found depth lists or mappings deep.
func (l *loader) argValue(n *yaml.Node, what string, scope any, depth int) (argValue, bool) {
	if l.alias(n) {
		return nil, false
	}
	if depth > MaxWithDepth {
		l.errorf(n, "%s: lists and mappings nest more than %d deep", what, MaxWithDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		// A template in what YAML took for a comment was meant as text
		// (`Incident #{{ incident.id }}`): the value would silently lose it.
		if strings.Contains(n.LineComment, "{{") && commentTrap(n) != "" {
			l.errorf(n, "%s: the template after # is lost", what)
			return nil, false
		}
		switch n.ShortTag() {
		case "!!str", "!!timestamp":
			return l.template(n, what, scope)
		case "!!int", "!!float", "!!bool", "!!null":
			var v any
			if err := n.Decode(&v); err != nil {
				l.errorf(n, "%s: %v", what, err)
				return nil, false
			}
			return literal{v}, true
		}
		l.errorf(n, "%s: unsupported YAML tag %s", what, n.ShortTag())
		return nil, false
	case yaml.SequenceNode:
		out, ok := make(list, 0, len(n.Content)), true
		for i, e := range n.Content {
			v, eok := l.argValue(e, fmt.Sprintf("%s[%d]", what, i), scope, depth+1)
			out = append(out, v)
			ok = ok && eok
		}
		if !ok {
			return nil, false
		}
		return fold(out), true
	case yaml.MappingNode:
		out, ok := mapping{}, true
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				l.errorf(k, "%s: keys must be strings", what)
				ok = false
				continue
			}
			if seen[k.Value] {
				l.errorf(k, "%s: duplicate key %q", what, k.Value)
				ok = false
				continue
			}
			seen[k.Value] = true
			ev, eok := l.argValue(v, what+"."+k.Value, scope, depth+1)
			out.keys = append(out.keys, k.Value)
			out.vals = append(out.vals, ev)
			ok = ok && eok
		}
		if !ok {
			return nil, false
		}
		return fold(out), true
	}
	l.errorf(n, "%s: unsupported value", what)
	return nil, false
}

// fold turns a list or mapping of literals into one literal.
func fold(v argValue) argValue {
	switch a := v.(type) {
	case list:
		out := make([]any, len(a))
		for i, e := range a {
			lit, ok := e.(literal)
			if !ok {
				return v
			}
			out[i] = lit.v
		}
		return literal{out}
	case mapping:
		out := make(map[string]any, len(a.keys))
		for i, k := range a.keys {
			lit, ok := a.vals[i].(literal)
			if !ok {
				return v
			}
			out[k] = lit.v
		}
		return literal{out}
	}
	return v
}

// template compiles a string value. A string without `{{` is a literal; a
// string that is exactly one `{{ expr }}` yields the expression's typed
// value; anything else renders to a string.
func (l *loader) template(n *yaml.Node, what string, scope any) (argValue, bool) {
	s := n.Value
	if !strings.Contains(s, "{{") {
		return literal{s}, true
	}
	segs, errOff, err := splitTemplate(s)
	if err != "" {
		l.errorAt(n, errOff, "%s: %s", what, err)
		return nil, false
	}
	var (
		parts []textPart
		kinds []domain.EntityKind // of each expression part that yields an entity
	)
	ok := true
	for _, seg := range segs {
		if !seg.isExpr {
			parts = append(parts, textPart{lit: seg.text})
			continue
		}
		c := l.compileExpr(n, seg.off, seg.text, what, scope)
		if c == nil {
			ok = false
			continue
		}
		if len(segs) > 1 && !unknown(c.nature) && (c.nature.Type == entityViewType || c.nature.Type == alertViewType) {
			l.errorAt(n, seg.off, "%s: {{ %s }} renders %s as text; pick a field such as .name or .id",
				what, c.src, typeName(c.nature))
			ok = false
			continue
		}
		parts = append(parts, textPart{p: c.program})
		var kind domain.EntityKind
		if c.nature.Type == entityViewType && l.cur != nil {
			kind = entityKind(c.tree, l.cur.itemKind)
		}
		kinds = append(kinds, kind)
	}
	if !ok {
		return nil, false
	}
	if len(segs) == 1 && segs[0].isExpr {
		w := whole{p: parts[0].p}
		if kinds[0] != "" {
			w.kind = kinds[0]
		}
		return w, true
	}
	return text{parts}, true
}

// segment is a piece of a template: literal text, or an expression at rune
// offset off of the template.
type segment struct {
	text   string
	isExpr bool
	off    int
}

// splitTemplate splits s into text and `{{ expr }}` segments. An expression
// ends at the first `}}` outside its own braces and string literals, so
// `{{ {"a": {"b": 1}}.a }}` works. On error it returns a message and the
// rune offset it applies to.
func splitTemplate(s string) ([]segment, int, string) {
	rs := []rune(s)
	var segs []segment
	start := 0 // start of the current text segment
	for i := 0; i < len(rs); {
		if !(rs[i] == '{' && i+1 < len(rs) && rs[i+1] == '{') {
			i++
			continue
		}
		if i > start {
			segs = append(segs, segment{text: string(rs[start:i])})
		}
		open := i
		j, depth := i+2, 0
		var quote rune
		end := -1
		for ; j < len(rs); j++ {
			r := rs[j]
			if quote != 0 {
				switch {
				case r == '\\' && quote != '`':
					j++
				case r == quote:
					quote = 0
				}
				continue
			}
			switch r {
			case '"', '\'', '`':
				quote = r
			case '{':
				depth++
			case '}':
				if depth == 0 && j+1 < len(rs) && rs[j+1] == '}' {
					end = j
				} else if depth > 0 {
					depth--
				}
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 {
			return nil, open, "unterminated {{ in template"
		}
		body := rs[open+2 : end]
		lead := 0
		for lead < len(body) && isSpace(body[lead]) {
			lead++
		}
		if strings.TrimSpace(string(body)) == "" {
			return nil, open, "empty {{ }} in template"
		}
		segs = append(segs, segment{text: string(body[lead:]), isExpr: true, off: open + 2 + lead})
		i = end + 2
		start = i
	}
	if start < len(rs) {
		segs = append(segs, segment{text: string(rs[start:])})
	}
	return segs, 0, ""
}

// checkArg checks a `with` value against its parameter as far as load time
// can tell; evaluation checks the rest with actions.Spec.CheckArgs.
func (l *loader) checkArg(spec *actions.Spec, p actions.Param, v argValue, n *yaml.Node, what string) {
	switch a := v.(type) {
	case literal:
		if _, err := spec.CheckArgs(map[string]any{p.Name: a.v}); err != nil {
			if de, ok := err.(*domain.Error); ok && de.Field == p.Name {
				l.errorf(n, "%s: %s", what, de.Message)
			}
		}
	case whole:
		if msg := natureFits(p, a.p); msg != "" {
			l.errorf(n, "%s: %s", what, msg)
		}
	case text:
		if p.Type != actions.String {
			l.errorf(n, "%s: want %s, but text with templates renders a string", what, paramType(p.Type))
		}
	case list:
		if p.Type != actions.StringList {
			l.errorf(n, "%s: want %s, got a list", what, paramType(p.Type))
			return
		}
		for i, e := range a {
			en := n
			if i < len(n.Content) {
				en = n.Content[i]
			}
			switch e := e.(type) {
			case literal:
				if _, ok := e.v.(string); !ok {
					l.errorf(en, "%s[%d]: want a string, got %s", what, i, valueName(e.v))
				}
			case whole:
				if nt := e.p.nature; !unknown(nt) && nt.Kind != reflect.String {
					l.errorf(en, "%s[%d]: want a string, got %s", what, i, typeName(nt))
				}
			case text:
			default:
				l.errorf(en, "%s[%d]: want a string", what, i)
			}
		}
	case mapping:
		l.errorf(n, "%s: want %s, got a mapping", what, paramType(p.Type))
	}
}

// natureFits checks an expression's static type against a parameter type.
func natureFits(p actions.Param, prog *program) string {
	nt := prog.nature
	if unknown(nt) {
		return ""
	}
	ok := false
	switch p.Type {
	case actions.String:
		ok = nt.Kind == reflect.String
	case actions.Int:
		ok = nt.Kind == reflect.Int || nt.Kind == reflect.Int64 || nt.Kind == reflect.Float64
	case actions.Bool:
		ok = nt.Kind == reflect.Bool
	case actions.StringList:
		el := elemType(nt)
		ok = (nt.Kind == reflect.Slice || nt.Kind == reflect.Array) &&
			(el == nil || el.Kind() == reflect.String || el.Kind() == reflect.Interface)
	default:
		ok = true
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("want %s, got %s", paramType(p.Type), typeName(nt))
}

func paramType(t actions.ParamType) string {
	switch t {
	case actions.String:
		return "a string"
	case actions.Int:
		return "an integer"
	case actions.Bool:
		return "true or false"
	case actions.StringList:
		return "a list of strings"
	}
	return string(t)
}
