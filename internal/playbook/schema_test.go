package playbook

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite playbooks/schema/playbook.schema.json and playbook-test.schema.json")

const (
	schemaFile     = "../../playbooks/schema/" + SchemaFileName
	testSchemaFile = "../../playbooks/schema/" + TestSchemaFileName
)

// TestSchemaFile keeps playbooks/schema/playbook.schema.json equal to
// Schema() and playbook-test.schema.json equal to TestSchema(), which
// follow the parser's key tables and the action registry. After changing
// either: go test ./internal/playbook -run TestSchemaFile -update
func TestSchemaFile(t *testing.T) {
	for file, got := range map[string][]byte{schemaFile: Schema(), testSchemaFile: TestSchema()} {
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (create it: go test ./internal/playbook -run TestSchemaFile -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with the parser or the action registry; regenerate it:\n"+
				"  go test ./internal/playbook -run TestSchemaFile -update", file)
		}
	}
}

// compileSchema compiles a generated schema and returns a validator of YAML
// documents against it.
func compileSchema(t *testing.T, name string, schema []byte) func(src []byte) error {
	t.Helper()
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return func(src []byte) error {
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			return err
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		return sch.Validate(inst)
	}
}

// TestTestSchemaValidatesTestFiles checks the test-file schema against real
// files: every shipped test file validates, and test files the loader
// rejects for their shape are rejected by the schema too.
func TestTestSchemaValidatesTestFiles(t *testing.T) {
	t.Parallel()
	validate := compileSchema(t, "playbook-test.schema.json", TestSchema())
	files, _ := filepath.Glob(filepath.Join(shippedDir, "*.test.yaml"))
	extra, _ := filepath.Glob("../playbooktest/testdata/*/*.test.yaml")
	files = append(files, extra...)
	if len(files) < 8 {
		t.Fatalf("found %d test files, want the shipped ones and testdata's", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(src); err != nil {
			t.Errorf("%s does not validate: %v", f, err)
		}
	}
	const alert = "    alerts: [{id: a1, title: T, severity: high, createdDateTime: \"2026-01-01T10:00:00Z\"}]\n"
	const head = "playbook: p\ncases:\n  - name: c\n" + alert
	bad := map[string]string{
		"unknown case key":        head + "    expect: {}\n    colour: red\n",
		"no expect":               head,
		"unknown action":          head + "    expect: {actions: [{type: device.isolat}]}\n",
		"bookkeeping expected":    head + "    expect: {actions: [{type: incident.tag}]}\n",
		"bad pending":             head + "    pending: maybe\n    expect: {}\n",
		"bad not key":             head + "    expect: {not: {action: [{type: device.isolate}]}}\n",
		"not action without type": head + "    expect: {not: {actions: [{target: \"device:d\"}]}}\n",
		"bad decision":            head + "    decisions: [{action: device.isolate, decision: maybe}]\n    expect: {}\n",
		"no cases":                "playbook: p\ncases: []\n",
	}
	for name, src := range bad {
		if err := validate([]byte(src)); err == nil {
			t.Errorf("%s: the schema accepts %q", name, src)
		}
		if _, err := ParseTestFile("t.test.yaml", []byte(src)); err == nil {
			t.Errorf("%s: the loader accepts %q", name, src)
		}
	}
	good := head + "    pending: reject\n    expect: {not: {actions: [{type: device.isolate}], comments: [isolated], tags: [x]}}\n"
	if err := validate([]byte(good)); err != nil {
		t.Errorf("schema rejects %q: %v", good, err)
	}
	if _, err := ParseTestFile("t.test.yaml", []byte(good)); err != nil {
		t.Errorf("loader rejects %q: %v", good, err)
	}
}

// TestSchemaKeys checks that the schema lists exactly the keys the parser
// accepts, mapping by mapping.
func TestSchemaKeys(t *testing.T) {
	t.Parallel()
	var doc struct {
		Properties map[string]any `json:"properties"`
		Defs       struct {
			Step   struct{ Properties map[string]any } `json:"step"`
			Retry  struct{ Properties map[string]any } `json:"retry"`
			Stages struct{ Properties map[string]any } `json:"stages"`
			Input  struct {
				OneOf []struct{ Properties map[string]any } `json:"oneOf"`
			} `json:"input"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	stageNames := make([]string, len(Stages))
	for i, s := range Stages {
		stageNames[i] = string(s)
	}
	tests := []struct {
		what  string
		props map[string]any
		want  []string
	}{
		{"playbook", doc.Properties, playbookKeys},
		{"step", doc.Defs.Step.Properties, stepKeys},
		{"retry", doc.Defs.Retry.Properties, retryKeys},
		{"stages", doc.Defs.Stages.Properties, stageNames},
		{"input", doc.Defs.Input.OneOf[1].Properties, inputKeys},
	}
	for _, tt := range tests {
		var got []string
		for k := range tt.props {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema keys %v, parser keys %v", tt.what, got, want)
		}
	}
}

// TestSchemaValidatesPlaybooks checks the schema against real files: every
// shipped playbook validates, and files the loader rejects for their shape
// are rejected by the schema too.
func TestSchemaValidatesPlaybooks(t *testing.T) {
	t.Parallel()
	var doc any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("playbook.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("playbook.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	validate := func(src []byte) error {
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			return err
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		return sch.Validate(inst)
	}

	files, _ := filepath.Glob(filepath.Join(shippedDir, "*.yaml"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		n++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(src); err != nil {
			t.Errorf("%s does not validate: %v", f, err)
		}
	}
	if n < 6 {
		t.Errorf("validated %d shipped playbooks, want them all", n)
	}

	bad := map[string]string{
		"unknown key":      header + "colour: red\n",
		"unknown action":   header + "stages:\n  triage:\n    - id: a\n      action: device.isolat\n",
		"unknown argument": header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: [x], colour: red}\n",
		"bad enum":         header + "stages:\n  containment:\n    - id: a\n      action: device.isolate\n      with: {isolationType: Partial}\n",
		"action and use":   header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      use: x\n",
		"bad duration":     header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      timeout: 5\n",
		"bad error kind":   header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      retry: {non_retryable: [bogus]}\n",
		"no version":       "name: t\n",
	}
	for name, src := range bad {
		if err := validate([]byte(src)); err == nil {
			t.Errorf("%s: the schema accepts %q", name, src)
		}
		if _, err := Parse("t.yaml", []byte(src)); err == nil {
			t.Errorf("%s: the loader accepts %q", name, src)
		}
	}
	// A template stands for any argument type.
	ok := header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n" +
		"      with: {isolationType: \"{{ item.deviceGroup == 'servers' ? 'Selective' : 'Full' }}\"}\n"
	if err := validate([]byte(ok)); err != nil {
		t.Errorf("templated enum rejected: %v", err)
	}
}
