package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/cli"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// TestStopInvestigation: a responder stops a running investigation through
// the API: its pending isolation is rejected with the reason, the stop is
// audited, the investigation ends terminatedByUser, and a second stop is a
// conflict.
func TestStopInvestigation(t *testing.T) {
	c, _ := devService(t, Config{})
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK || len(ing.Results) != 1 || ing.Results[0].Outcome != correlate.Created {
		t.Fatalf("ingest: HTTP %d %+v", code, ing)
	}
	inc := itoa(ing.Results[0].IncidentID)
	pending := waitFor(t, "a pending action", func() (*domain.Action, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", "/api/v1/actions?status=pending", nil, &page)
		if len(page.Value) > 0 {
			return &page.Value[0], true
		}
		return nil, false
	})

	var e struct {
		Error struct{ Kind, Field, Message string }
	}
	if code := c.do(t, "POST", "/api/v1/incidents/"+inc+"/stop", []byte(`{}`), &e); code != http.StatusBadRequest || e.Error.Field != "reason" {
		t.Errorf("stop without a reason: HTTP %d %+v, want 400 naming reason", code, e)
	}
	var st struct {
		StoppedBy, StopReason string
	}
	if code := c.do(t, "POST", "/api/v1/incidents/"+inc+"/stop", []byte(`{"reason":"authorised red-team exercise"}`), &st); code != http.StatusOK {
		t.Fatalf("stop: HTTP %d", code)
	}
	if st.StopReason == "" || st.StoppedBy == "" {
		t.Errorf("stop answered %+v, want who and why", st)
	}
	waitFor(t, "the investigation to end terminatedByUser", func() (struct{}, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+inc, nil, &d)
		return struct{}{}, d.InvestigationState == domain.InvestigationTerminatedByUser
	})
	var a domain.Action
	c.do(t, "GET", "/api/v1/actions/"+pending.ID, nil, &a)
	if a.Status != domain.ActionRejected || !strings.Contains(a.DecisionComment, "red-team") {
		t.Errorf("pending action after the stop: %s, %q; want rejected with the reason", a.Status, a.DecisionComment)
	}
	var audit struct {
		Value []struct{ Verb, Actor, Detail string }
	}
	c.do(t, "GET", "/api/v1/audit?verb=investigation.stop", nil, &audit)
	if len(audit.Value) != 1 {
		t.Errorf("audit of the stop: %+v", audit.Value)
	}
	var out bytes.Buffer
	if code := cli.Run(context.Background(), cli.Env{BaseURL: c.base, Token: c.token, Stdout: &out, Stderr: &out},
		[]string{"incidents", "stop", inc, "--reason", "again"}); code == 0 || !strings.Contains(out.String(), "409") {
		t.Errorf("second stop from the command line: exit %d: %s; want refused with 409", code, out.String())
	}
}
