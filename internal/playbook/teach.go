package playbook

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
)

// Messages that teach: the loader's diagnostics speak the playbook's
// language, not Go's (no playbook.ActionOutput, no map[string]interface {}),
// and say when one of YAML's traps — a comment that cut a value short, a
// backslash read as an escape — is the likely cause.

// goType matches a Go type as reflect and expr print it in messages: list
// and map prefixes, then a named or basic type.
var goType = regexp.MustCompile(`((?:\[\]|map\[string\])*)(playbook\.[A-Z][A-Za-z]*\b|interface \{\}|float64\b|int64\b|int\b|string\b|bool\b)`)

// goBases names Go types in playbook terms, singular and plural.
var goBases = map[string][2]string{
	"playbook.IncidentView": {"incident", "incidents"},
	"playbook.EntityView":   {"entity", "entities"},
	"playbook.AlertView":    {"alert", "alerts"},
	"playbook.StepOutput":   {"step output", "step outputs"},
	"playbook.ActionOutput": {"action output", "action outputs"},
	"interface {}":          {"any value", "values"},
	"float64":               {"number", "numbers"},
	"int64":                 {"int", "ints"},
	"int":                   {"int", "ints"},
	"string":                {"string", "strings"},
	"bool":                  {"bool", "bools"},
}

// plainTypes rewrites the Go types in msg: []playbook.ActionOutput becomes
// "list of action outputs", map[string]interface {} "mapping of values",
// float64 "number". Plain int, string and bool are left as they are:
// authors know them.
func plainTypes(msg string) string {
	return goType.ReplaceAllStringFunc(msg, func(m string) string {
		sub := goType.FindStringSubmatch(m)
		prefix, base := sub[1], sub[2]
		switch {
		case m == "map[string]interface {}":
			return "mapping"
		case m == "[]interface {}":
			return "list"
		}
		names, ok := goBases[base]
		if !ok { // another playbook type: its name in words
			words := splitCamel(strings.TrimPrefix(base, "playbook."))
			names = [2]string{words, words + "s"}
		}
		if prefix == "" {
			return names[0]
		}
		out := names[1]
		for p := prefix; p != ""; {
			switch {
			case strings.HasSuffix(p, "[]"):
				out, p = "list of "+out, strings.TrimSuffix(p, "[]")
			default:
				out, p = "mapping of "+out, strings.TrimSuffix(p, "map[string]")
			}
			if p != "" { // nested: a list of lists of strings
				head, rest, _ := strings.Cut(out, " ")
				out = head + "s " + rest
			}
		}
		return out
	})
}

// splitCamel turns "ActionOutput" into "action output".
func splitCamel(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// valueName names a value's type for messages, in place of %T.
func valueName(v any) string {
	switch v.(type) {
	case EntityView:
		return "an entity"
	case AlertView:
		return "an alert"
	case StepOutput:
		return "a step output"
	case ActionOutput:
		return "an action output"
	case []EntityView:
		return "a list of entities"
	case []AlertView:
		return "a list of alerts"
	case []ActionOutput:
		return "a list of action outputs"
	}
	return actions.ValueName(v)
}

// commentTrap says, for a plain scalar whose line YAML cut at " #", what
// happened; "" when nothing did. Comments written as comments ("# note",
// with a space after the #) are left alone: the trap is `Issue #42` or
// `severity == #high`, where the # was meant as text.
func commentTrap(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Style != 0 || len(n.LineComment) < 2 ||
		n.LineComment[0] != '#' || unicode.IsSpace(rune(n.LineComment[1])) {
		return ""
	}
	return fmt.Sprintf("YAML read %q as a comment: a space before # starts one, so the value is %q; quote the whole value",
		n.LineComment, n.Value)
}

// backslashHint is what a YAML error about an unknown escape means.
const backslashHint = `inside double quotes YAML reads \ as an escape such as \n or \\: write \\ for one backslash, or use single quotes, where \ stands for itself`

// exprEscapeHint is what expr's "invalid char escape" means.
const exprEscapeHint = "in an expression's string a backslash starts an escape: write \\\\ for one backslash, or a raw string in backquotes such as `C:\\Windows`"

// yamlHint adds to a YAML syntax error at line (1-based) of src what likely
// caused it: a backslash escape, or a " #" inside a flow collection
// ({...} or [...]) that made the rest of the line a comment.
func yamlHint(msg string, src []byte, line int) string {
	if strings.Contains(msg, "unknown escape character") {
		return backslashHint
	}
	lines := strings.Split(string(src), "\n")
	// yaml.v3 reports a flow collection left open a line before or after
	// it.
	for _, i := range []int{line - 1, line, line - 2} {
		if i < 0 || i >= len(lines) {
			continue
		}
		if c := flowComment(lines[i]); c >= 0 {
			return fmt.Sprintf("line %d: YAML read %q as a comment: a space before # starts one, and it cut a {...} or [...] short; quote the value holding #",
				i+1, strings.TrimSpace(lines[i][c:]))
		}
	}
	return ""
}

// flowComment returns where a comment starts on a line that opened a flow
// collection ({ or [) outside quotes before it, or -1.
func flowComment(line string) int {
	var quote rune
	flow := false
	prev := ' '
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '{' || r == '[':
			flow = true
		case r == '#' && unicode.IsSpace(prev):
			if flow {
				return i
			}
			return -1
		}
		prev = r
	}
	return -1
}

// typeLosers are the builtins whose result is a plain list: the entity or
// alert type of the items is lost, so for_each cannot iterate it. filter,
// sortBy, take and slices keep it.
var typeLosers = []struct{ name, instead string }{
	{"uniq", "entity lists hold each entity once already: drop uniq, or filter(devices, {...}) to choose"},
	{"concat", "iterate each list in a step of its own"},
	{"flatten", "iterate each list in a step of its own"},
	{"reverse", `for the other order write sortBy(devices, .name, "desc")`},
	{"map", "map makes a list of values, not entities: filter(devices, {...}) chooses entities"},
}

var typeLoserCall = regexp.MustCompile(`\b(uniq|concat|flatten|reverse|map)\s*\(`)

// typeLosing explains, for an expression whose list lost its item type,
// which builtin lost it and the pattern that works; "" when none did.
func typeLosing(src string) string {
	m := typeLoserCall.FindStringSubmatch(src)
	if m == nil {
		return ""
	}
	for _, t := range typeLosers {
		if t.name == m[1] {
			return fmt.Sprintf("%s returns a plain list, which loses the items' entity type; filter, sortBy and take keep it; %s", t.name, t.instead)
		}
	}
	return ""
}
