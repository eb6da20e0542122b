package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/report"
)

// TestReportsCommands prints the three reports from the real API over two
// incidents created now, as tables and as JSON, and refuses bad periods.
func TestReportsCommands(t *testing.T) {
	t.Parallel()
	env, viewer, st, _, _ := incidentAPI(t)
	c, err := (&auth.Service{Store: st}).CreateToken(context.Background(), "test", auth.NewToken{Name: "adam", Role: auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	admin := c.Secret
	env.Token = viewer
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		code := Run(context.Background(), env, append([]string{"reports"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, errs := run("daily")
	for _, want := range []string{"Daily report", "Open incidents at", ": 2;", "Open by severity", "  high    1  #",
		"  < 1 h   2  ##", "SLA breaches (time to acknowledge: high 1h, medium 4h, low 24h)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("daily: exit %d, no %q in\n%s%s", code, want, out, errs)
		}
	}
	code, out, _ = run("daily", "-json")
	var d report.Daily
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Open.Total != 2 {
		t.Errorf("daily -json: exit %d %+v\n%s", code, d.Open, out)
	}
	code, out, errs = run("monthly")
	if code != 0 || !strings.Contains(out, "Automation review") || !strings.Contains(out, "Automation rate: - (0 of 0") ||
		!strings.Contains(out, "Suggestions (0)") {
		t.Errorf("monthly: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run("quarterly")
	if code != 0 || !strings.Contains(out, "MONTH") || !strings.Contains(out, "Execution  TA0002") ||
		!strings.Contains(out, "Biggest incidents") {
		t.Errorf("quarterly: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run("monthly", "-month", "2026-13"); code != 1 || !strings.Contains(errs, "month") {
		t.Errorf("monthly -month 2026-13: exit %d %q; want the API's refusal naming month", code, errs)
	}
	if code, _, errs := run("quarterly", "-quarter", "Q4"); code != 1 || !strings.Contains(errs, "quarter") {
		t.Errorf("quarterly -quarter Q4: exit %d %q", code, errs)
	}
	if code, out, _ := run("sla"); code != 0 || !strings.Contains(out, "  high          1h\n  medium        4h\n  low           24h") {
		t.Errorf("sla: exit %d\n%s", code, out)
	}
	if code, _, errs := run("sla", "high=30m"); code != 1 || !strings.Contains(errs, "admin") {
		t.Errorf("sla high=30m as a viewer: exit %d %q; want refused", code, errs)
	}
	env.Token = admin
	if code, out, _ := run("sla", "high=30m", "medium=2d"); code != 0 || !strings.Contains(out, "high          30m\n  medium        2d\n") ||
		strings.Contains(out, "low") {
		t.Errorf("sla high=30m medium=2d: exit %d\n%s", code, out)
	}
	if code, _, errs := run("sla", "high=soon"); code != 1 || !strings.Contains(errs, "soon") {
		t.Errorf("sla high=soon: exit %d %q", code, errs)
	}
	if code, _, _ := run("sla", "high"); code != 2 {
		t.Errorf("sla high: exit %d, want 2", code)
	}
	if code, _, _ := run("weekly"); code != 2 {
		t.Errorf("reports weekly: exit %d, want 2 (usage)", code)
	}
	if code, _, _ := run(); code != 2 {
		t.Errorf("reports: exit %d, want 2 (usage)", code)
	}
}
