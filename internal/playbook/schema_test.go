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

var update = flag.Bool("update", false, "rewrite docs/playbook.schema.json from Schema()")

const schemaFile = "../../docs/playbook.schema.json"

// TestSchemaFile keeps docs/playbook.schema.json equal to Schema(), which
// follows the parser's key tables and the action registry. After changing
// either: go test ./internal/playbook -run TestSchemaFile -update
func TestSchemaFile(t *testing.T) {
	got := Schema()
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (create it: go test ./internal/playbook -run TestSchemaFile -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the parser or the action registry; regenerate it:\n"+
			"  go test ./internal/playbook -run TestSchemaFile -update", schemaFile)
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
