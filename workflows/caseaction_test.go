package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/caseaction"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// triageFP is a playbook that lowers the severity of an incident whose
// device came back clean and closes it as a false positive unless the
// tenant switched that off; it isolates a malicious device when
// containHosts.
const triageFP = `name: triage-fp
version: 1
inputs:
  closeFalsePositives: {type: bool, default: true, description: resolve incidents whose evidence is all clean}
  containHosts: {type: bool, default: true}
stages:
  triage:
    - id: lower
      when: all(devices, {.verdict == "noThreatsFound"})
      action: incident.set_severity
      with: {severity: low}
  containment:
    - id: isolate
      for_each: filter(devices, {.verdict == "malicious"})
      when: inputs.containHosts
      action: device.isolate
  review:
    - id: close
      when: inputs.closeFalsePositives and all(devices, {.verdict == "noThreatsFound"})
      action: incident.resolve
      with: {classification: falsePositive, determination: notMalicious, comment: "every device came back clean"}
`

// caseFixture is the incident fixture with triageFP as the only playbook,
// run through the real connector router with AIR's case-action executor
// and the lab tenant, under the given automation settings.
func caseFixture(t *testing.T, verdict domain.Verdict, settings policy.Settings, exec func(remediation.Executor) remediation.Executor) *fixture {
	t.Helper()
	f := newFixture(t, verdict)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "triage-fp.yaml"), []byte(triageFP), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutSetting(context.Background(), activities.SettingsKey, settings, "test"); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sources []activities.PlaybookSource
	for _, b := range books {
		sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
	}
	var cases remediation.Executor = &caseaction.Executor{Store: f.store}
	if exec != nil {
		cases = exec(cases)
	}
	own := map[string]remediation.Executor{}
	for _, typ := range caseaction.Types() {
		own[typ] = cases
	}
	router, err := connector.NewRouter(context.Background(), connector.Config{}, connector.Deps{Store: f.store, AIR: own})
	if err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	suite.SetLogger(logging.NewTemporal(log))
	f.env = suite.NewTestWorkflowEnvironment()
	f.env.SetWorkerOptions(WorkerOptions)
	f.env.RegisterWorkflow(IncidentWorkflow)
	f.env.RegisterActivity(&activities.Activities{Store: f.store, Executor: router, Playbooks: sources, Log: log})
	return f
}

func (f *fixture) actionByType(typ string) *domain.Action {
	f.t.Helper()
	acts, err := f.store.ListActions(context.Background(), store.ActionFilter{IncidentID: f.incident})
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range acts {
		if acts[i].Type == typ {
			return &acts[i]
		}
	}
	return nil
}

func (f *fixture) incidentNow() *domain.Incident {
	f.t.Helper()
	inc, err := f.store.GetIncident(context.Background(), f.incident)
	if err != nil {
		f.t.Fatal(err)
	}
	return inc
}

// TestCaseActionUnderFullRuns: under full automation the playbook's case
// actions run on their own, through AIR's connector, and change the
// incident as the playbook; a clean incident is resolved as a false
// positive, which ends the investigation benign (case actions remediate
// nothing), with the resolve in the changes the review reads.
func TestCaseActionUnderFullRuns(t *testing.T) {
	f := caseFixture(t, domain.VerdictNoThreatsFound, policy.Settings{Default: policy.Full}, nil)
	st := f.run()
	if st.Investigation != domain.InvestigationBenign {
		t.Errorf("investigation %s (%s), want benign", st.Investigation, st.Error)
	}
	lower, closing := f.actionByType("incident.set_severity"), f.actionByType("incident.resolve")
	if lower == nil || closing == nil {
		t.Fatalf("actions: severity %+v, resolve %+v", lower, closing)
	}
	for _, a := range []*domain.Action{lower, closing} {
		if a.Status != domain.ActionSucceeded || a.DecidedBy != domain.PolicyActor || a.Connector != "air" ||
			a.TargetKey != domain.IncidentTarget(f.incident) || !strings.Contains(a.Reason, "actions on the incident run automatically") {
			t.Errorf("%s: %+v", a.Type, a)
		}
	}
	inc := f.incidentNow()
	if inc.Severity != domain.SeverityLow || inc.Status != domain.IncidentResolved || inc.Classification != "falsePositive" ||
		inc.ResolvingComment != "every device came back clean" || inc.LastModifiedBy != "system:playbook:triage-fp" {
		t.Errorf("incident: %+v", inc)
	}
	if !slices.ContainsFunc(st.Changes, func(c ChangeRecord) bool {
		return c.Field == FieldStatus && c.To == "resolved" && c.By == "system:playbook:triage-fp"
	}) {
		t.Errorf("changes: %+v, want the playbook's resolve", st.Changes)
	}
}

// TestCaseActionUnderSemiWaits: under semi-all a case action waits in the
// action center like a remediation; approved it applies, rejected it
// does not.
func TestCaseActionUnderSemiWaits(t *testing.T) {
	for _, decision := range []domain.Decision{domain.DecisionApprove, domain.DecisionReject} {
		t.Run(string(decision), func(t *testing.T) {
			f := caseFixture(t, domain.VerdictNoThreatsFound, policy.Settings{Default: policy.SemiAll}, nil)
			f.env.RegisterDelayedCallback(func() {
				a := f.pendingAction()
				if a.Type != "incident.set_severity" || !strings.Contains(a.Reason, "actions on the incident wait for approval") {
					t.Errorf("pending: %+v", a)
				}
				if f.incidentNow().Severity != domain.SeverityHigh {
					t.Error("the severity changed before anyone approved")
				}
				f.decide(DecideRequest{ActionID: a.ID, Decision: decision, By: "ana", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("%s: %v", decision, err)
					}
				})
			}, time.Hour)
			f.env.RegisterDelayedCallback(func() {
				a := f.pendingAction()
				if a.Type != "incident.resolve" {
					t.Errorf("second pending: %s", a.Type)
				}
				f.decide(DecideRequest{ActionID: a.ID, Decision: decision, By: "ana", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("%s: %v", decision, err)
					}
				})
			}, 2*time.Hour)
			st := f.run()
			inc := f.incidentNow()
			if decision == domain.DecisionApprove {
				if inc.Severity != domain.SeverityLow || inc.Status != domain.IncidentResolved || st.Investigation != domain.InvestigationBenign {
					t.Errorf("approved: severity %s, status %s, investigation %s", inc.Severity, inc.Status, st.Investigation)
				}
				return
			}
			if inc.Severity != domain.SeverityHigh {
				t.Errorf("rejected, yet the severity is %s", inc.Severity)
			}
			if inc.Status == domain.IncidentResolved || f.actionByType("incident.resolve").Status != domain.ActionRejected {
				t.Errorf("rejected resolve: incident %s, action %+v", inc.Status, f.actionByType("incident.resolve"))
			}
		})
	}
}

// crashAfter applies a case action and then fails the attempt as a worker
// crash would, before the result is recorded: the retry must find the
// action applied, not apply it again.
type crashAfter struct {
	next  remediation.Executor
	mu    sync.Mutex
	calls int
}

func (c *crashAfter) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	res, err := c.next.Execute(ctx, req)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if err == nil && req.Type == "incident.resolve" && c.calls <= 2 {
		return remediation.Result{}, errors.New("worker lost before the result was recorded")
	}
	return res, err
}

// TestResolveIsIdempotentOnRetry: the first attempt resolves and is lost;
// the retry reports the recorded result and changes nothing — one
// resolution in the activity log.
func TestResolveIsIdempotentOnRetry(t *testing.T) {
	var crash *crashAfter
	f := caseFixture(t, domain.VerdictNoThreatsFound, policy.Settings{Default: policy.Full}, func(next remediation.Executor) remediation.Executor {
		crash = &crashAfter{next: next}
		return crash
	})
	st := f.run()
	a := f.actionByType("incident.resolve")
	if a == nil || a.Status != domain.ActionSucceeded || a.Result != "resolved as falsePositive (notMalicious)" || st.Investigation != domain.InvestigationBenign {
		t.Fatalf("resolve after a lost attempt: %+v, investigation %s", a, st.Investigation)
	}
	log, err := f.store.IncidentActivity(context.Background(), f.incident)
	if err != nil {
		t.Fatal(err)
	}
	resolutions := 0
	for _, e := range log {
		if e.Verb == "incident.status" && e.After == "resolved" {
			resolutions++
		}
	}
	if resolutions != 1 || crash.calls < 3 {
		t.Errorf("resolved %d times over %d attempts, want once over at least 3", resolutions, crash.calls)
	}
}

// TestTenantInputsSwitchSteps: a tenant that sets containHosts: false gets
// no isolation, without editing the playbook; the default isolates. The
// values reach the workflow in its snapshot, so the run's history has them.
func TestTenantInputsSwitchSteps(t *testing.T) {
	for _, contain := range []bool{true, false} {
		f := caseFixture(t, domain.VerdictMalicious, policy.Settings{Default: policy.Full}, nil)
		if !contain {
			if err := f.store.PutSetting(context.Background(), activities.InputsKeyPrefix+"triage-fp",
				map[string]any{"containHosts": false}, "admin"); err != nil {
				t.Fatal(err)
			}
		}
		st := f.run()
		if got := f.actionByType("device.isolate") != nil; got != contain {
			t.Errorf("containHosts %v: isolation proposed %v (state %+v)", contain, got, st.Steps)
		}
		if got := f.labIsolated(); got != contain {
			t.Errorf("containHosts %v: device isolated %v", contain, got)
		}
		if f.incidentNow().Status == domain.IncidentResolved {
			t.Errorf("containHosts %v: a malicious incident was resolved as a false positive", contain)
		}
	}
}

// TestManualCaseActionRefused: an analyst changes the incident by hand,
// not by asking for a case action: the request Update's validator refuses
// it, naming the way.
func TestManualCaseActionRefused(t *testing.T) {
	f := caseFixture(t, domain.VerdictMalicious, policy.Settings{}, nil) // the isolation waits: the run is alive
	refused := false
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(UpdateRequest, "req-case", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("a manual incident.resolve was accepted") },
			OnReject: func(err error) {
				refused = refusal(err, ErrInvalid) && strings.Contains(err.Error(), "PATCH /api/v1/incidents/{id}")
			},
			OnComplete: func(any, error) {},
		}, ManualRequest{Type: "incident.resolve", Target: domain.IncidentTarget(f.incident),
			Params: []byte(`{"classification":"falsePositive","determination":"other"}`), By: "ana", Role: domain.RoleResponder})
	}, time.Hour)
	f.run()
	if !refused {
		t.Error("the manual case action was not refused as invalid, naming the manage path")
	}
}
