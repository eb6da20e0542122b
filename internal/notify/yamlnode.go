package notify

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// reader walks a notifications file's YAML nodes and collects problems,
// each with the file, line and column of the node at fault and the path
// of the setting (channels.soc-mail.port), the way playbooks report
// theirs: a mistake is named where it stands, before anything starts.
type reader struct {
	file string
	errs []problem
}

type problem struct {
	line, col int
	msg       string
}

func (r *reader) at(n *yaml.Node, path, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	r.errs = append(r.errs, problem{line, col, msg})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax records a YAML syntax error, which yaml.v3 locates by line only.
func (r *reader) syntax(err error) {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	r.errs = append(r.errs, problem{line, 1, msg})
}

// err is every problem in file order, one a line, or nil.
func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(r.errs, func(a, b problem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
	})
	lines := make([]string, len(r.errs))
	for i, p := range r.errs {
		lines[i] = fmt.Sprintf("%s:%d:%d: %s", r.file, p.line, p.col, p.msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// fields reads a mapping whose keys must be among allowed; it returns the
// values and the key nodes by key.
func (r *reader) fields(n *yaml.Node, path string, allowed ...string) (vals, keys map[string]*yaml.Node) {
	vals, keys = map[string]*yaml.Node{}, map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		r.at(n, path, "want a mapping, got %s", kind(n))
		return vals, keys
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if k.Kind != yaml.ScalarNode {
			r.at(k, path, "keys must be plain strings")
			continue
		}
		if allowed != nil && !slices.Contains(allowed, name) {
			r.at(k, join(path, name), "unknown setting, want one of %s", strings.Join(allowed, ", "))
			continue
		}
		if first := keys[name]; first != nil {
			r.at(k, join(path, name), "set twice (first at line %d)", first.Line)
			continue
		}
		if v.Kind == yaml.AliasNode {
			r.at(v, join(path, name), "YAML aliases are not supported here")
			continue
		}
		keys[name], vals[name] = k, v
	}
	return vals, keys
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kind(n *yaml.Node) string {
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
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

func (r *reader) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		r.at(n, path, "want a string, got %s", kind(n))
		return "", false
	}
	return n.Value, true
}

func (r *reader) integer(n *yaml.Node, path string) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		r.at(n, path, "want an integer, got %s", kind(n))
		return 0, false
	}
	return v, true
}

func (r *reader) boolean(n *yaml.Node, path string) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		r.at(n, path, "want true or false, got %s", kind(n))
		return false, false
	}
	return v, true
}

// duration reads a positive Go duration such as 30s, 5m or 1h.
func (r *reader) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		r.at(n, path, "want a duration such as 30s, 5m or 1h, got %s", kind(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		r.at(n, path, "want a duration such as 30s, 5m or 1h, got %q", n.Value)
		return 0, false
	case d <= 0:
		r.at(n, path, "want a positive duration, got %s", n.Value)
		return 0, false
	}
	return d, true
}

// strings reads a list of strings; a single string is a list of one.
func (r *reader) strings(n *yaml.Node, path string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		r.at(n, path, "want a list of strings, got %s", kind(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, e := range n.Content {
		s, good := r.str(e, fmt.Sprintf("%s[%d]", path, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}
