package playbook

import (
	"regexp"
	"strings"
	"testing"
)

func TestPlainTypes(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"mismatched types []playbook.ActionOutput and string", "mismatched types list of action outputs and string"},
		{"mismatched types map[string]interface {} and int", "mismatched types mapping and int"},
		{"[]interface {}", "list"},
		{"map[string]playbook.StepOutput", "mapping of step outputs"},
		{"[][]string", "list of lists of strings"},
		{"float64 and int64", "number and int"},
		{"playbook.EntityView", "entity"},
		{"playbook.SomethingNew", "something new"},
		{"printing a string", "printing a string"},
	}
	for _, tt := range tests {
		if got := plainTypes(tt.in); got != tt.want {
			t.Errorf("plainTypes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValueName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want string
	}{
		{nil, "null"}, {"x", "a string"}, {true, "true or false"}, {1.0, "an integer"}, {1.5, "a number"},
		{[]any{1}, "a list"}, {map[string]any{}, "a mapping"}, {EntityView{}, "an entity"},
		{[]ActionOutput{}, "a list of action outputs"}, {struct{}{}, "a record"},
	}
	for _, tt := range tests {
		if got := valueName(tt.v); got != tt.want {
			t.Errorf("valueName(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// goName matches what a playbook author should never read: a Go package
// path, a Go type spelling or a Go basic type.
var goName = regexp.MustCompile(`playbook\.[A-Z]|interface \{\}|map\[|\[\][a-z]|float64|int64|\bstruct \{`)

// TestErrorsTeach pins the diagnostics that explain a YAML trap, and that
// none of the diagnostics of files full of type mistakes names a Go type.
func TestErrorsTeach(t *testing.T) {
	t.Parallel()
	const step = "stages:\n  triage:\n    - id: t\n      action: incident.tag\n      with: {tags: [x]}\n"
	tests := []struct {
		name string
		src  string
		want []string // substrings, one per diagnostic in order
	}{
		{
			name: "a comment cut an expression",
			src:  header + step + "    - id: c\n      when: incident.severity == #high\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`when: unexpected token EOF (YAML read "#high" as a comment: a space before # starts one, so the value is "incident.severity =="; quote the whole value)`},
		},
		{
			name: "a comment swallowed a template",
			src:  header + step + "    - id: c\n      action: incident.comment\n      with:\n        text: Incident #{{ incident.id }} is bad\n",
			want: []string{`t.yaml:11:15: with.text: the template after # is lost (YAML read "#{{ incident.id }} is bad" as a comment`},
		},
		{
			name: "a real comment is not a trap",
			src:  header + step + "    - id: c\n      when: incident.severity == # high\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`when: unexpected token EOF`},
		},
		{
			name: "a comment cut a flow mapping",
			src:  header + "stages:\n  triage:\n    - id: c\n      action: incident.comment\n      with: {text: Issue #42 found}\n",
			want: []string{`did not find expected ',' or '}' (line 7: YAML read "#42 found}" as a comment: a space before # starts one, and it cut a {...} or [...] short; quote the value holding #)`},
		},
		{
			name: "a backslash in double quotes",
			src:  header + "match: \"any(files, {.path startsWith \\\"C:\\Temp\\\"})\"\n",
			want: []string{`t.yaml:3:1: found unknown escape character (inside double quotes YAML reads \ as an escape such as \n or \\: write \\ for one backslash, or use single quotes, where \ stands for itself)`},
		},
		{
			name: "a backslash in an expression string",
			src:  header + "match: 'any(files, {.path startsWith \"C:\\Temp\"})'\n",
			want: []string{"match: invalid char escape (in an expression's string a backslash starts an escape: write \\\\ for one backslash, or a raw string in backquotes such as `C:\\Windows`)"},
		},
		{
			name: "a builtin that loses the entity type",
			src: header + "stages:\n  containment:\n" +
				"    - id: a\n      for_each: uniq(devices)\n      action: device.isolate\n      with: {isolationType: Full}\n" +
				"    - id: b\n      for_each: reverse(filter(devices, {.verdict == 'malicious'}))\n      action: device.isolate\n      with: {isolationType: Full}\n" +
				"    - id: c\n      for_each: sortBy(filter(devices, {.verdict == 'malicious'}), .name)\n      action: device.isolate\n      with: {isolationType: Full}\n",
			want: []string{
				"for_each: want a list of entities or alerts, got a list (uniq returns a plain list, which loses the items' entity type; filter, sortBy and take keep it; entity lists hold each entity once already",
				`(reverse returns a plain list, which loses the items' entity type; filter, sortBy and take keep it; for the other order write sortBy(devices, .name, "desc"))`,
			},
		},
		{
			name: "types in playbook words",
			src: header + step +
				"    - id: a\n      when: steps.t.results == \"x\"\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: b\n      for_each: steps.t.results\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: c\n      action: incident.tag\n      with: {tags: \"{{ steps.t.results }}\"}\n" +
				"    - id: d\n      action: incident.tag\n      with: {tags: [1.5]}\n" +
				"    - id: e\n      when: steps.t.results[0].output == 1\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: f\n      when: steps.t == 1\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{
				"mismatched types list of action outputs and string",
				"for_each: want a list of entities or alerts, got a list of action outputs",
				"with.tags: want a list of strings, got a list of action outputs",
				"with.tags: item 0: want a string, got a number",
				"mismatched types mapping and int",
				"mismatched types step output and int",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("t.yaml", []byte(tt.src))
			got := diagnostics(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("diagnostics %q, want %d", got, len(tt.want))
			}
			for i, d := range got {
				if !strings.Contains(d, tt.want[i]) {
					t.Errorf("diagnostic %d:\ngot  %s\nwant …%s…", i, d, tt.want[i])
				}
				if m := goName.FindString(d); m != "" {
					t.Errorf("diagnostic %q names a Go type (%q)", d, m)
				}
			}
		})
	}
}

// TestTestFileErrorsTeach: test files get the same YAML hints.
func TestTestFileErrorsTeach(t *testing.T) {
	t.Parallel()
	src := "playbook: p\ncases:\n  - name: a\n    alerts: [{id: a1, title: Case #12 phishing}]\n    expect: {}\n"
	_, err := ParseTestFile("t.test.yaml", []byte(src))
	got := diagnostics(t, err)
	if len(got) != 1 || !strings.Contains(got[0], `YAML read "#12 phishing}]" as a comment`) {
		t.Errorf("diagnostics %q, want the comment trap explained", got)
	}
}
