package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/cli"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/store"
)

// TestEndToEnd runs the service as `worker -dev` does — an in-process
// Temporal server on a SQLite file, the SQLite store, the worker and the
// HTTP API — and walks the skeleton: ingest → pending action → approve →
// device isolated in the lab tenant → successfullyRemediated.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	temporalPort := nativestack.FreePort(t)
	c, dir := devService(t, Config{TemporalPort: temporalPort})
	base := c.base
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK {
		t.Fatalf("ingest: HTTP %d %+v", code, ing)
	}
	if len(ing.Results) != 1 || ing.Results[0].Outcome != correlate.Created || !ing.Results[0].NewIncident {
		t.Fatalf("ingest result: %+v", ing)
	}
	incident := ing.Results[0].IncidentID

	// The same alert again: one alert, one incident.
	var again api.IngestResponse
	c.do(t, "POST", "/api/v1/alerts", sample, &again)
	if len(again.Results) != 1 || again.Results[0].Outcome != correlate.Unchanged || again.Results[0].IncidentID != incident {
		t.Errorf("re-ingest: got %+v, want unchanged in incident %d", again.Results, incident)
	}

	pending := waitFor(t, "a pending action", func() (*domain.Action, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", "/api/v1/actions?status=pending", nil, &page)
		if len(page.Value) == 1 {
			return &page.Value[0], true
		}
		return nil, false
	})
	if pending.Type != "device.isolate" || pending.IncidentID != incident {
		t.Fatalf("pending action: %+v", pending)
	}

	// The command line lists it too.
	var out bytes.Buffer
	if code := cli.Run(ctx, cli.Env{BaseURL: base, Token: c.token, Stdout: &out, Stderr: &out}, []string{"actions", "list"}); code != 0 || !strings.Contains(out.String(), pending.ID) {
		t.Errorf("starter actions list: exit %d\n%s", code, out.String())
	}

	var e struct {
		Error struct{ Kind, Message string }
	}
	if code := c.do(t, "POST", "/api/v1/actions/nope/approve", nil, &e); code != http.StatusNotFound {
		t.Errorf("approve unknown action: HTTP %d %+v, want 404", code, e)
	}
	var approved domain.Action
	if code := c.do(t, "POST", "/api/v1/actions/"+pending.ID+"/approve", []byte(`{"comment":"contain it"}`), &approved); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	if approved.Status != domain.ActionApproved || approved.DecisionComment != "contain it" {
		t.Errorf("approved action: %+v", approved)
	}
	if code := c.do(t, "POST", "/api/v1/actions/"+pending.ID+"/reject", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error.Message, "already") {
		t.Errorf("reject after approve: HTTP %d %+v, want 409 naming the current status", code, e)
	}

	// Containment done, eradication proposes quarantining the malicious file.
	quarantine := waitFor(t, "the pending quarantine", func() (*domain.Action, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", "/api/v1/actions?status=pending", nil, &page)
		if len(page.Value) == 1 && page.Value[0].Type == "file.stop_and_quarantine" {
			return &page.Value[0], true
		}
		return nil, false
	})
	if code := c.do(t, "POST", "/api/v1/actions/"+quarantine.ID+"/approve", nil, &approved); code != http.StatusOK {
		t.Fatalf("approve quarantine: HTTP %d", code)
	}
	waitFor(t, "successfullyRemediated", func() (struct{}, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+itoa(incident), nil, &d)
		return struct{}{}, d.InvestigationState == domain.InvestigationSuccessfullyRemediated
	})
	if code := c.do(t, "POST", "/api/v1/actions/"+pending.ID+"/approve", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error.Message, "already succeeded") {
		t.Errorf("approve after it ran: HTTP %d %+v, want 409 naming status succeeded", code, e)
	}
	recordHistory(t, fmt.Sprintf("127.0.0.1:%d", temporalPort), incident, "sample-alert-isolate-then-quarantine")
	var d api.IncidentDetail
	c.do(t, "GET", "/api/v1/incidents/"+itoa(incident), nil, &d)
	if d.AlertCount != 1 || len(d.Alerts) != 1 || len(d.Actions) != 2 {
		t.Errorf("incident detail: %d alerts, %d actions, want 1 and 2", len(d.Alerts), len(d.Actions))
	}
	for _, a := range d.Actions {
		if a.Status != domain.ActionSucceeded {
			t.Errorf("action %s %s: %s", a.Type, a.TargetKey, a.Status)
		}
	}
	var incs struct{ Value []domain.Incident }
	c.do(t, "GET", "/api/v1/incidents", nil, &incs)
	if len(incs.Value) != 1 {
		t.Errorf("incidents: got %d, want 1", len(incs.Value))
	}

	// The lab tenant, read from the same database file, has the device
	// isolated and the file quarantined, each once.
	st, err := store.Open(context.Background(), filepath.Join(dir, "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, err := st.LabOperations(context.Background())
	if err != nil || len(ops) != 2 {
		t.Fatalf("lab operations: %+v, %v; want the isolation and the quarantine", ops, err)
	}
	for _, op := range ops {
		if !op.Changed {
			t.Errorf("lab operation %+v changed nothing", op)
		}
	}
	devs, _ := st.LabDevices(context.Background())
	if len(devs) != 1 || !devs[0].Isolated {
		t.Errorf("lab devices: %+v", devs)
	}
}

func TestIngestBadInput(t *testing.T) {
	// Bad input is refused before it reaches Temporal, so the real handler
	// over a real store with no engine behind it is enough here.
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := serve(t, st, &recorder{})
	tests := []struct {
		name      string
		body      string
		wantCode  int
		wantField string
	}{
		{"malformed JSON", `{"id": "a1", `, http.StatusBadRequest, ""},
		{"missing id", `{"title": "x", "severity": "high"}`, http.StatusBadRequest, "id"},
		{"unknown severity", `{"id": "a1", "severity": "severe"}`, http.StatusBadRequest, "severity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body struct {
				Error    struct{ Field, Message string }
				Problems []struct {
					Index         int
					Field, Reason string
				}
			}
			code := c.do(t, "POST", "/api/v1/alerts", []byte(tt.body), &body)
			if code != tt.wantCode {
				t.Fatalf("HTTP %d, want %d (%+v)", code, tt.wantCode, body)
			}
			field, msg := body.Error.Field, body.Error.Message
			if len(body.Problems) > 0 {
				field, msg = body.Problems[0].Field, body.Problems[0].Reason
			}
			if field != tt.wantField || msg == "" {
				t.Errorf("got field %q (%q), want %q with a reason", field, msg, tt.wantField)
			}
		})
	}
}

func TestIngestBatchKeepsGoodItems(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	notified := &recorder{}
	c := serve(t, st, notified)
	batch := `[{"id": "good-1", "title": "a", "severity": "low", "createdDateTime": "2026-01-01T00:00:00Z"},
		{"id": "bad", "severity": "severe"},
		{"title": "no id"},
		{"id": "good-2", "title": "b", "severity": "high", "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "verdict": "evil"}]}]`
	var resp api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", []byte(batch), &resp); code != http.StatusMultiStatus {
		t.Fatalf("HTTP %d, want 207: %+v", code, resp)
	}
	if resp.Accepted != 1 || len(resp.Results) != 1 || resp.Results[0].ID != "good-1" || resp.Results[0].Index != 0 {
		t.Errorf("results: %+v, want only good-1 at index 0", resp.Results)
	}
	want := map[int]string{1: "severity", 2: "id", 3: "evidence[0].verdict"}
	if len(resp.Problems) != len(want) {
		t.Fatalf("problems: %+v, want %d", resp.Problems, len(want))
	}
	for _, p := range resp.Problems {
		if want[p.Index] != p.Field || p.Reason == "" {
			t.Errorf("problem %+v: want field %q with a reason", p, want[p.Index])
		}
	}
	if len(notified.calls) != 1 || notified.calls[0] != "1:good-1" {
		t.Errorf("notifications: %v, want one for incident 1 with good-1", notified.calls)
	}
	incs, err := st.ListIncidents(context.Background(), store.IncidentFilter{})
	if err != nil || len(incs) != 1 {
		t.Errorf("incidents stored: %d, %v; want 1", len(incs), err)
	}
}

// recorder stands in for the Temporal side of ingest and remembers what it
// was told.
type recorder struct{ calls []string }

func (r *recorder) AlertsJoined(_ context.Context, incidentID int64, alertIDs []string) error {
	r.calls = append(r.calls, itoa(incidentID)+":"+strings.Join(alertIDs, ","))
	return nil
}

// apiClient calls the API with a bearer token.
type apiClient struct{ base, token string }

func (c apiClient) do(t *testing.T, method, path string, body []byte, out any) int {
	t.Helper()
	return c.send(t, method, path, body, out).StatusCode
}

// send is do returning the whole response, for its headers; out is
// decoded from its body, which is read and closed.
func (c apiClient) send(t *testing.T, method, path string, body []byte, out any) *http.Response {
	t.Helper()
	url := c.base + path
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: HTTP %d, body not JSON: %s", method, url, resp.StatusCode, data)
		}
	}
	return resp
}

// waitFor polls cond until it holds or a minute passes.
func waitFor[T any](t *testing.T, what string, cond func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if v, ok := cond(); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// serve runs the real API handler over st with no workflow engine behind
// it, and returns a client holding an analyst token.
func serve(t *testing.T, st *store.Store, n ingest.Notifier) apiClient {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	tok, err := access.CreateToken(context.Background(), "test", auth.NewToken{Name: "ingester", Role: auth.Analyst})
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Store: st, Ingest: &ingest.Pipeline{Store: st, Notifier: n, Log: log}, Log: log, Auth: access}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return apiClient{base: hs.URL, token: tok.Secret}
}

// adminToken reads the admin token the dev service keeps in its data
// directory.
func adminToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatalf("dev mode keeps an admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestRefusesInvalidPlaybooks: the service does not start with a bad
// playbook, and says where it is bad.
func TestRefusesInvalidPlaybooks(t *testing.T) {
	dir := t.TempDir()
	bad := "name: broken\nversion: 1\nstages:\n  containment:\n    - id: isolate\n      action: device.isolat\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	err := Run(context.Background(), Config{Dev: true, DataDir: t.TempDir(), PlaybookDir: dir, Log: log, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "broken.yaml:6:") || !strings.Contains(err.Error(), "device.isolat") {
		t.Errorf("got %v, want a refusal naming broken.yaml:6 and the unknown action", err)
	}
}
