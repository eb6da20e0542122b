package plan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

func sampleIncident(t testing.TB, level policy.Level) plan.Incident {
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

// TestPlanTellsWhyAndAssumes: a step that does nothing is in the plan with
// why, naming the earlier step whose actions would still wait; --assume
// approved or rejected plans what follows them.
func TestPlanTellsWhyAndAssumes(t *testing.T) {
	dir := t.TempDir()
	src := `name: p
version: 1
stages:
  containment:
    - id: isolate
      for_each: devices
      action: device.isolate
      with: {isolationType: Full}
    - id: kill
      for_each: processes
      action: process.kill
  review:
    - id: told
      when: steps.isolate.succeeded > 0
      action: incident.comment
      with: {text: isolated}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := sampleIncident(t, policy.SemiAll)
	outcome := func(p *plan.Plan, step string) plan.Step {
		for _, s := range p.Steps {
			if s.Step == step {
				return s
			}
		}
		t.Fatalf("no step %s in %+v", step, p.Steps)
		return plan.Step{}
	}
	tests := []struct {
		assume      string
		isolate     string // substring of isolate's reason
		told, why   string
		withoutWait bool // the reason of told does not mention waiting
	}{
		{plan.AssumePending, "semi-all", plan.OutcomeNone,
			"when is false: steps.isolate.succeeded > 0; steps.isolate has 1 action(s) waiting for approval, assumed still pending", false},
		{plan.AssumeApproved, "(assumed approved)", "do", "", true},
		{plan.AssumeRejected, "(assumed rejected)", plan.OutcomeNone, "when is false: steps.isolate.succeeded > 0", true},
	}
	for _, tt := range tests {
		p, err := plan.MakeWith(books, in, plan.Options{Assume: tt.assume})
		if err != nil {
			t.Fatal(err)
		}
		if s := outcome(p, "isolate"); s.Outcome != "wait" || !strings.Contains(s.Reason, tt.isolate) {
			t.Errorf("assume %q: isolate %s %q, want wait …%s…", tt.assume, s.Outcome, s.Reason, tt.isolate)
		}
		s := outcome(p, "told")
		if s.Outcome != tt.told || !strings.Contains(s.Reason, tt.why) || (tt.withoutWait && strings.Contains(s.Reason, "waiting")) {
			t.Errorf("assume %q: told %s %q, want %s …%s…", tt.assume, s.Outcome, s.Reason, tt.told, tt.why)
		}
		if s := outcome(p, "kill"); s.Outcome != plan.OutcomeNone || s.Reason != "for_each yields no items: processes" {
			t.Errorf("assume %q: kill %s %q", tt.assume, s.Outcome, s.Reason)
		}
		if p.Assumed != tt.assume {
			t.Errorf("assumed %q, want %q", p.Assumed, tt.assume)
		}
	}
	if _, err := plan.MakeWith(books, in, plan.Options{Assume: "maybe"}); err == nil {
		t.Error("assume maybe accepted")
	}
}

// TestPlanShowsRecordedActions: on a stored incident, a proposal the
// incident already recorded is planned as done (or as its status), not as
// run, and later steps read what really happened.
func TestPlanShowsRecordedActions(t *testing.T) {
	dir := t.TempDir()
	src := `name: p
version: 1
stages:
  containment:
    - id: isolate
      for_each: devices
      action: device.isolate
      with: {isolationType: Full}
  eradication:
    - id: quarantine
      for_each: files
      action: file.stop_and_quarantine
      with: {deviceId: x}
  review:
    - id: told
      when: steps.isolate.succeeded > 0
      action: incident.comment
      with: {text: isolated}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := sampleIncident(t, policy.SemiAll)
	var device, file domain.EntityKey
	for _, e := range in.Entities {
		switch e.Kind {
		case domain.KindDevice:
			device = e.Key
		case domain.KindFile:
			file = e.Key
		}
	}
	in.Actions = []domain.Action{
		{ID: "a1", Playbook: "p", Step: "isolate", Type: "device.isolate", TargetKey: device, Status: domain.ActionSucceeded,
			DecidedBy: "ana", Result: "isolated", IdempotencyKey: plan.IdempotencyKey(in.Incident.ID, "p", "isolate", device)},
		{ID: "a2", Playbook: "p", Step: "quarantine", Type: "file.stop_and_quarantine", TargetKey: file, Status: domain.ActionRejected,
			DecidedBy: "bo", IdempotencyKey: plan.IdempotencyKey(in.Incident.ID, "p", "quarantine", file)},
	}
	p, err := plan.Make(books, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"isolate":    {plan.OutcomeDone, "recorded as action a1 (p/isolate): succeeded, decided by ana: isolated"},
		"quarantine": {"rejected", "recorded as action a2 (p/quarantine): rejected, decided by bo"},
		"told":       {"do", ""},
	}
	for _, s := range p.Steps {
		w, ok := want[s.Step]
		if ok && (s.Outcome != w[0] || s.Reason != w[1]) {
			t.Errorf("%s: %s %q, want %s %q", s.Step, s.Outcome, s.Reason, w[0], w[1])
		}
		delete(want, s.Step)
	}
	if len(want) > 0 {
		t.Errorf("steps not planned: %v", want)
	}
}

// TestPlanSaysWhatAStepWaitsFor: a step that reads a step whose actions
// would wait runs only once they are decided, and its planned row says so.
func TestPlanSaysWhatAStepWaitsFor(t *testing.T) {
	dir := t.TempDir()
	src := `name: p
version: 1
stages:
  containment:
    - id: isolate
      for_each: devices
      action: device.isolate
      with: {isolationType: Full}
  review:
    - id: note
      when: steps.isolate.status != "succeeded"
      action: incident.comment
      with: {text: "isolation {{ steps.isolate.status }}"}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(books, sampleIncident(t, policy.SemiAll))
	if err != nil {
		t.Fatal(err)
	}
	want := "runs once steps.isolate (1 pending) is decided; planned as if still pending"
	found := false
	for _, s := range p.Steps {
		if s.Step == "note" {
			found = true
			if s.Outcome != "do" || s.Reason != want {
				t.Errorf("note: %s %q, want do %q", s.Outcome, s.Reason, want)
			}
		}
	}
	if !found {
		t.Errorf("note not planned: %+v", p.Steps)
	}
}

// TestPlanWarnsOfOverlaps: two playbooks that both isolate the sample's
// device are named in the plan as one overlap (the workflow makes one
// action of them); the shipped playbooks alone overlap nowhere.
func TestPlanWarnsOfOverlaps(t *testing.T) {
	books, err := playbook.LoadDir("../../workflows/testdata/overlap")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(books, sampleIncident(t, policy.Full))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Overlaps) != 1 || !strings.Contains(p.Overlaps[0], "device.isolate on device:") || !strings.Contains(p.Overlaps[0], "one action") {
		t.Errorf("overlaps %q, want the one isolation both playbooks propose", p.Overlaps)
	}
	shipped, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := plan.Make(shipped, sampleIncident(t, policy.Full)); err != nil || len(p.Overlaps) != 0 {
		t.Errorf("shipped playbooks: overlaps %q, %v; want none", p.Overlaps, err)
	}
}

// TestPlanShowsAsksAndWaits: an ask step plans as "asks analyst: …" with
// the answer it assumes (given, else the default, else none: still
// open), the steps that read the answer follow it, and a wait step says
// whether its condition holds now.
func TestPlanShowsAsksAndWaits(t *testing.T) {
	dir := t.TempDir()
	src := `name: p
version: 1
stages:
  triage:
    - id: confirm
      ask:
        to: analyst
        question: "Is {{ incident.displayName }} malicious?"
        choices: [malicious, clean]
        timeout: 4h
    - id: second
      ask: {to: analyst, question: "Scan too?", choices: ["yes", "no"], default: "no"}
  containment:
    - id: isolate
      for_each: devices
      when: steps.confirm.answer == "malicious"
      action: device.isolate
      with: {isolationType: Full}
  recovery:
    - id: classified
      wait: {until: incident.classification == "truePositive", timeout: 2h}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	row := func(p *plan.Plan, step string) plan.Step {
		t.Helper()
		for _, s := range p.Steps {
			if s.Step == step {
				return s
			}
		}
		t.Fatalf("%s not planned: %+v", step, p.Steps)
		return plan.Step{}
	}
	p, err := plan.Make(books, sampleIncident(t, policy.SemiAll))
	if err != nil {
		t.Fatal(err)
	}
	if s := row(p, "confirm"); s.Outcome != plan.OutcomeAsk || !strings.HasPrefix(s.Reason, "asks analyst: Is ") ||
		!strings.Contains(s.Reason, "[malicious | clean]; no answer assumed") {
		t.Errorf("confirm: %s %q", s.Outcome, s.Reason)
	}
	if s := row(p, "second"); !strings.Contains(s.Reason, "assumed answer: no (the default, after 24h0m0s without one)") {
		t.Errorf("second: %q", s.Reason)
	}
	if s := row(p, "isolate"); s.Outcome != plan.OutcomeNone || !strings.Contains(s.Reason, "steps.confirm waits for an answer, assumed still open (--answer confirm=CHOICE") {
		t.Errorf("isolate without an answer: %s %q", s.Outcome, s.Reason)
	}
	if s := row(p, "classified"); s.Outcome != plan.OutcomeWait || !strings.Contains(s.Reason, "not met now") {
		t.Errorf("classified: %s %q", s.Outcome, s.Reason)
	}

	p, err = plan.MakeWith(books, sampleIncident(t, policy.SemiAll), plan.Options{Answers: map[string][]string{"confirm": {"malicious"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := row(p, "confirm"); !strings.HasSuffix(s.Reason, "assumed answer: malicious") {
		t.Errorf("confirm answered: %q", s.Reason)
	}
	if s := row(p, "isolate"); s.Outcome != "wait" || !strings.Contains(s.Reason, "runs after steps.confirm answered malicious, as assumed") {
		t.Errorf("isolate after the answer malicious: %s %q", s.Outcome, s.Reason)
	}
}
