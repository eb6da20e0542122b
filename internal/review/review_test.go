package review

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func payloads(t *testing.T, v any) *commonpb.Payloads {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run builds one run's history from events given as (offset, attributes).
type run struct {
	t      *testing.T
	events []*historypb.HistoryEvent
}

func (r *run) add(at time.Duration, typ enumspb.EventType, set func(*historypb.HistoryEvent)) int64 {
	ev := &historypb.HistoryEvent{EventId: int64(len(r.events) + 1), EventTime: timestamppb.New(t0.Add(at)), EventType: typ}
	set(ev)
	r.events = append(r.events, ev)
	return ev.EventId
}

func (r *run) started(at time.Duration, in workflows.IncidentInput) {
	r.add(at, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: payloads(r.t, in)}}
	})
}

func (r *run) changed(at time.Duration, ch workflows.IncidentChange) {
	r.add(at, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{
			WorkflowExecutionSignaledEventAttributes: &historypb.WorkflowExecutionSignaledEventAttributes{
				SignalName: workflows.SignalIncidentChanged, Input: payloads(r.t, ch)}}
	})
}

func (r *run) decided(at time.Duration, req workflows.DecideRequest) {
	r.add(at, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionUpdateAcceptedEventAttributes{
			WorkflowExecutionUpdateAcceptedEventAttributes: &historypb.WorkflowExecutionUpdateAcceptedEventAttributes{
				AcceptedRequest: &updatepb.Request{Input: &updatepb.Input{Name: workflows.UpdateDecide, Args: payloads(r.t, req)}}}}
	})
}

func (r *run) executed(scheduled, completed time.Duration, req remediation.Request) {
	id := r.add(scheduled, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: "ExecuteAction"}, Input: payloads(r.t, req)}}
	})
	r.add(completed, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: id}}
	})
}

func (r *run) completed(at time.Duration, st workflows.State) {
	r.add(at, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
			WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: payloads(r.t, st)}}
	})
}

func ptr(d time.Duration) *time.Time { v := t0.Add(d); return &v }

// facts is a resolved incident: an isolation ana approved ten minutes in,
// the incident marked in progress five minutes in and resolved an hour
// in, each in the activity log as the store writes it.
func facts(t *testing.T) *Facts {
	t.Helper()
	id := int64(7)
	iso := domain.Action{ID: "iso", IncidentID: id, Type: "device.isolate", TargetKey: "device:ws", TargetName: "ws-042",
		Source: domain.SourceAutomated, Playbook: "device-compromise", Status: domain.ActionSucceeded, Reason: "semi-all",
		DecidedBy: "ana", DecidedAt: ptr(10 * time.Minute), CreatedAt: t0.Add(time.Minute),
		StartedAt: ptr(10 * time.Minute), FinishedAt: ptr(11 * time.Minute), Result: "isolated"}
	first := t0.Add(-time.Hour)
	return &Facts{
		Incident: domain.Incident{ID: id, Status: domain.IncidentResolved, CreatedDateTime: t0.Add(-time.Second)},
		Alerts: []domain.Alert{
			{ID: "a2", Title: "Credential theft", Severity: domain.SeverityHigh, Category: "CredentialAccess",
				MitreTechniques: []string{"T1003.001"}, CreatedDateTime: t0},
			{ID: "a1", Title: "Phish", Severity: domain.SeverityMedium, Category: "InitialAccess",
				MitreTechniques: []string{"T1566", "T1003.001"}, CreatedDateTime: t0, FirstActivityDateTime: &first},
			{ID: "a3", Title: "Malware", Severity: domain.SeverityLow, Category: "Malware", CreatedDateTime: t0},
		},
		Actions: []domain.Action{iso},
		Activity: []records.AuditEntry{
			{ID: 1, At: t0.Add(time.Minute), Actor: "system:playbook:device-compromise", Verb: "action.created", Object: "action:iso"},
			{ID: 2, At: t0.Add(5*time.Minute - time.Millisecond), Actor: "ana", Verb: "incident.status", Before: "active", After: "inProgress"},
			{ID: 3, At: t0.Add(10 * time.Minute), Actor: "ana", Verb: "action.status", Object: "action:iso", Before: "pending", After: "approved"},
			{ID: 4, At: t0.Add(11 * time.Minute), Actor: "system:investigation", Verb: "action.status", Object: "action:iso", Before: "running", After: "succeeded"},
			{ID: 5, At: t0.Add(time.Hour - time.Millisecond), Actor: "ana", Verb: "incident.status", Before: "inProgress", After: "resolved"},
		},
	}
}

func histories(t *testing.T) [][]*historypb.HistoryEvent {
	inv := &run{t: t}
	inv.started(0, workflows.IncidentInput{IncidentID: 7})
	inv.changed(5*time.Minute, workflows.IncidentChange{Field: "status", From: "active", To: "inProgress", By: "ana"})
	inv.decided(10*time.Minute, workflows.DecideRequest{ActionID: "iso", Decision: domain.DecisionApprove, By: "ana"})
	inv.executed(10*time.Minute, 11*time.Minute, remediation.Request{ActionID: "iso", Type: "device.isolate", TargetName: "ws-042"})
	inv.completed(12*time.Minute, workflows.State{Investigation: domain.InvestigationSuccessfullyRemediated, Steps: []workflows.StepRecord{
		{Playbook: "device-compromise", Stage: "triage", Step: "tag", Outcome: "done", At: t0.Add(time.Second)},
		{Playbook: "device-compromise", Stage: "containment", Step: "isolate", Outcome: "action iso: pending", At: t0.Add(time.Minute)},
	}})
	change := &run{t: t}
	change.started(time.Hour, workflows.IncidentInput{IncidentID: 7, ChangeOnly: true})
	change.changed(time.Hour, workflows.IncidentChange{Field: "status", From: "inProgress", To: "resolved", By: "ana"})
	change.completed(time.Hour, workflows.State{ChangeOnly: true})
	return [][]*historypb.HistoryEvent{inv.events, change.events}
}

func TestMilestonesFromHistory(t *testing.T) {
	f := facts(t)
	f.Runs = histories(t)
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  *Milestone
		want time.Duration
		what string
	}{
		{"start", &r.InvestigationStarted, 0, "investigation started"},
		{"acknowledge", r.TimeToAcknowledge, 5 * time.Minute, "status active → inProgress"},
		{"contain", r.TimeToContain, 11 * time.Minute, "device.isolate on ws-042 succeeded (action iso)"},
		{"resolve", r.TimeToResolve, time.Hour, "status inProgress → resolved"},
	}
	for _, tt := range tests {
		if tt.got == nil {
			t.Errorf("%s: missing", tt.name)
			continue
		}
		if tt.got.Source != FromHistory || tt.got.Seconds != tt.want.Seconds() || tt.got.What != tt.what || tt.got.Duration != tt.want.String() {
			t.Errorf("%s: got %+v, want %v (%q) from the history", tt.name, tt.got, tt.want, tt.what)
		}
	}
	if len(r.Notes) != 0 || r.Runs != 2 {
		t.Errorf("notes %q, runs %d", r.Notes, r.Runs)
	}
	// The two status changes are in the history and in the activity log:
	// each is listed once, from the history; the approval from the
	// action's record.
	var sources []Source
	for _, d := range r.Decisions {
		sources = append(sources, d.Source)
	}
	if len(r.Decisions) != 3 || r.Decisions[0].Source != FromHistory || r.Decisions[1].Source != FromActions || r.Decisions[2].Source != FromHistory {
		t.Errorf("decisions from %v: %+v", sources, r.Decisions)
	}
	counts := map[string]int{}
	for _, e := range r.Timeline {
		counts[e.Kind]++
	}
	want := map[string]int{KindAlert: 3, KindInvestigation: 2, KindStage: 2, KindStep: 2, KindAction: 3, KindDecision: 1, KindChange: 2}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("timeline %s entries: %d, want %d (%v)", k, counts[k], n, counts)
		}
	}
	if r.Timeline[0].Ref != "a1" {
		t.Errorf("timeline starts with %+v, want the phish's first activity", r.Timeline[0])
	}
	// Kill-chain order, then the categories that are no tactic.
	if len(r.Tactics) != 3 || r.Tactics[0].ID != "TA0001" || r.Tactics[1].ID != "TA0006" || r.Tactics[2].Name != "Malware" || r.Tactics[2].ID != "" {
		t.Errorf("tactics: %+v", r.Tactics)
	}
	if len(r.Techniques) != 2 || !reflect.DeepEqual(r.Techniques[0], Technique{ID: "T1003.001", Alerts: 2}) {
		t.Errorf("techniques: %+v", r.Techniques)
	}
}

// TestMilestonesFallBackToTheActivityLog: without the history, every
// figure comes from the activity log or the incident, and the report says
// so.
func TestMilestonesFallBackToTheActivityLog(t *testing.T) {
	f := facts(t)
	f.HistoryErr = domain.Errorf(domain.KindNotFound, "no investigation history for incident 7")
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.InvestigationStarted.Source != FromIncident || !r.InvestigationStarted.At.Equal(t0.Add(-time.Second)) {
		t.Errorf("start: %+v", r.InvestigationStarted)
	}
	for name, m := range map[string]*Milestone{"acknowledge": r.TimeToAcknowledge, "contain": r.TimeToContain, "resolve": r.TimeToResolve} {
		if m == nil || m.Source != FromActivityLog {
			t.Errorf("%s: %+v, want it from the activity log", name, m)
		}
	}
	if got := r.TimeToContain.At; !got.Equal(t0.Add(11 * time.Minute)) {
		t.Errorf("contained at %v", got)
	}
	if len(r.Notes) < 4 {
		t.Errorf("notes: %q, want one per figure and the history's error", r.Notes)
	}
}

// TestAcknowledgementByACommentFirst: a touch the API does not signal (a
// comment) that came before the first signalled one acknowledges.
func TestAcknowledgementByACommentFirst(t *testing.T) {
	f := facts(t)
	f.Runs = histories(t)
	f.Activity = append([]records.AuditEntry{{ID: 0, At: t0.Add(2 * time.Minute), Actor: "cy", Verb: "incident.comment", After: "looking"}}, f.Activity...)
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a := r.TimeToAcknowledge; a == nil || a.By != "cy" || a.Source != FromActivityLog || a.Seconds != 120 {
		t.Errorf("acknowledged: %+v, want cy's comment", a)
	}
	if r.TimeToResolve.Source != FromHistory {
		t.Errorf("resolved: %+v", r.TimeToResolve)
	}
}

// TestFailedSignalFallsBack: a resolution whose signal failed is in the
// activity log only, later than anything the history has: it counts.
func TestFailedSignalFallsBack(t *testing.T) {
	f := facts(t)
	f.Runs = histories(t)[:1] // the change-only run never started
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m := r.TimeToResolve; m == nil || m.Source != FromActivityLog || m.By != "ana" || !m.At.Equal(t0.Add(time.Hour-time.Millisecond)) {
		t.Errorf("resolved: %+v", m)
	}
	if r.TimeToAcknowledge.Source != FromHistory || len(r.Notes) != 1 {
		t.Errorf("acknowledged %+v, notes %q", r.TimeToAcknowledge, r.Notes)
	}
}

func TestOnlyResolvedIncidents(t *testing.T) {
	f := facts(t)
	f.Incident.Status = domain.IncidentInProgress
	if _, err := Build(f, t0); domain.KindOf(err) != domain.KindConflict {
		t.Errorf("got %v, want a conflict", err)
	}
}

func TestSummarise(t *testing.T) {
	s := Summarise([]float64{30, 10, 20, 40, 1000, 50, 60, 70, 80, 90})
	if s.Count != 10 || s.MeanSeconds != 145 || s.P50Seconds != 50 || s.P90Seconds != 90 || s.Mean != "2m25s" {
		t.Errorf("got %+v", s)
	}
	if s := Summarise(nil); s.Count != 0 || s.Mean != "" {
		t.Errorf("empty: %+v", s)
	}
	b := buckets([]float64{0, 60, 61, 7 * 86400, 7*86400 + 1})
	if b[0].Count != 2 || b[1].Count != 1 || b[8].Count != 1 || b[9].Count != 1 || b[9].Label != "> 7d" || b[3].Label != "≤ 1h" {
		t.Errorf("buckets: %+v", b)
	}
}

// TestScopedReaderSeesNoHiddenAction: for a reader scoped away from the
// isolated device, the history's decision, execution and step about that
// action say nothing: acknowledgement comes from the status change,
// containment is not reached, and no step names the action.
func TestScopedReaderSeesNoHiddenAction(t *testing.T) {
	f := facts(t)
	f.Runs = histories(t)
	f.Actions, f.Scoped = nil, true
	f.Activity = store.WithoutHiddenActions(f.Activity, f.Actions)
	inv := &run{t: t}
	inv.started(0, workflows.IncidentInput{IncidentID: 7})
	inv.decided(2*time.Minute, workflows.DecideRequest{ActionID: "iso", Decision: domain.DecisionApprove, By: "ana"})
	inv.executed(2*time.Minute, 3*time.Minute, remediation.Request{ActionID: "iso", Type: "device.isolate", TargetName: "ws-042"})
	inv.changed(5*time.Minute, workflows.IncidentChange{Field: "status", From: "active", To: "inProgress", By: "ana"})
	inv.completed(12*time.Minute, workflows.State{Investigation: domain.InvestigationSuccessfullyRemediated, Steps: []workflows.StepRecord{
		{Playbook: "device-compromise", Stage: "containment", Step: "isolate", Outcome: "action iso: pending", At: t0.Add(time.Minute)},
		{Playbook: "device-compromise", Stage: "containment", Step: "isolate2", Outcome: "covered by …", ActionID: "iso", At: t0.Add(time.Minute)},
	}})
	f.Runs[0] = inv.events
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.TimeToAcknowledge == nil || r.TimeToAcknowledge.What != "status active → inProgress" {
		t.Errorf("acknowledge: %+v; want the status change, not the decision on a hidden action", r.TimeToAcknowledge)
	}
	if r.TimeToContain != nil {
		t.Errorf("contain: %+v; want none: the reader may not see the isolation", r.TimeToContain)
	}
	for _, e := range r.Timeline {
		if strings.Contains(e.What, "iso") || strings.Contains(e.Ref, "iso") {
			t.Errorf("timeline names the hidden action: %+v", e)
		}
	}
}

// TestPartHistoryIsUsedAndSaid: when only some runs could be read, the
// report uses them and says the history was read in part.
func TestPartHistoryIsUsedAndSaid(t *testing.T) {
	f := facts(t)
	f.Runs = histories(t)[:1]
	f.HistoryErr = errors.New("read the first 1 runs only (200000 events, the limit): the 1 later runs are left out")
	r, err := Build(f, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.TimeToContain == nil || r.TimeToContain.Source != FromHistory {
		t.Errorf("contain: %+v; want it from the run that was read", r.TimeToContain)
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "workflow history read in part: ") }) {
		t.Errorf("notes: %q; want the partial read said", r.Notes)
	}
}

func TestReviewDescribesTacticsAndTechniquesFromATTACK(t *testing.T) {
	f := facts(t)
	f.Attack = &store.Attack{
		Tactics: map[string]intel.Tactic{"TA0006": {ID: "TA0006", Name: "Credential Access", Description: "The adversary is trying to steal account names and passwords."}},
		Techniques: map[string]intel.Technique{
			"T1003": {ID: "T1003", Name: "OS Credential Dumping", Description: "Adversaries may attempt to dump credentials.",
				Mitigations: []intel.Mitigation{{ID: "M1043", Name: "Credential Access Protection", How: "Credential Guard"}}},
			"T1566": {ID: "T1566", Name: "Phishing"},
		},
	}
	r, err := Build(f, t0)
	if err != nil {
		t.Fatal(err)
	}
	var cred *Tactic
	for i := range r.Tactics {
		if r.Tactics[i].ID == "TA0006" {
			cred = &r.Tactics[i]
		}
	}
	if cred == nil || cred.Title != "Credential Access" || !strings.Contains(cred.Description, "steal account names") {
		t.Errorf("tactic TA0006 = %+v", cred)
	}
	byID := map[string]Technique{}
	for _, tq := range r.Techniques {
		byID[tq.ID] = tq
	}
	// T1003.001 is described by its parent, and says so.
	lsass := byID["T1003.001"]
	if lsass.Name != "OS Credential Dumping" || lsass.DescribedBy != "T1003" || len(lsass.Mitigations) != 1 ||
		lsass.Mitigations[0].Name != "Credential Access Protection" {
		t.Errorf("T1003.001 = %+v", lsass)
	}
	if byID["T1566"].Name != "Phishing" || byID["T1566"].DescribedBy != "" {
		t.Errorf("T1566 = %+v", byID["T1566"])
	}
}
