package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/records"
)

// signals records what the investigations would be told (the Temporal side
// is not AIR's to test here).
type signals struct {
	mu    sync.Mutex
	calls map[int64][]string
}

func (s *signals) AlertsJoined(_ context.Context, id int64, alerts []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[int64][]string{}
	}
	s.calls[id] = append(s.calls[id], alerts...)
	return nil
}

func withIngest(f *fixture) *signals {
	sig := &signals{}
	f.srv.Ingest = &ingest.Pipeline{Store: f.st, Notifier: sig, Log: logrus.New()}
	return sig
}

func TestIngestEveryFormat(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	withIngest(f)
	graphDoc, err := os.ReadFile("../decode/testdata/same-graph.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join([]string{
		strings.ReplaceAll(strings.ReplaceAll(string(graphDoc), "\n", ""), `"da-1"`, `"g-1"`),
		`{"class_uid":2004,"finding_info":{"uid":"o-1","title":"ocsf"},"time":1772359200000,"evidences":[{"device":{"hostname":"ws-042.corp.example"}},{"database":{"name":"x"}}]}`,
		`{"SystemAlertId":"s-1","TimeGenerated":"2026-03-01T10:05:00Z","AlertName":"sentinel","Entities":"[{\"Type\":\"host\",\"HostName\":\"WS-042\",\"DnsDomain\":\"corp.example\"}]"}`,
		`{"class_uid":2004,"time":1}`,
	}, "\n")
	var resp api.IngestResponse
	r := f.call("al", http.MethodPost, "/api/v1/alerts", body, &resp)
	if r.StatusCode != http.StatusMultiStatus || resp.Accepted != 3 || resp.Rejected != 1 {
		t.Fatalf("HTTP %d, %+v; want 207 with 3 accepted, 1 rejected", r.StatusCode, resp)
	}
	if p := resp.Problems[0]; p.Index != 3 || p.Field != "finding_info.uid" {
		t.Errorf("problem = %+v, want item 3, finding_info.uid", p)
	}
	if got := resp.Results[1].UnknownEvidence; len(got) != 1 || got[0] != "ocsf.database" {
		t.Errorf("unknown evidence of the OCSF item = %v, want ocsf.database reported", got)
	}
	if resp.Results[1].IncidentID != resp.Results[2].IncidentID {
		t.Errorf("OCSF and Sentinel alerts on ws-042.corp.example in incidents %d and %d, want one", resp.Results[1].IncidentID, resp.Results[2].IncidentID)
	}
}

func TestIngestLimits(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	withIngest(f)
	f.srv.MaxBody = 1 << 10
	var e errResp
	r := f.call("al", http.MethodPost, "/api/v1/alerts", `{"id":"x","title":"`+strings.Repeat("a", 2000)+`"}`, &e)
	if r.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Kind != "too_large" {
		t.Errorf("big body: HTTP %d %+v, want 413 too_large", r.StatusCode, e)
	}
	f.srv.MaxBody = 0
	r = f.call("al", http.MethodPost, "/api/v1/alerts", `{"id":"x","a":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`, &e)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, "nests deeper") {
		t.Errorf("deep body: HTTP %d %+v, want 400 about nesting", r.StatusCode, e)
	}
}

func TestExportMoveAndCorrelation(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	sig := withIngest(f)
	var csv string
	if r := f.call("vic", http.MethodGet, "/api/v1/alerts/export", "", &csv); r.StatusCode != http.StatusOK {
		t.Fatalf("export: HTTP %d %s", r.StatusCode, csv)
	}
	want := fmt.Sprintf("alert_id,incident_id\nal1,%d\nal2,%d\n", f.inc1, f.inc2)
	if csv != want {
		t.Errorf("export = %q, want %q", csv, want)
	}
	var e errResp
	if r := f.call("sam", http.MethodGet, "/api/v1/alerts/export", "", &e); r.StatusCode != http.StatusForbidden {
		t.Errorf("scoped export: HTTP %d, want 403", r.StatusCode)
	}

	if r := f.call("vic", http.MethodPost, "/api/v1/alerts/al1/move", `{}`, &e); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer move: HTTP %d, want 403", r.StatusCode)
	}
	if r := f.call("al", http.MethodPost, "/api/v1/alerts/al1/move", `{"incidentId":"x"}`, &e); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad move body: HTTP %d, want 400", r.StatusCode)
	}
	var mv api.MoveResult
	if r := f.call("al", http.MethodPost, "/api/v1/alerts/al1/move", `{"incidentId":`+itoa(f.inc2)+`}`, &mv); r.StatusCode != http.StatusOK || mv.IncidentID != f.inc2 {
		t.Fatalf("move: HTTP %d %+v", r.StatusCode, mv)
	}
	if got := sig.calls[f.inc2]; len(got) != 1 || got[0] != "al1" {
		t.Errorf("signals to incident %d: %v, want al1", f.inc2, got)
	}
	if r := f.call("al", http.MethodPost, "/api/v1/alerts/nope/move", `{}`, &e); r.StatusCode != http.StatusNotFound {
		t.Errorf("move unknown alert: HTTP %d, want 404", r.StatusCode)
	}

	var d records.Derived
	if r := f.call("vic", http.MethodGet, "/api/v1/incidents/"+itoa(f.inc2)+"/correlation", "", &d); r.StatusCode != http.StatusOK {
		t.Fatalf("correlation: HTTP %d", r.StatusCode)
	}
	if d.ImpactedAssets.DeviceCount != 2 || d.PriorityScore <= 0 || len(d.PriorityFactors) == 0 {
		t.Errorf("derived = %+v, want 2 devices and an explained priority", d)
	}
	if r := f.call("sam", http.MethodGet, "/api/v1/incidents/"+itoa(f.inc1)+"/correlation", "", &e); r.StatusCode != http.StatusNotFound {
		t.Errorf("scoped correlation of another group's incident: HTTP %d, want 404", r.StatusCode)
	}
}

// TestPatchAlert: an analyst manages one alert; the incident follows, bad
// input names its field, and an alert out of scope is not found.
func TestPatchAlert(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var e errResp
	if r := f.call("vic", http.MethodPatch, "/api/v1/alerts/al1", `{"status":"resolved"}`, &e); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer: HTTP %d, want 403", r.StatusCode)
	}
	for body, field := range map[string]string{
		`{"status":"closed"}`: "status",
		`{"classification":"truePositive","determination":"notMalicious"}`: "determination",
		`{}`:           "",
		`{"colour":1}`: "colour",
	} {
		var e errResp
		if r := f.call("al", http.MethodPatch, "/api/v1/alerts/al1", body, &e); r.StatusCode != http.StatusBadRequest || e.Error.Field != field {
			t.Errorf("%s: HTTP %d %+v, want 400 naming %q", body, r.StatusCode, e, field)
		}
	}
	if r := f.call("sam", http.MethodPatch, "/api/v1/alerts/al1", `{"comment":"x"}`, &e); r.StatusCode != http.StatusNotFound {
		t.Errorf("out of scope: HTTP %d, want 404", r.StatusCode)
	}
	if r := f.call("al", http.MethodPatch, "/api/v1/alerts/nope", `{"comment":"x"}`, &e); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown alert: HTTP %d, want 404", r.StatusCode)
	}
	var a domain.Alert
	if r := f.call("al", http.MethodPatch, "/api/v1/alerts/al1",
		`{"status":"resolved","classification":"falsePositive","determination":"notMalicious","assignedTo":"al","comment":"admin tool"}`, &a); r.StatusCode != http.StatusOK ||
		a.Status != domain.AlertResolved || a.Classification != "falsePositive" || a.AssignedTo != "al" {
		t.Fatalf("patch: HTTP %d %+v", r.StatusCode, a)
	}
	// al1 was its incident's only alert: the incident is resolved with it.
	var inc domain.Incident
	f.call("al", http.MethodGet, "/api/v1/incidents/"+itoa(f.inc1), "", &inc)
	if inc.Status != domain.IncidentResolved {
		t.Errorf("incident %d is %s, want resolved with its only alert", f.inc1, inc.Status)
	}
}
