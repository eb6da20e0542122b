package plan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

func sampleIncident(t *testing.T, level policy.Level) plan.Incident {
	t.Helper()
	f, err := os.Open("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	alerts, _, err := decode.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := scratch.Incidents(context.Background(), alerts, policy.Settings{Default: level})
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %d, %v", len(incs), err)
	}
	return incs[0]
}

func TestPlanSaysWhatWouldRunOrWait(t *testing.T) {
	books, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		level   policy.Level
		outcome string
		reason  string
	}{
		{policy.SemiAll, "wait", "semi-all"},
		{policy.Full, "run", "malicious evidence is remediated automatically"},
	} {
		p, err := plan.Make(books, sampleIncident(t, tt.level))
		if err != nil {
			t.Fatal(err)
		}
		var isolate *plan.Step
		for i, s := range p.Steps {
			if s.Action == "device.isolate" {
				isolate = &p.Steps[i]
			}
		}
		if isolate == nil {
			t.Fatalf("%s: no isolation planned: %+v", tt.level, p.Steps)
		}
		if isolate.Outcome != tt.outcome || !strings.Contains(isolate.Reason, tt.reason) || isolate.Params["isolationType"] != "Full" {
			t.Errorf("%s: isolation planned as %+v", tt.level, *isolate)
		}
	}
}

func TestDiffBetweenPlaybookVersions(t *testing.T) {
	old, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	// The new version isolates selectively.
	dir := t.TempDir()
	files, _ := filepath.Glob("../../playbooks/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "contain-device.yaml" {
			b = []byte(strings.ReplaceAll(string(b), "default: Full", "default: Selective"))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := sampleIncident(t, policy.SemiAll)
	op, err := plan.Make(old, in)
	if err != nil {
		t.Fatal(err)
	}
	np, err := plan.Make(books, in)
	if err != nil {
		t.Fatal(err)
	}
	changes := plan.Diff(op, np)
	if len(changes) != 1 || changes[0].Kind != "changed" || changes[0].New.Params["isolationType"] != "Selective" {
		t.Errorf("changes: %+v, want the isolation type changed", changes)
	}
	if same := plan.Diff(op, op); len(same) != 0 {
		t.Errorf("a plan differs from itself: %+v", same)
	}
}

// TestPlanNamesPlaybooksAnExclusiveOneLeavesOut: an exclusive playbook that
// matches runs alone, and the plan says which others matched and why they
// do not run.
func TestPlanNamesPlaybooksAnExclusiveOneLeavesOut(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a.yaml": "name: a\nversion: 1\n",
		"b.yaml": "name: b\nversion: 2\norder: 5\nexclusive: true\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(books, sampleIncident(t, policy.SemiAll))
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.NotRun{{Playbook: "a v1", Reason: "exclusive playbook b runs alone"}}
	if len(p.Playbooks) != 1 || p.Playbooks[0] != "b v2" || len(p.NotRun) != 1 || p.NotRun[0] != want[0] {
		t.Errorf("plan playbooks %q, not run %+v; want [b v2], %+v", p.Playbooks, p.NotRun, want)
	}
}
