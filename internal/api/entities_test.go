package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// TestEntityRoute holds GET /api/v1/entities/{key}: the entity with its
// aliases, incidents, alerts and actions; scope; not found; bad keys.
func TestEntityRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	ctx := context.Background()
	// ws1's FQDN, seen later in an incident of its own: an alias.
	later := time.Now().Add(72 * time.Hour)
	r, err := f.st.IngestAlert(ctx, &domain.Alert{ID: "al-fqdn", Title: "later", Status: domain.AlertNew, Severity: domain.SeverityLow,
		Category: "Execution", CreatedDateTime: later, LastUpdateDateTime: later, Evidence: []domain.Evidence{{Type: "deviceEvidence",
			Entity: &domain.Entity{Key: "device:ws1.corp.example", Kind: domain.KindDevice, Name: "WS1.corp.example",
				Attrs: map[string]string{"deviceGroup": "Workstations"}}}}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}

	var d api.EntityDetail
	if resp := f.call("vic", "GET", "/api/v1/entities/device:ws1", "", &d); resp.StatusCode != http.StatusOK {
		t.Fatalf("viewer: HTTP %d", resp.StatusCode)
	}
	if d.Key != "device:ws1" || d.Kind != domain.KindDevice || d.Name != "ws1" || d.FirstSeen.IsZero() {
		t.Errorf("entity = %+v", d.EntityRecord)
	}
	if len(d.Aliases) != 1 || d.Aliases[0].Key != "device:ws1.corp.example" || d.Aliases[0].Why != "FQDN" {
		t.Errorf("aliases = %+v, want the FQDN", d.Aliases)
	}
	if d.IncidentTotal != 2 || len(d.Incidents) != 2 || d.Incidents[0].ID != r.IncidentID || d.Incidents[1].ID != f.inc1 {
		t.Errorf("incidents = %d of %d, want %d then %d", len(d.Incidents), d.IncidentTotal, r.IncidentID, f.inc1)
	}
	if d.AlertTotal != 2 || len(d.Alerts) != 2 || d.Alerts[0].ID != "al-fqdn" {
		t.Errorf("alerts = %+v (%d), want al-fqdn first of 2", d.Alerts, d.AlertTotal)
	}
	if d.ActionTotal != 1 || len(d.Actions) != 1 || d.Actions[0].ID != "iso-ws1" {
		t.Errorf("actions = %+v (%d), want iso-ws1", d.Actions, d.ActionTotal)
	}

	// The FQDN's page finds the short name the other way round.
	var fq api.EntityDetail
	f.call("vic", "GET", "/api/v1/entities/"+url.PathEscape("device:ws1.corp.example"), "", &fq)
	if len(fq.Aliases) != 1 || fq.Aliases[0].Key != "device:ws1" || fq.IncidentTotal != 2 {
		t.Errorf("the FQDN's page: aliases %+v, %d incidents; want device:ws1 and 2", fq.Aliases, fq.IncidentTotal)
	}

	// Scoped to Servers: srv1 with its own incident and actions only;
	// ws1 (Workstations) is not found.
	var srv api.EntityDetail
	if resp := f.call("sam", "GET", "/api/v1/entities/device:srv1", "", &srv); resp.StatusCode != http.StatusOK ||
		srv.IncidentTotal != 1 || srv.ActionTotal != 4 || srv.AlertTotal != 1 {
		t.Errorf("scoped, srv1: HTTP %d, %d incidents, %d actions, %d alerts; want 200, 1, 4, 1",
			resp.StatusCode, srv.IncidentTotal, srv.ActionTotal, srv.AlertTotal)
	}
	for _, key := range []string{"device:ws1", "device:nope"} {
		var e struct{ Error api.ErrorDetail }
		if resp := f.call("sam", "GET", "/api/v1/entities/"+key, "", &e); resp.StatusCode != http.StatusNotFound {
			t.Errorf("scoped, %s: HTTP %d %+v, want 404", key, resp.StatusCode, e)
		}
	}
	var e struct{ Error api.ErrorDetail }
	if resp := f.call("vic", "GET", "/api/v1/entities/device:nope", "", &e); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown entity: HTTP %d, want 404", resp.StatusCode)
	}
	if resp := f.call("", "GET", "/api/v1/entities/device:ws1", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d, want 401", resp.StatusCode)
	}

	for key, reason := range map[string]string{"ws1": "<kind>:<id>", "planet:earth": "unknown entity kind", "device:": "<kind>:<id>",
		url.PathEscape("<script>:x"): "unknown entity kind"} {
		var e struct{ Error api.ErrorDetail }
		resp := f.call("vic", "GET", "/api/v1/entities/"+key, "", &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Field != "key" || !strings.Contains(e.Error.Message, reason) {
			t.Errorf("key %q: HTTP %d %+v, want 400 naming key: %s", key, resp.StatusCode, e.Error, reason)
		}
	}
}
