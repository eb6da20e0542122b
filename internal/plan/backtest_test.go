package plan_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// step builds a planned step on device:ws1.
func step(id, action, outcome, reason string, params map[string]any) plan.Step {
	return plan.Step{Playbook: "pb", Version: 1, Stage: playbook.StageContainment, Step: id, Action: action,
		Target: "device:ws1", Outcome: outcome, Reason: reason, Params: params}
}

func kinds(ds []plan.Difference) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Kind + ":" + d.Action()
		if c := d.Change(); c != "" {
			out[i] += " " + c
		}
	}
	return out
}

func TestCompareHandBuiltPlans(t *testing.T) {
	t.Parallel()
	isolate := step("isolate", "device.isolate", "run", "full automation", map[string]any{"isolationType": "Full"})
	scan := step("scan", "device.run_av_scan", "wait", "semi-all: waits for approval", nil)
	ask := step("confirm", plan.OutcomeAsk, plan.OutcomeAsk, "asks analyst: Is it yours? [yes | no]; assumed answer: no", nil)
	wait := step("settle", plan.OutcomeWait, plan.OutcomeWait, "waits until x (up to 1h): met now", nil)
	none := step("disable", "user.disable", plan.OutcomeNone, "when is false", nil)
	classify := plan.Step{Playbook: "pb", Step: "classify", Action: "incident.classify", Target: "incident:1", Outcome: "run",
		Params: map[string]any{"classification": "truePositive", "determination": "malware"}}
	base := &plan.Plan{Playbooks: []string{"pb v1"}, Steps: []plan.Step{isolate, scan, ask, wait, none, classify}}
	with := func(edit func(p *plan.Plan)) *plan.Plan {
		p := &plan.Plan{Playbooks: slices.Clone(base.Playbooks), Steps: slices.Clone(base.Steps)}
		edit(p)
		return p
	}
	for _, tt := range []struct {
		name string
		new  *plan.Plan
		want []string
	}{
		{"no change", with(func(p *plan.Plan) {}), []string{}},
		{"a new version, the same steps", with(func(p *plan.Plan) {
			p.Playbooks = []string{"pb v2"}
			for i := range p.Steps {
				p.Steps[i].Version = 2
			}
		}), []string{}},
		{"a step that does nothing, otherwise", with(func(p *plan.Plan) { p.Steps[4].Reason = "for_each is empty" }), []string{}},
		{"removed", with(func(p *plan.Plan) { p.Steps = slices.Delete(p.Steps, 0, 1) }), []string{"removed:device.isolate"}},
		{"removed: its when turns false", with(func(p *plan.Plan) { p.Steps[0].Outcome, p.Steps[0].Target = plan.OutcomeNone, "" }),
			[]string{"removed:device.isolate"}},
		{"added: a step that did nothing acts", with(func(p *plan.Plan) {
			p.Steps[4] = step("disable", "user.disable", "wait", "semi-all", nil)
		}), []string{"added:user.disable"}},
		{"added on another target", with(func(p *plan.Plan) {
			s := isolate
			s.Target = "device:ws2"
			p.Steps = append(p.Steps, s)
		}), []string{"added:device.isolate"}},
		{"decision: run → wait", with(func(p *plan.Plan) { p.Steps[0].Outcome, p.Steps[0].Reason = "wait", "rule vip: wait" }),
			[]string{"decision:device.isolate run → wait"}},
		{"decision: wait → skip", with(func(p *plan.Plan) { p.Steps[1].Outcome = "skip" }), []string{"decision:device.run_av_scan wait → skip"}},
		{"reason of a wait for approval", with(func(p *plan.Plan) { p.Steps[1].Reason = "step demands approval" }),
			[]string{"reason:device.run_av_scan"}},
		{"reason of a run is no difference", with(func(p *plan.Plan) { p.Steps[0].Reason = "rule r: run" }), []string{}},
		{"reason of an ask", with(func(p *plan.Plan) { p.Steps[2].Reason = "asks analyst: Is it yours? [yes | no]; assumed answer: yes" }),
			[]string{"reason:ask"}},
		{"params", with(func(p *plan.Plan) { p.Steps[0].Params = map[string]any{"isolationType": "Selective"} }),
			[]string{"params:device.isolate"}},
		{"wait changed", with(func(p *plan.Plan) { p.Steps[3].Reason = "waits until x (up to 1h): not met now" }),
			[]string{"wait:wait condition or timeout"}},
		{"wait removed", with(func(p *plan.Plan) { p.Steps = slices.Delete(p.Steps, 3, 4) }), []string{"wait:wait removed"}},
		{"verdict changed", with(func(p *plan.Plan) {
			p.Steps[5].Params = map[string]any{"classification": "falsePositive", "determination": "other"}
		}),
			[]string{"verdict: truePositive/malware → falsePositive/other", "params:incident.classify"}},
		{"verdict gone", with(func(p *plan.Plan) { p.Steps[5].Outcome = "skip" }),
			[]string{"verdict: truePositive/malware → (none)", "decision:incident.classify run → skip"}},
		{"playbooks", with(func(p *plan.Plan) { p.Playbooks = append(p.Playbooks, "other v1") }), []string{"playbooks: pb → pb, other"}},
		{"several, in kind order", with(func(p *plan.Plan) {
			p.Steps[1].Outcome = "run"
			p.Steps = append(p.Steps[1:], step("kill", "process.kill", "run", "", nil))
		}), []string{"removed:device.isolate", "decision:device.run_av_scan wait → run", "added:process.kill"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(plan.Compare(base, tt.new)); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReportCountsAndMerges(t *testing.T) {
	t.Parallel()
	rm := plan.Difference{Kind: plan.DiffRemoved, Old: &plan.Step{Action: "device.isolate"}}
	dec := plan.Difference{Kind: plan.DiffDecision, Old: &plan.Step{Action: "user.disable", Outcome: "run"}, New: &plan.Step{Action: "user.disable", Outcome: "wait"}}
	a, b := &plan.Report{}, &plan.Report{}
	a.Add(plan.IncidentDiff{IncidentID: 1, Differences: []plan.Difference{rm, rm, dec}}, false)
	a.Add(plan.IncidentDiff{IncidentID: 2}, false)
	b.Add(plan.IncidentDiff{IncidentID: 3, Differences: []plan.Difference{rm}}, false)
	b.Add(plan.IncidentDiff{IncidentID: 4, Differences: []plan.Difference{{Kind: plan.DiffError, After: "boom"}}}, false)
	b.Add(plan.IncidentDiff{IncidentID: 5}, true)
	a.Merge(b)
	if a.Incidents != 5 || a.Changed != 3 || a.Unchanged != 2 || a.Failed != 1 || len(a.Results) != 4 {
		t.Errorf("report %+v", a)
	}
	want := []plan.Count{
		{Kind: plan.DiffError, Count: 1, Incidents: 1},
		{Kind: plan.DiffRemoved, Action: "device.isolate", Count: 3, Incidents: 2},
		{Kind: plan.DiffDecision, Action: "user.disable", Change: "run → wait", Count: 1, Incidents: 1},
	}
	if !slices.Equal(a.Totals, want) {
		t.Errorf("totals %+v, want %+v", a.Totals, want)
	}
}

// candidateDir copies the shipped playbooks with one change: devices are
// isolated selectively, and only with an analyst's approval.
func candidateDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../../playbooks/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "contain-device.yaml" {
			s := strings.Replace(string(b), "action: device.isolate\n", "action: device.isolate\n      approval: required\n", 1)
			if s == string(b) {
				t.Fatal("contain-device.yaml has no isolate step to change")
			}
			b = []byte(s)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBacktestOnShippedPlaybooks(t *testing.T) {
	t.Parallel()
	baseline, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	candidate, err := playbook.LoadDir(candidateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	in := sampleIncident(t, policy.Full)
	load := func(_ context.Context, id int64) (*plan.Incident, error) {
		if id == 99 {
			return nil, errors.New("database gone")
		}
		c := in
		c.Incident.ID = id
		return &c, nil
	}
	r, err := plan.Backtest(context.Background(), baseline, candidate, []int64{1, 2}, load, plan.BacktestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Incidents != 2 || r.Changed != 2 || len(r.Results) != 2 || len(r.Totals) != 1 ||
		r.Totals[0] != (plan.Count{Kind: plan.DiffDecision, Action: "device.isolate", Change: "run → wait", Count: 2, Incidents: 2}) {
		t.Errorf("report %+v", r)
	}
	same, err := plan.Backtest(context.Background(), baseline, baseline, []int64{1}, load, plan.BacktestOptions{Verbose: true})
	if err != nil || same.Unchanged != 1 || len(same.Results) != 1 || len(same.Results[0].Differences) != 0 {
		t.Errorf("the same set: %+v, %v", same, err)
	}
	if _, err := plan.Backtest(context.Background(), baseline, candidate, []int64{1, 99}, load, plan.BacktestOptions{}); err == nil {
		t.Error("a load error does not stop the backtest")
	}
	bad := plan.CompareIncident(baseline, candidate, in, plan.Options{Assume: "maybe"})
	if len(bad.Differences) != 1 || bad.Differences[0].Kind != plan.DiffError || bad.Differences[0].Before == "" {
		t.Errorf("a plan that fails: %+v", bad)
	}
}

// BenchmarkCompareIncident measures what a backtest spends on one
// incident: two plans of the sample incident with the shipped playbooks
// and a changed copy, and their comparison (loading it aside).
func BenchmarkCompareIncident(b *testing.B) {
	baseline, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		b.Fatal(err)
	}
	candidate, err := playbook.LoadDir(candidateDir(b))
	if err != nil {
		b.Fatal(err)
	}
	in := sampleIncident(b, policy.SemiAll)
	b.ReportAllocs()
	for b.Loop() {
		if d := plan.CompareIncident(baseline, candidate, in, plan.Options{}); len(d.Differences) == 0 {
			b.Fatal("no difference")
		}
	}
}

// BenchmarkCompare measures the comparison of two plans alone.
func BenchmarkCompare(b *testing.B) {
	baseline, _ := playbook.LoadDir("../../playbooks")
	candidate, _ := playbook.LoadDir(candidateDir(b))
	in := sampleIncident(b, policy.SemiAll)
	old, err1 := plan.Make(baseline, in)
	cur, err2 := plan.Make(candidate, in)
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		plan.Compare(old, cur)
	}
	b.ReportMetric(float64(len(old.Steps)), "steps")
}
