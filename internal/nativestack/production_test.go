package nativestack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// TestProductionStack is the native production proof CI runs: the
// Temporal server built at go.mod's version, its databases set up on
// PostgreSQL by docker-compose.yml's own schema script, AIR's worker
// binary in production mode against both. It runs the README's
// walkthrough over HTTP with Temporal killed (SIGKILL) twice along the way,
// then floods two API processes and two worker processes and kills one of
// each.
func TestProductionStack(t *testing.T) {
	if testing.Short() {
		t.Skip("native production stack skipped in -short mode")
	}
	s := Start(t)
	t.Run("walkthrough-with-temporal-restarts", func(t *testing.T) { walkthrough(t, s) })
	t.Run("scale-out", func(t *testing.T) {
		r := flood(t, s, floodConfig{incidents: 250, alertsPerIncident: 24, apis: 2, workers: 2, kill: true})
		t.Logf("scale-out: %d alerts into %d incidents through 2 API processes in %s (%.0f alerts/s, resent %d batches); all %d investigations finished %s after the first alert",
			r.alerts, r.incidents, r.ingest.Round(time.Millisecond), float64(r.alerts)/r.ingest.Seconds(), r.resent, r.incidents, r.finished.Round(time.Millisecond))
	})
}

// walkthrough is the README's two-minute walkthrough over the HTTP API:
// the sample alert opens an incident whose investigation proposes isolating
// the device and then quarantining the file, each approved by an analyst.
// Temporal is killed while the first action waits for approval and again
// right after it is approved, while the workflow carries it out; after each
// restart the investigation resumes, and each action runs exactly once in
// the lab tenant.
func walkthrough(t *testing.T, s *Stack) {
	air := s.NewAIR(t, "walkthrough")
	node := air.Start(t, "air", "all")
	c := Client{Base: node.URL, Token: air.Token(t)}

	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code, err := c.Do("POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK || len(ing.Results) != 1 {
		t.Fatalf("ingest the sample alert: %d %v %+v", code, err, ing)
	}
	id := ing.Results[0].IncidentID
	if !ing.Results[0].NewIncident {
		t.Fatalf("the sample alert opened no incident: %+v", ing.Results[0])
	}

	first := pendingAction(t, c, id)
	if first.Type != "device.isolate" {
		t.Errorf("first proposal: %s, want device.isolate", first.Type)
	}

	// Temporal dies while the action waits: AIR says it is not ready.
	s.Temporal.Kill(t)
	if code, err := c.Do("GET", "/readyz", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Temporal down: %d %v, want 503", code, err)
	}
	s.Temporal.Start(t)
	approve(t, c, first.ID)
	// Again at once, while the approved isolation is being carried out.
	s.Temporal.Kill(t)
	s.Temporal.Start(t)
	waitStatus(t, c, first.ID, domain.ActionSucceeded)

	second := pendingAction(t, c, id)
	if second.Type != "file.stop_and_quarantine" {
		t.Errorf("second proposal: %s, want file.stop_and_quarantine", second.Type)
	}
	approve(t, c, second.ID)
	waitStatus(t, c, second.ID, domain.ActionSucceeded)
	WaitFor(t, "the investigation to finish", 2*time.Minute, func() (bool, error) {
		var inc domain.Incident
		_, err := c.Do("GET", fmt.Sprintf("/api/v1/incidents/%d", id), nil, &inc)
		return inc.InvestigationState == domain.InvestigationSuccessfullyRemediated, err
	})

	st, err := store.Open(context.Background(), air.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, err := st.LabOperations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, op := range ops {
		seen[op.Operation+" "+op.Target]++
		if !op.Changed {
			t.Errorf("lab operation %s on %s changed nothing: a second run of a remediation", op.Operation, op.Target)
		}
	}
	if len(ops) != 2 || len(seen) != 2 {
		t.Errorf("lab tenant carried out %v, want the isolation and the quarantine once each", seen)
	}
}

// pendingAction waits for the incident's next action waiting for approval.
func pendingAction(t *testing.T, c Client, incident int64) domain.Action {
	t.Helper()
	var got domain.Action
	WaitFor(t, "an action waiting for approval", 2*time.Minute, func() (bool, error) {
		var page struct{ Value []domain.Action }
		if _, err := c.Do("GET", "/api/v1/actions?status=pending", nil, &page); err != nil {
			return false, err
		}
		for _, a := range page.Value {
			if a.IncidentID == incident {
				got = a
				return true, nil
			}
		}
		return false, nil
	})
	return got
}

// approve approves an action as a client would: an error answer (Temporal
// still starting) is retried until the approval is accepted.
func approve(t *testing.T, c Client, id string) {
	t.Helper()
	WaitFor(t, "the approval of "+id+" to be accepted", 2*time.Minute, func() (bool, error) {
		code, err := c.Do("POST", "/api/v1/actions/"+id+"/approve", []byte(`{"comment":"contain it"}`), nil)
		if code >= 400 && code < 500 {
			t.Fatalf("approve %s: %d", id, code)
		}
		return code == http.StatusOK, err
	})
}

func waitStatus(t *testing.T, c Client, id string, want domain.ActionStatus) {
	t.Helper()
	WaitFor(t, "action "+id+" to be "+string(want), 2*time.Minute, func() (bool, error) {
		var a domain.Action
		_, err := c.Do("GET", "/api/v1/actions/"+id, nil, &a)
		if a.Status == domain.ActionFailed {
			t.Fatalf("action %s failed: %s", id, a.Error)
		}
		return a.Status == want, err
	})
}
