package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/engine"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/workflows"
)

// TestPostIncidentReview walks an incident from alert to resolution on the
// real service — ingest the sample alert, mark the incident in progress
// while the isolation waits, approve the isolation and the quarantine,
// then, with the investigation finished, reassign the incident and undo
// the isolation at once (the undo reaches the change-only run the
// reassignment starts, or a run of its own), and resolve — and checks that
// the review measures acknowledgement, containment and resolution on the
// workflow history, in order.
func TestPostIncidentReview(t *testing.T) {
	ctx := context.Background()
	temporalPort := nativestack.FreePort(t)
	c, dataDir := devService(t, Config{TemporalPort: temporalPort})
	hostPort := fmt.Sprintf("127.0.0.1:%d", temporalPort)
	var me auth.Principal
	c.do(t, "GET", "/api/v1/me", nil, &me)
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK || len(ing.Results) != 1 {
		t.Fatalf("ingest: HTTP %d %+v", code, ing)
	}
	incident := ing.Results[0].IncidentID
	inc := itoa(incident)
	pendingOf := func(typ string) *domain.Action {
		return waitFor(t, "a pending "+typ, func() (*domain.Action, bool) {
			var page struct{ Value []domain.Action }
			c.do(t, "GET", "/api/v1/actions?view=pending&incidentId="+inc, nil, &page)
			for _, a := range page.Value {
				if a.Type == typ {
					return &a, true
				}
			}
			return nil, false
		})
	}
	isolate := pendingOf("device.isolate")

	var e struct{ Error api.ErrorDetail }
	if code := c.do(t, "GET", "/api/v1/incidents/"+inc+"/review", nil, &e); code != http.StatusConflict {
		t.Errorf("review of an open incident: HTTP %d %+v, want 409", code, e)
	}
	patch := func(body string) {
		t.Helper()
		var out domain.Incident
		if code := c.do(t, "PATCH", "/api/v1/incidents/"+inc, []byte(body), &out); code != http.StatusOK {
			t.Fatalf("PATCH %s: HTTP %d %+v", body, code, out)
		}
	}
	patch(`{"status":"inProgress"}`) // the investigation is running: the signal lands in it
	if code := c.do(t, "POST", "/api/v1/actions/"+isolate.ID+"/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve isolation: HTTP %d", code)
	}
	quarantine := pendingOf("file.stop_and_quarantine")
	if code := c.do(t, "POST", "/api/v1/actions/"+quarantine.ID+"/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve quarantine: HTTP %d", code)
	}
	finished := func(what string) {
		waitFor(t, what, func() (struct{}, bool) {
			var d api.IncidentDetail
			c.do(t, "GET", "/api/v1/incidents/"+inc, nil, &d)
			return struct{}{}, d.Investigation != nil && d.Investigation.Investigation == domain.InvestigationSuccessfullyRemediated &&
				d.InvestigationState == domain.InvestigationSuccessfullyRemediated
		})
	}
	finished("successfullyRemediated")

	// The investigation has finished. A change by hand starts a
	// change-only run; an undo sent right behind it must be taken either
	// by that run or by one of its own, never left hanging.
	tc, err := client.Dial(client.Options{HostPort: hostPort})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	keys, err := msgauth.Load(filepath.Join(dataDir, "message-key"), false) // the dev service's key
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Client: tc, Keys: keys}
	if err := eng.IncidentChanged(ctx, incident, workflows.IncidentChange{Field: workflows.FieldAssignedTo, To: "bo", By: me.Name}); err != nil {
		t.Fatalf("signal change: %v", err)
	}
	undo, err := eng.Undo(ctx, incident, workflows.UndoRequest{ActionID: isolate.ID, By: me.Name, Role: domain.RoleAdmin, Comment: "false alarm after all"})
	if err != nil || undo.Type != "device.release" {
		t.Fatalf("undo right behind a change: %+v, %v", undo, err)
	}
	waitFor(t, "the release to succeed", func() (struct{}, bool) {
		var a domain.Action
		c.do(t, "GET", "/api/v1/actions/"+undo.ID, nil, &a)
		return struct{}{}, a.Status == domain.ActionSucceeded
	})
	finished("successfullyRemediated after the undo")

	patch(`{"status":"resolved","classification":"truePositive","determination":"malware","resolvingComment":"contained"}`)

	// The latest run only recorded the resolution: the incident page still
	// shows the investigation that ran.
	// (Visibility lists runs moments after they start: wait for it.)
	waitFor(t, "the investigation shown after the resolution", func() (struct{}, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+inc, nil, &d)
		st := d.Investigation
		return struct{}{}, d.Status == domain.IncidentResolved && st != nil && !st.ChangeOnly && len(st.Actions) == 3 && len(st.Steps) > 0 &&
			st.Investigation == domain.InvestigationSuccessfullyRemediated
	})

	var rep review.Report
	if code := c.do(t, "GET", "/api/v1/incidents/"+inc+"/review", nil, &rep); code != http.StatusOK {
		t.Fatalf("review: HTTP %d", code)
	}
	for name, m := range map[string]*review.Milestone{"start": &rep.InvestigationStarted, "acknowledge": rep.TimeToAcknowledge,
		"contain": rep.TimeToContain, "resolve": rep.TimeToResolve} {
		if m == nil || m.Source != review.FromHistory || m.At.IsZero() {
			t.Errorf("%s: %+v, want a time from the workflow history", name, m)
		}
	}
	if t.Failed() {
		t.Fatalf("notes: %q", rep.Notes)
	}
	tta, ttc, ttr := rep.TimeToAcknowledge, rep.TimeToContain, rep.TimeToResolve
	if !(tta.Seconds > 0 && tta.Seconds <= ttc.Seconds && ttc.Seconds <= ttr.Seconds) {
		t.Errorf("milestones out of order: acknowledge %v s, contain %v s, resolve %v s", tta.Seconds, ttc.Seconds, ttr.Seconds)
	}
	if tta.By != me.Name || !strings.Contains(tta.What, "inProgress") {
		t.Errorf("acknowledged: %+v, want the change to inProgress by %s", tta, me.Name)
	}
	if !strings.Contains(ttc.What, "device.isolate") || ttc.By != me.Name {
		t.Errorf("contained: %+v, want the isolation %s approved", ttc, me.Name)
	}
	if !strings.Contains(ttr.What, "resolved") || ttr.By != me.Name {
		t.Errorf("resolved: %+v", ttr)
	}
	if rep.Runs < 3 || len(rep.Notes) != 0 {
		t.Errorf("runs %d, notes %q; want the investigation, the change-only run of the resolution and more, all read", rep.Runs, rep.Notes)
	}
	kinds := map[string]int{}
	for i, e := range rep.Timeline {
		kinds[e.Kind]++
		if i > 0 && e.At.Before(rep.Timeline[i-1].At) {
			t.Errorf("timeline out of order at %d: %+v after %+v", i, e, rep.Timeline[i-1])
		}
	}
	for _, k := range []string{review.KindAlert, review.KindInvestigation, review.KindStage, review.KindStep,
		review.KindAction, review.KindDecision, review.KindChange} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the timeline: %v", k, kinds)
		}
	}
	changes := 0
	for _, dec := range rep.Decisions {
		if dec.Source == review.FromHistory && dec.Human {
			changes++
		}
	}
	if changes != 5 { // inProgress, assigned, resolved, classification, determination
		t.Errorf("changes from the history: %d, want 5: %+v", changes, rep.Decisions)
	}
	if len(rep.Tactics) == 0 || rep.Tactics[0].ID == "" || len(rep.Techniques) == 0 {
		t.Errorf("tactics %+v, techniques %+v", rep.Tactics, rep.Techniques)
	}

	// The dashboard and /metrics count it.
	var m review.Metrics
	if code := c.do(t, "GET", "/api/v1/metrics/summary?range=1d", nil, &m); code != http.StatusOK {
		t.Fatalf("summary: HTTP %d", code)
	}
	if m.TimeToResolve.Count != 1 || m.TimeToAcknowledge.Count != 1 || m.TimeToContain.Count != 1 ||
		m.Automation.Executed != 3 || m.Automation.Automated != 0 || m.Pending.Count != 2 {
		t.Errorf("summary: %+v", m)
	}

	recordRuns(t, tc, incident, []recording{{0, "incident-changed-while-running", nil},
		{1, "change-only-run-takes-update", acceptedUpdate}, {-1, "change-only-run", nil}})
}

// recording names a run of an incident's workflow to record, by its index
// in start order (negative: from the end); when is nil or says whether
// the run is the case the name promises.
type recording struct {
	run  int
	name string
	when func(*historypb.History) bool
}

// acceptedUpdate: the run took an Update (the change-only run took the
// undo; when the race goes the other way, run the test again to record it).
func acceptedUpdate(h *historypb.History) bool {
	return slices.ContainsFunc(h.Events, func(ev *historypb.HistoryEvent) bool {
		return ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
	})
}

// recordRuns writes runs of an incident's workflow history to
// workflows/testdata/NAME.json when AIR_RECORD_HISTORIES is set, like
// recordHistory does for the latest run.
func recordRuns(t *testing.T, c client.Client, incident int64, recs []recording) {
	t.Helper()
	if os.Getenv("AIR_RECORD_HISTORIES") == "" {
		return
	}
	ctx := context.Background()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", domain.WorkflowID(incident))})
	if err != nil {
		t.Fatal(err)
	}
	runs := resp.GetExecutions()
	slices.SortFunc(runs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
	})
	for _, rec := range recs {
		i, name := rec.run, rec.name
		if i < 0 {
			i += len(runs)
		}
		if i < 0 || i >= len(runs) {
			t.Fatalf("no run %d of %d to record as %s", i, len(runs), name)
		}
		it := c.GetWorkflowHistory(ctx, domain.WorkflowID(incident), runs[i].GetExecution().GetRunId(), false,
			enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var h historypb.History
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		if rec.when != nil && !rec.when(&h) {
			t.Logf("run %d is not the case %s records this time: not recorded", i, name)
			continue
		}
		b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "..", "workflows", "testdata", name+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d events of run %d to %s", len(h.Events), i, path)
	}
}
