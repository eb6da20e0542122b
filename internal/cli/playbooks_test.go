package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/airsoc/air/internal/playbook"
)

func TestPlaybooksValidate(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb}, append([]string{"playbooks", "validate"}, args...))
		return code, out.String(), errb.String()
	}

	code, out, errs := run("../../playbooks")
	if code != 0 || !strings.Contains(out, "playbooks in ../../playbooks are valid: ") || !strings.Contains(out, "sub-playbooks") {
		t.Errorf("shipped playbooks: exit %d\n%s%s", code, out, errs)
	}

	bad := t.TempDir()
	files := map[string]string{
		"bad.yaml":      "name: bad\nversion: 1\nmatch: incident.severty == \"high\"\nstages:\n  triage:\n    - id: a\n      action: incident.tga\n",
		"use.yaml":      "name: caller\nversion: 1\nstages:\n  triage:\n    - id: a\n      use: nowhere\n",
		"bad.test.yaml": "playbook: bad\ncases:\n  - name: x\n    alerts: [{id: a1, severity: severe}]\n    expect: {state: done}\n",
		"x.test.yaml":   "playbook: nope\ncases:\n  - name: y\n    alerts: [{id: a2}]\n    expect: {}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(bad, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs = run(bad)
	p := func(f string) string { return filepath.Join(bad, f) }
	want := []string{
		p("bad.test.yaml") + `:4:14: alerts[0]: severity: unknown value "severe"`,
		p("bad.test.yaml") + `:5:21: state: unknown investigation state "done"`,
		p("bad.yaml") + `:3:17: match: incident has no field severty (did you mean severity?)`,
		p("bad.yaml") + `:7:15: unknown action "incident.tga" (did you mean incident.tag?)`,
		p("use.yaml") + `:6:12: use: no sub-playbook "nowhere"`,
	}
	if code != 1 {
		t.Errorf("bad playbooks: exit %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errs, "5 problems in 3 files") {
		t.Errorf("summary: %q, want 5 problems in 3 files", errs)
	}

	if code, _, errs := run(filepath.Join(bad, "missing")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing directory: exit %d %s", code, errs)
	}
	if code, _, _ := run("a", "b"); code != 2 {
		t.Errorf("two directories: exit %d, want 2", code)
	}
}

// TestPlaybooksTestTogether: --together prints what ran for each case and
// the overlap of two playbooks isolating one device.
func TestPlaybooksTestTogether(t *testing.T) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb},
		[]string{"playbooks", "test", "--together", "../playbooktest/testdata/overlap"})
	want := []string{
		"PASS  isolate-a / a malicious device is isolated once",
		"        ran: isolate-a, isolate-b\n",
		"        note: overlap on device:dev1: device.isolate by isolate-a/isolate (succeeded); device.isolate also by isolate-b/contain, joined: one action\n",
		"FAIL  isolate-b / a ransomware alert is not this playbook's once ransomware is loaded",
		"        isolate-b did not run: with every playbook loaded, ransomware ran (ransomware is exclusive: it runs alone)\n",
		"2 passed, 1 failed, 1 with overlaps\n",
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (isolate-b fails together)\n%s%s", code, out.String(), errb.String())
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// TestPlaybooksPlanAssume: --assume is checked, and says what it assumed.
func TestPlaybooksPlanAssume(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb},
			append([]string{"playbooks", "plan", "--playbooks", "../../playbooks", "--incident", "../graph/testdata/sample-alert.json"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, errs := run("--assume", "approved")
	if code != 0 || !strings.Contains(out, "assuming every action that would wait is approved") ||
		!strings.Contains(out, "(assumed approved)") || !strings.Contains(out, "not run: generic-fallback v1 (fallback: another playbook matched)") {
		t.Errorf("--assume approved: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run()
	if code != 0 || !strings.Contains(out, "    device-compromise/contain > isolate ") || !strings.Contains(out, "device:2f48b784b5c4…  wait\n") ||
		!strings.Contains(out, "        for_each yields no items: filter(processes, {.verdict == \"malicious\"})\n") {
		t.Errorf("table: exit %d\n%s%s", code, out, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Errorf("table line of %d characters, want at most 120: %q", n, line)
		}
	}
	if code, out, _ := run("-o", "wide"); code != 0 || !strings.Contains(out, "PARAMS") || !strings.Contains(out, `"isolationType":"Full"}`) {
		t.Errorf("-o wide: exit %d\n%s", code, out)
	}
	if code, _, errs := run("--assume", "maybe"); code != 2 || !strings.Contains(errs, "--assume must be approved or rejected") {
		t.Errorf("--assume maybe: exit %d, %s", code, errs)
	}
}

// TestPlaybooksSchema: the schemas land in DIR/schema/, as the loader
// knows them, where the shipped files' headers look.
func TestPlaybooksSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"playbooks", "schema", dir}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for name, want := range map[string][]byte{playbook.SchemaFileName: playbook.Schema(), playbook.TestSchemaFileName: playbook.TestSchema()} {
		got, err := os.ReadFile(filepath.Join(dir, "schema", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, or not the loader's schema", name, err)
		}
		if !strings.Contains(out.String(), "wrote "+filepath.Join(dir, "schema", name)) {
			t.Errorf("output %q does not name %s", out.String(), name)
		}
	}
}

// TestValidateNotesOverlaps: validate names two playbooks that take the
// same remediation (neither exclusive), and stays quiet on one alone.
func TestValidateNotesOverlaps(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"playbooks", "validate", "../../workflows/testdata/overlap"}); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "note: overlap-a and overlap-b both take device.isolate") {
		t.Errorf("no overlap note:\n%s", out.String())
	}
}
