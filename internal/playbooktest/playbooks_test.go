package playbooktest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShippedPlaybooks runs every playbook test file in playbooks/.
func TestShippedPlaybooks(t *testing.T) {
	results, err := RunDir(context.Background(), "../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no playbook test cases found")
	}
	for _, r := range results {
		t.Run(r.Playbook+"/"+r.Case, func(t *testing.T) {
			if !r.Passed() {
				t.Errorf("%s:%d: %s", r.File, r.Line, strings.Join(r.Problems, "\n\t"))
			}
		})
	}
}

// TestTogetherShowsOverlaps runs testdata/overlap, where two playbooks
// isolate the same device and a third is exclusive: alone every case
// passes quietly; together the workflow proposes one action, the overlap is
// a note naming both playbooks, and the exclusive playbook runs alone, so
// a case expecting another playbook to act on its incident fails.
func TestTogetherShowsOverlaps(t *testing.T) {
	ctx := context.Background()
	alone, err := RunDir(ctx, "testdata/overlap")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alone {
		if !r.Passed() || len(r.Notes) > 0 {
			t.Errorf("alone: %s: problems %q, notes %q; want none", r.Case, r.Problems, r.Notes)
		}
	}
	together, err := RunDirWith(ctx, "testdata/overlap", Options{Together: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range together {
		got[r.Playbook] = r
		if !r.Passed() && r.Playbook != "isolate-b" {
			t.Errorf("together: %s: %q", r.Case, r.Problems)
		}
	}
	// isolate-b's case expects it to act on a ransomware incident, which
	// the exclusive ransomware playbook takes alone.
	wantProblems := []string{
		"isolate-b did not run: with every playbook loaded, ransomware ran (ransomware is exclusive: it runs alone)",
		`tags: got [ransomware], want "isolate-b" among them`,
	}
	if b := got["isolate-b"]; !slices.Equal(b.Problems, wantProblems) {
		t.Errorf("isolate-b together: problems %q, want %q", b.Problems, wantProblems)
	}
	a := got["isolate-a"]
	if want := []string{"isolate-a", "isolate-b"}; !slices.Equal(a.Ran, want) {
		t.Errorf("isolate-a together: ran %q, want %q", a.Ran, want)
	}
	wantNote := "overlap on device:dev1: device.isolate by isolate-a/isolate (succeeded); device.isolate also by isolate-b/contain, joined: one action"
	if !slices.Contains(a.Notes, wantNote) {
		t.Errorf("isolate-a together: notes %q, want %q among them", a.Notes, wantNote)
	}
	wantNotes := []string{"not run: isolate-a (exclusive playbook ransomware runs alone)",
		"not run: isolate-b (exclusive playbook ransomware runs alone)"}
	if r := got["ransomware"]; !slices.Equal(r.Ran, []string{"ransomware"}) || !slices.Equal(r.Notes, wantNotes) {
		t.Errorf("ransomware together: ran %q, notes %q; want it alone, notes %q", r.Ran, r.Notes, wantNotes)
	}
}

// TestAnswersInPlaybookTests runs testdata/people, whose cases answer the
// playbook's question (answers) and check the answer it ended with
// (expect.answers), a default applied on timeout included; a case that
// expects another answer fails, saying which.
func TestAnswersInPlaybookTests(t *testing.T) {
	results, err := RunDir(context.Background(), "testdata/people")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d cases, want 2", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s:%d %s: %s", r.File, r.Line, r.Case, strings.Join(r.Problems, "\n\t"))
		}
	}

	dir := t.TempDir()
	for _, name := range []string{"confirm-phishing.yaml", "confirm-phishing.test.yaml"} {
		src, err := os.ReadFile(filepath.Join("testdata/people", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".test.yaml") {
			src = []byte(strings.Replace(string(src), "answers: {confirm: phishing}\n    expect:\n      answers: {confirm: phishing}",
				"answers: {confirm: clean, nosuch: x}\n    expect:\n      answers: {confirm: phishing}", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results, err = RunDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"answers.nosuch: the investigation asked no question of step nosuch", "expect.answers.confirm: got clean, want phishing"}
	if got := results[0].Problems; !containsAll(got, want) {
		t.Errorf("problems %q, want %q among them", got, want)
	}
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
