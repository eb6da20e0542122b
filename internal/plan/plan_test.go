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
