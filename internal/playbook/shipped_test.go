package playbook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/policy"
)

// The shipped playbooks' tests run for real through the workflow (starter
// playbooks test, and go test in the workflow's package). This file checks
// them early and cheaply: every test file parses and names a shipped
// playbook, and a small in-process simulation of the workflow's semantics
// (stages in order, for_each, use, policy, mocked results and decisions,
// on_error, step outputs) reaches each case's expectations. The simulation
// is not the product: when it and the workflow disagree, the workflow is
// right and this file is to fix.

const shippedDir = "../../playbooks"

func TestShippedPlaybooksLoad(t *testing.T) {
	t.Parallel()
	pbs, err := LoadDir(shippedDir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	var names []string
	for _, pb := range pbs {
		names = append(names, pb.Name)
	}
	want := []string{"bec-forwarding-rule", "block-indicators", "compromised-user", "contain-device", "device-compromise",
		"disable-account", "generic-fallback", "phishing-email"}
	for _, n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("shipped playbooks %v lack %s", names, n)
		}
	}
}

func TestShippedPlaybookTests(t *testing.T) {
	t.Parallel()
	pbs, err := LoadDir(shippedDir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	files, err := LoadTests(shippedDir)
	if err != nil {
		t.Fatalf("LoadTests: %v", err)
	}
	byName := map[string]*Playbook{}
	for _, pb := range pbs {
		byName[pb.Name] = pb
	}
	tested := map[string]int{}
	for _, tf := range files {
		pb := byName[tf.Playbook]
		if pb == nil {
			t.Errorf("%s: no playbook %q", tf.File, tf.Playbook)
			continue
		}
		tested[strings.TrimSuffix(filepath.Base(tf.File), ".test.yaml")] += len(tf.Cases)
		if asksPeople(pb) {
			// The simulation does not model questions and waits; these
			// cases run through the real workflow only
			// (internal/playbooktest TestShippedPlaybooks).
			continue
		}
		for _, tc := range tf.Cases {
			if len(tc.Intel) > 0 || len(tc.History) > 0 {
				// Intel, prevalence and hunting read a store: these cases
				// run through the real workflow only (internal/playbooktest).
				continue
			}
			t.Run(filepath.Base(tf.File)+"/"+tc.Name, func(t *testing.T) {
				simulate(t, pb, &tc)
			})
		}
	}
	for _, pb := range pbs {
		if tested[pb.Name] < 2 {
			t.Errorf("playbook %s has %d test cases in %s.test.yaml, want at least 2 (a positive and a negative or edge case)",
				pb.Name, tested[pb.Name], pb.Name)
		}
	}
}

// simAction is an action the simulation proposed.
type simAction struct {
	typ, target, run, reason, status string
}

type simulation struct {
	t  *testing.T
	tc *TestCase
	// malicious are the uncontained malicious entities (domain.Uncontained).
	malicious []domain.EntityKey
	settings  policy.Settings
	entities  map[domain.EntityKey]domain.Entity
	tags      []string
	comments  []string
	actions   []simAction
	incident  map[string]string // the fields case actions set, by Graph name
}

func simulate(t *testing.T, pb *Playbook, tc *TestCase) {
	var alerts []domain.Alert
	var entities []domain.Entity
	inc := domain.Incident{ID: 1, Status: domain.IncidentActive, Severity: domain.SeverityInformational}
	for _, raw := range tc.Alerts {
		a, err := graph.DecodeAlert(raw)
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, *a)
		if inc.DisplayName == "" {
			inc.DisplayName = a.Title
		}
		if rank(a.Severity) > rank(inc.Severity) {
			inc.Severity = a.Severity
		}
		for _, ev := range a.Evidence {
			if ev.Entity != nil {
				entities = append(entities, *ev.Entity)
			}
		}
	}
	inc.AlertCount = len(alerts)
	entities, missing := tc.WithFacts(entities)
	if len(missing) > 0 {
		t.Fatalf("entities %v: no such entity in the alerts", missing)
	}
	s := &simulation{t: t, tc: tc, entities: map[domain.EntityKey]domain.Entity{}, malicious: domain.Uncontained(entities, alerts)}
	if tc.Automation != nil {
		s.settings = *tc.Automation
	}
	for _, e := range entities {
		if prev, ok := s.entities[e.Key]; ok {
			e.Verdict = domain.StrongerVerdict(prev.Verdict, e.Verdict)
		}
		s.entities[e.Key] = e
	}
	s.incident = map[string]string{"severity": string(inc.Severity), "status": string(inc.Status),
		"classification": inc.Classification, "determination": inc.Determination, "assignedTo": inc.AssignedTo}
	values, err := tc.CheckInputs(pb)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	env := WithPlaybookInputs(NewEnv(inc, alerts, entities), pb, values)
	if ok, err := pb.MatchesWith(env, values); err != nil {
		t.Fatal(err)
	} else if ok {
		if _, err := s.playbook(pb, env); err != nil {
			t.Fatalf("playbook failed: %v", err)
		}
	}
	s.check()
}

func rank(s domain.Severity) int {
	return slices.Index([]domain.Severity{domain.SeverityUnknown, domain.SeverityInformational, domain.SeverityLow,
		domain.SeverityMedium, domain.SeverityHigh}, s)
}

// playbook runs every stage of pb in env and returns the remediation
// results of its actions, for a use step's output, and an error when the
// playbook failed: a step failed with on_error fail.
func (s *simulation) playbook(pb *Playbook, env *Env) ([]ActionOutput, error) {
	env = &Env{Incident: env.Incident, Alerts: env.Alerts, Devices: env.Devices, Users: env.Users, Mailboxes: env.Mailboxes,
		Files: env.Files, Processes: env.Processes, IPs: env.IPs, URLs: env.URLs, Messages: env.Messages,
		OAuthApps: env.OAuthApps, Steps: map[string]StepOutput{}, inputs: env.inputs}
	var all []ActionOutput
	for _, stage := range Stages {
		for _, st := range pb.Steps(stage) {
			if st.Handler {
				continue
			}
			out, failed, err := s.step(st, env)
			env.Steps[st.ID] = out
			all = append(all, out.Results...)
			if err != nil {
				return all, err
			}
			if !failed {
				continue
			}
			switch st.OnError {
			case OnErrorContinue:
			case OnErrorFail:
				return all, fmt.Errorf("step %s failed: %s", st.ID, out.Error)
			default:
				h, _, err := s.step(pb.Step(st.OnError), WithError(env, st.ID, out.Error))
				all = append(all, h.Results...)
				if err != nil {
					return all, err
				}
			}
		}
	}
	return all, nil
}

// step runs one step. failed says the step failed: one of its actions
// failed, or for a use step, the sub-playbook failed. err is a playbook
// error (an expression that cannot be evaluated).
func (s *simulation) step(st *Step, env *Env) (StepOutput, bool, error) {
	invs, err := st.Expand(env)
	if err != nil {
		return StepOutput{}, false, err
	}
	var results []ActionOutput
	subFailed := ""
	for _, inv := range invs {
		if st.Use != "" {
			raw, _ := json.Marshal(inv.Args) // as the workflow records them
			var args map[string]any
			if err := json.Unmarshal(raw, &args); err != nil {
				return StepOutput{}, false, err
			}
			res, err := s.playbook(st.Callee, WithInputs(env, args))
			results = append(results, res...)
			if err != nil && subFailed == "" {
				subFailed = err.Error()
			}
			continue
		}
		switch {
		case strings.HasSuffix(st.Action, ".analyze"):
			// What the case's vendors answer becomes facts of the entity.
			var facts []domain.Fact
			for kind, raw := range s.tc.Entities[inv.Target].Vendor {
				facts = append(facts, domain.Fact{Entity: inv.Target, Kind: kind, Value: domain.RawJSON(raw), Source: "test"})
			}
			AddFacts(env, facts)
		case actions.IsVerdict(st.Action):
			v, _ := inv.Args["verdict"].(string)
			SetVerdict(env, inv.Target, domain.Verdict(v))
			e := s.entities[inv.Target]
			e.Verdict = domain.Verdict(v)
			s.entities[inv.Target] = e
		}
		results = append(results, s.invoke(st, inv))
	}
	out := Summarize(results)
	if st.Use != "" {
		if subFailed != "" {
			out.Error = subFailed
		}
		return out, subFailed != "", nil
	}
	return out, out.Failed > 0, nil
}

func (s *simulation) invoke(st *Step, inv Invocation) ActionOutput {
	res := ActionOutput{Target: string(inv.Target), TargetName: inv.TargetName}
	if !st.Spec.Remediation {
		switch st.Action {
		case "incident.tag":
			for _, tag := range inv.Args["tags"].([]any) {
				s.tags = append(s.tags, tag.(string))
			}
		case "incident.comment":
			s.comments = append(s.comments, inv.Args["text"].(string))
		}
		res.Status = string(domain.ActionSucceeded)
		return res
	}
	target := s.entities[inv.Target]
	d := policy.Decide(s.settings, policy.Input{ActionType: st.Action, Approval: st.Approval, Verdict: target.Verdict,
		DeviceGroup: target.Attrs["deviceGroup"], FilePath: target.Attrs["filePath"], EntityTags: target.Tags,
		Incident: st.Spec.CaseAction()})
	if d.Outcome == policy.Skip {
		res.Status = InvocationSkipped
		return res
	}
	a := simAction{typ: st.Action, target: string(inv.Target), run: RunAuto, reason: d.Reason}
	if d.Outcome == policy.Wait {
		a.run = RunWait
		a.status = string(domain.ActionExpired)
		switch s.tc.Pending {
		case PendingApprove:
			a.status = string(domain.ActionApproved)
		case PendingReject:
			a.status = string(domain.ActionRejected)
		}
		for _, dec := range s.tc.Decisions {
			if dec.Action == st.Action && (dec.Target == "" || dec.Target == inv.Target) {
				a.status = string(domain.ActionRejected)
				if dec.Decision == domain.DecisionApprove {
					a.status = string(domain.ActionApproved)
				}
				break
			}
		}
	}
	if a.status == "" || a.status == string(domain.ActionApproved) {
		a.status = string(domain.ActionSucceeded)
		for _, r := range s.tc.Results {
			if r.Action == st.Action && (r.Target == "" || r.Target == inv.Target) {
				if r.Failed() {
					a.status, res.Error = string(domain.ActionFailed), r.Error
				}
				break
			}
		}
	}
	s.actions = append(s.actions, a)
	res.Status = a.status
	if a.status == string(domain.ActionSucceeded) && st.Spec.CaseAction() {
		s.applyCase(st.Action, inv.Args)
	}
	return res
}

// applyCase changes the simulated incident as a case action that ran
// does (internal/caseaction).
func (s *simulation) applyCase(typ string, args map[string]any) {
	str := func(k string) string { v, _ := args[k].(string); return v }
	switch typ {
	case "incident.set_severity":
		s.incident["severity"] = str("severity")
	case "incident.assign":
		s.incident["assignedTo"] = str("assignedTo")
	case "incident.classify", "incident.resolve":
		if typ == "incident.resolve" {
			if s.incident["status"] == string(domain.IncidentResolved) {
				return
			}
			s.incident["status"] = string(domain.IncidentResolved)
		}
		c, d, _ := domain.CheckClassification(str("classification"), str("determination"))
		s.incident["classification"], s.incident["determination"] = c, d
	}
}

func (s *simulation) check() {
	t, want := s.t, s.tc.Expect
	state := domain.InvestigationBenign
	for _, a := range s.actions {
		if spec, _ := actions.Lookup(a.typ); spec.CaseAction() {
			continue // no remediation: it does not count
		}
		if state == domain.InvestigationBenign {
			state = domain.InvestigationSuccessfullyRemediated
		}
		if a.status != string(domain.ActionSucceeded) {
			state = domain.InvestigationPartiallyRemediated
		}
	}
	// As the workflow's finalState: no remediation is benign only when no
	// malicious evidence is left uncontained.
	if state == domain.InvestigationBenign && len(s.malicious) > 0 {
		state = domain.InvestigationPartiallyRemediated
	}
	if want.State != "" && state != want.State {
		t.Errorf("state = %s, want %s", state, want.State)
	}
	for k, v := range want.Incident {
		if s.incident[k] != v {
			t.Errorf("incident.%s = %q, want %q", k, s.incident[k], v)
		}
	}
	for _, tag := range want.Tags {
		if !slices.Contains(s.tags, tag) {
			t.Errorf("tags %q lack %q", s.tags, tag)
		}
	}
	for _, c := range want.Comments {
		if !slices.ContainsFunc(s.comments, func(got string) bool { return strings.Contains(got, c) }) {
			t.Errorf("no comment contains %q; comments: %q", c, s.comments)
		}
	}
	for _, tag := range want.Not.Tags {
		if slices.Contains(s.tags, tag) {
			t.Errorf("not.tags: tags %q hold %q", s.tags, tag)
		}
	}
	for _, c := range want.Not.Comments {
		if slices.ContainsFunc(s.comments, func(got string) bool { return strings.Contains(got, c) }) {
			t.Errorf("not.comments: a comment contains %q; comments: %q", c, s.comments)
		}
	}
	for _, w := range want.Not.Actions {
		for _, a := range s.actions {
			if a.typ == w.Type && (w.Target == "" || a.target == string(w.Target)) {
				t.Errorf("line %d: not expected, but %+v", w.Line, a)
			}
		}
	}
	if want.Actions == nil {
		return
	}
	left := slices.Clone(s.actions)
	for _, w := range want.Actions {
		i := slices.IndexFunc(left, func(a simAction) bool {
			return a.typ == w.Type && (w.Target == "" || a.target == string(w.Target)) && (w.Run == "" || a.run == w.Run) &&
				strings.Contains(a.reason, w.Reason) && (w.Status == "" || a.status == string(w.Status))
		})
		if i < 0 {
			t.Errorf("line %d: no action %+v among %+v", w.Line, w, left)
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	for _, a := range left {
		t.Errorf("unexpected action %+v", a)
	}
}

// TestSampleAlertPlan pins what the shipped playbooks propose for the
// walkthrough's sample alert (internal/graph/testdata/sample-alert.json):
// the end-to-end test and the README depend on it.
func TestSampleAlertPlan(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	pbs, err := LoadDir(shippedDir)
	if err != nil {
		t.Fatal(err)
	}
	tc := &TestCase{Alerts: []json.RawMessage{raw}}
	a, err := graph.DecodeAlert(raw)
	if err != nil {
		t.Fatal(err)
	}
	var entities []domain.Entity
	for _, ev := range a.Evidence {
		if ev.Entity != nil {
			entities = append(entities, *ev.Entity)
		}
	}
	env := NewEnv(domain.Incident{ID: 1, Severity: a.Severity, AlertCount: 1}, []domain.Alert{*a}, entities)
	selected, err := Select(pbs, env)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pb := range selected {
		names = append(names, pb.Name)
	}
	// analyze-evidence runs beside: the alert has a file.
	if want := []string{"analyze-evidence", "device-compromise"}; !slices.Equal(names, want) {
		t.Fatalf("Select = %v, want %v", names, want)
	}
	s := &simulation{t: t, tc: tc, entities: map[domain.EntityKey]domain.Entity{}}
	for _, e := range entities {
		s.entities[e.Key] = e
	}
	if _, err := s.playbook(selected[1], env); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range s.actions {
		got = append(got, a.typ+" "+a.target)
	}
	want := []string{
		"device.isolate device:2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9",
		"file.stop_and_quarantine file:4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sample alert actions:\ngot  %q\nwant %q", got, want)
	}
}

// BenchmarkLoadShipped measures loading the shipped directory as the worker
// does at start: parse, check, compile and link every playbook.
func BenchmarkLoadShipped(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadDir(shippedDir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpandSubPlaybook measures a use step and one step of its
// sub-playbook: the reflect-built environment a sub-playbook's
// expressions need costs this much per invocation.
func BenchmarkExpandSubPlaybook(b *testing.B) {
	pbs, err := LoadDir(shippedDir)
	if err != nil {
		b.Fatal(err)
	}
	var dc *Playbook
	for _, pb := range pbs {
		if pb.Name == "device-compromise" {
			dc = pb
		}
	}
	use := dc.Step("contain")
	isolate := use.Callee.Step("isolate")
	env := NewEnv(snapshot())
	b.ReportAllocs()
	for b.Loop() {
		invs, err := use.Expand(env)
		if err != nil || len(invs) != 1 {
			b.Fatalf("use: %v, %v", invs, err)
		}
		if _, err := isolate.Expand(WithInputs(env, invs[0].Args)); err != nil {
			b.Fatal(err)
		}
	}
}

// asksPeople reports whether the playbook, or a sub-playbook it uses, has
// an ask or a wait step.
func asksPeople(pb *Playbook) bool {
	for _, steps := range pb.Stages {
		for _, st := range steps {
			if st.Ask != nil || st.Wait != nil || (st.Callee != nil && asksPeople(st.Callee)) {
				return true
			}
		}
	}
	return false
}

// TestShippedPlaybooksNeedNoLabOnlyTypes: every remediation a shipped
// playbook runs can be carried out by a vendor connector, not only by the
// lab tenant or a webhook to the SOC's own automation (issue #18: a
// shipped playbook must work in a tenant with vendor connectors alone).
// Undos are not playbook steps: file.release_quarantine and
// persistence.restore stay lab/webhook-only because no vendor API
// restores what Defender for Endpoint quarantined or removed
// (docs/connectors.md, "Known limits").
func TestShippedPlaybooksNeedNoLabOnlyTypes(t *testing.T) {
	t.Parallel()
	pbs, err := LoadDir(shippedDir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	checked := 0
	for _, pb := range pbs {
		for _, steps := range pb.Stages {
			for _, st := range steps {
				if st.Spec == nil || !st.Spec.Remediation || st.Spec.CaseAction() {
					continue
				}
				checked++
				vendors := slices.DeleteFunc(slices.Clone(st.Spec.Connectors), func(k string) bool {
					return k == actions.Lab || k == actions.Webhook
				})
				if len(vendors) == 0 {
					t.Errorf("%s step %s: %s is carried only by %s; give it a vendor connector or drop it from the shipped playbook",
						pb.Name, st.ID, st.Action, strings.Join(st.Spec.Connectors, ", "))
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no remediation steps found in the shipped playbooks")
	}
}
