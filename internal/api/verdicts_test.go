package api_test

import (
	"net/http"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// TestVerdictRoute: an analyst decides an entity's verdict with a reason,
// and the incident then reads it with the provider's beside it; a viewer
// is refused, bad fields are named, an entity of no incident is refused,
// and a token scoped to Servers does not see a Workstations incident.
func TestVerdictRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	path := "/api/v1/incidents/" + itoa(f.inc1) + "/verdicts"
	var e struct{ Error struct{ Field string } }
	if r := f.call("vic", http.MethodPost, path, `{"entity":"device:ws1","verdict":"noThreatsFound","reason":"x"}`, &e); r.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's verdict: HTTP %d, want 403", r.StatusCode)
	}
	for body, field := range map[string]string{
		`{"entity":"device:ws1","verdict":"evil","reason":"x"}`:            "verdict",
		`{"entity":"device:ws1","verdict":"noThreatsFound","reason":""}`:   "reason",
		`{"verdict":"noThreatsFound","reason":"x"}`:                        "entity",
		`{"entity":"device:nope","verdict":"noThreatsFound","reason":"x"}`: "target",
	} {
		e.Error.Field = ""
		if r := f.call("al", http.MethodPost, path, body, &e); r.StatusCode != http.StatusBadRequest || e.Error.Field != field {
			t.Errorf("%s: HTTP %d naming %q, want 400 naming %q", body, r.StatusCode, e.Error.Field, field)
		}
	}
	if r := f.call("sam", http.MethodPost, path, `{"entity":"device:ws1","verdict":"noThreatsFound","reason":"x"}`, &e); r.StatusCode != http.StatusNotFound {
		t.Errorf("a scoped token on another group's incident: HTTP %d, want 404", r.StatusCode)
	}
	var ent domain.Entity
	if r := f.call("al", http.MethodPost, path, `{"entity":"device:ws1","verdict":"noThreatsFound","reason":"re-imaged and clean"}`, &ent); r.StatusCode != http.StatusOK ||
		ent.Verdict != domain.VerdictNoThreatsFound || ent.ProviderVerdict != domain.VerdictMalicious || ent.Decision == nil || ent.Decision.By != "al" {
		t.Fatalf("the analyst's verdict: HTTP %d %+v", r.StatusCode, ent)
	}
	var d api.IncidentDetail
	f.call("vic", http.MethodGet, "/api/v1/incidents/"+itoa(f.inc1), "", &d)
	for _, x := range d.Entities {
		if x.Key == "device:ws1" && (x.Verdict != domain.VerdictNoThreatsFound || x.Decision == nil || x.Decision.Reason != "re-imaged and clean") {
			t.Errorf("the incident reads %+v, want the analyst's verdict with its reason", x)
		}
	}
}
