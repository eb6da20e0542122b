package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// TestAlertsUpdate: `starter alerts update` manages one alert through the
// API, the incident follows, and a refusal names the flag's field.
func TestAlertsUpdate(t *testing.T) {
	t.Parallel()
	env, _, st, inc1, _ := incidentAPI(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &errb
		code := Run(context.Background(), e, append([]string{"alerts", "update"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, errs := run("c1", "--status", "resolved", "--classification", "falsePositive", "--determination", "notMalicious",
		"--assign", "al", "-m", "a scheduled admin task")
	if code != 0 || !strings.Contains(out, "alert c1: resolved, falsePositive/notMalicious, assigned to al") {
		t.Fatalf("update: exit %d\n%s%s", code, out, errs)
	}
	inc, err := st.GetIncident(context.Background(), inc1)
	if err != nil || inc.Status != domain.IncidentResolved {
		t.Errorf("incident %d after its only alert was resolved: %+v %v", inc1, inc, err)
	}
	if code, _, errs := run("c1", "--status", "closed"); code != 1 || !strings.Contains(errs, "status") {
		t.Errorf("bad status: exit %d %q, want the API's refusal naming status", code, errs)
	}
	if code, _, errs := run("c1", "c2"); code == 0 || !strings.Contains(errs, "one alert id") {
		t.Errorf("two ids: exit %d %q", code, errs)
	}
	if code, out, _ := run("c1", "--assign", "-"); code != 0 || !strings.Contains(out, "assigned to -") {
		t.Errorf("unassign: exit %d %q", code, out)
	}
}
