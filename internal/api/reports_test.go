package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/report"
)

// TestReportParameters checks that every report refuses a bad, future or
// unknown parameter with a 400 naming it, and that the SLA setting is
// checked, stored and read back.
func TestReportParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for path, field := range map[string]string{
		"/api/v1/reports/daily?date=2026-02-30":         "date",
		"/api/v1/reports/daily?date=2999-01-01":         "date",
		"/api/v1/reports/daily?day=2026-01-01":          "day",
		"/api/v1/reports/daily?date=2026-01-01&date=x":  "date",
		"/api/v1/reports/monthly?month=november":        "month",
		"/api/v1/reports/monthly?month=2999-01":         "month",
		"/api/v1/reports/quarterly?quarter=2026-4":      "quarter",
		"/api/v1/reports/quarterly?quarter=2999-Q1":     "quarter",
		"/api/v1/reports/quarterly?quarter=2026-Q4&x=1": "x",
	} {
		var body struct{ Error struct{ Field string } }
		if resp := f.call("vic", "GET", path, "", &body); resp.StatusCode != http.StatusBadRequest || body.Error.Field != field {
			t.Errorf("%s: HTTP %d field %q, want 400 naming %s", path, resp.StatusCode, body.Error.Field, field)
		}
	}
	var sla report.SLA
	if resp := f.call("vic", "GET", "/api/v1/settings/sla", "", &sla); resp.StatusCode != 200 ||
		sla.Acknowledge["high"].String() != "1h" || sla.Acknowledge["low"].String() != "24h" {
		t.Errorf("default SLA: HTTP %d %+v", resp.StatusCode, sla)
	}
	for _, bad := range []string{`{"acknowledge":{"high":"-1h"}}`, `{"acknowledge":{"high":"soon"}}`, `{}`, `{"acknowledge":{"high":"1h"},"x":1}`} {
		var body json.RawMessage
		if resp := f.call("adam", "PUT", "/api/v1/settings/sla", bad, &body); resp.StatusCode != 400 {
			t.Errorf("PUT %s: HTTP %d, want 400: %s", bad, resp.StatusCode, body)
		}
	}
	if resp := f.call("adam", "PUT", "/api/v1/settings/sla", `{"acknowledge":{"high":"15m","medium":"2d"}}`, nil); resp.StatusCode != 200 {
		t.Fatalf("PUT SLA: HTTP %d", resp.StatusCode)
	}
	var d report.Daily
	if resp := f.call("vic", "GET", "/api/v1/reports/daily", "", &d); resp.StatusCode != 200 ||
		d.SLA.Acknowledge["high"].String() != "15m" || d.SLA.Acknowledge["medium"].String() != "2d" || len(d.SLA.Acknowledge) != 2 {
		t.Errorf("daily report after the SLA change: HTTP %d %+v", resp.StatusCode, d.SLA)
	}
	var raw string
	f.call("vic", "GET", "/api/v1/settings/sla", "", &raw)
	if !strings.Contains(raw, `"15m"`) {
		t.Errorf("GET SLA: %s", raw)
	}
}
