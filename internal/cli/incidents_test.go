package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store/storetest"
)

// incidentAPI serves the real API over a SQLite store holding two
// incidents (ws1 in Workstations, high; srv1 in Servers, medium) and
// returns an Env with an analyst's token, the viewer's and the incidents.
func incidentAPI(t *testing.T) (env Env, viewer string, st *storetest.Store, inc1, inc2 int64) {
	t.Helper()
	ctx := context.Background()
	st = storetest.SQLite(t)
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	srv := &api.Server{Store: st, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	tok := func(name string, role auth.Role) string {
		c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return c.Secret
	}
	now := time.Now().UTC()
	for i, x := range []struct {
		id, dev, group string
		sev            domain.Severity
	}{{"c1", "ws1", "Workstations", domain.SeverityHigh}, {"c2", "srv1", "Servers", domain.SeverityMedium}} {
		a := &domain.Alert{ID: x.id, Title: "alert " + x.id, Status: domain.AlertNew, Severity: x.sev, Category: "Execution",
			ServiceSource: "microsoftDefenderForEndpoint", CreatedDateTime: now, LastUpdateDateTime: now,
			Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
				Key: domain.EntityKey("device:" + x.dev), Kind: domain.KindDevice, Name: x.dev,
				Attrs: map[string]string{"deviceGroup": x.group}}}}}
		r, err := st.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			inc1 = r.IncidentID
		} else {
			inc2 = r.IncidentID
		}
	}
	return Env{BaseURL: hs.URL, Token: tok("al", auth.Analyst)}, tok("vic", auth.Viewer), st, inc1, inc2
}

func TestIncidentsCommands(t *testing.T) {
	t.Parallel()
	env, viewer, st, inc1, inc2 := incidentAPI(t)
	run := func(env Env, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		code := Run(context.Background(), env, append([]string{"incidents"}, args...))
		return code, out.String(), errb.String()
	}
	id1, id2 := fmt.Sprint(inc1), fmt.Sprint(inc2)

	code, out, errs := run(env, "list")
	if code != 0 || !strings.Contains(out, "PRIORITY") || strings.Count(out, "\n") != 3 ||
		strings.Index(out, "\n"+id2+" ") > strings.Index(out, "\n"+id1+" ") {
		t.Errorf("list: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(env, "list", "--severity", "high", "--device-group", "Workstations"); code != 0 ||
		!strings.Contains(out, "\n"+id1+" ") || strings.Contains(out, "\n"+id2+" ") {
		t.Errorf("list filtered: exit %d\n%s", code, out)
	}
	code, out, _ = run(env, "list", "--json", "--sort", "id")
	var page records.IncidentPage
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || page.Total != 2 || page.Value[0].ID != inc1 {
		t.Errorf("list --json: exit %d %+v\n%s", code, page, out)
	}
	code, out, _ = run(env, "list", "--csv", "--status", "all", "--range", "all")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 3 || rows[0][0] != "id" {
		t.Errorf("list --csv: exit %d %v\n%s", code, err, out)
	}
	if code, _, errs := run(env, "list", "--status", "open"); code != 1 || !strings.Contains(errs, "status") {
		t.Errorf("list --status open: exit %d %q; want the API's refusal naming status", code, errs)
	}
	if code, _, errs := run(env, "list", "--nope"); code == 0 || !strings.Contains(errs, "flag provided but not defined") {
		t.Errorf("list --nope: exit %d %q", code, errs)
	}
	if code, _, errs := run(env, "list", "-h"); code != 0 || !strings.Contains(errs, "-multiple-service-sources") ||
		!strings.Contains(errs, "priorityScore") {
		t.Errorf("list -h: exit %d\n%s", code, errs)
	}
	if code, out, _ := run(env, "help"); code != 0 || !strings.Contains(out, "compromisedAccount") {
		t.Errorf("incidents help: exit %d\n%s", code, out)
	}

	// Managing: one id through PATCH, several in one bulk change.
	if code, out, errs := run(env, "assign", id1, id2, "--to", "ana"); code != 0 || strings.Count(out, "assigned to ana") != 2 {
		t.Errorf("assign: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := run(env, "tag", id1, "--add", "vip,wave1"); code != 0 || !strings.Contains(out, "tags [vip,wave1]") {
		t.Errorf("tag: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := run(env, "classify", id1, "--classification", "truePositive", "--determination", "compromisedUser"); code != 0 ||
		!strings.Contains(out, "truePositive/compromisedAccount") {
		t.Errorf("classify: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run(env, "classify", id1, "--classification", "falsePositive", "--determination", "malware"); code != 1 ||
		!strings.Contains(errs, "determination") {
		t.Errorf("classify with a bad pair: exit %d %q", code, errs)
	}
	if code, out, errs := run(env, "comment", id1, "-m", "looking into it"); code != 0 || !strings.Contains(out, "comment added by al") {
		t.Errorf("comment: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(env, "resolve", id1, "99999", "-m", "reimaged"); code != 1 ||
		!strings.Contains(out, "incident "+id1+": resolved") || !strings.Contains(out, "incident 99999: not changed") {
		t.Errorf("resolve with a bad id: exit %d\n%s", code, out)
	}
	if code, out, _ := run(env, "rename", id2, "--name", "Servers under attack"); code != 0 || !strings.Contains(out, "Servers under attack") {
		t.Errorf("rename: exit %d\n%s", code, out)
	}
	if code, _, errs := run(Env{BaseURL: env.BaseURL, Token: viewer}, "assign", id1, "--to", "vic"); code != 1 || !strings.Contains(errs, "403") {
		t.Errorf("viewer assigning: exit %d %q; want 403", code, errs)
	}
	if code, _, _ := run(env, "assign", id1); code != 2 {
		t.Errorf("assign without --to: exit %d, want 2", code)
	}

	code, out, errs = run(env, "show", id1)
	for _, want := range []string{"Incident " + id1, "resolved", "assigned to:", "ana", "truePositive / compromisedAccount",
		"priority:", "devices:", "ws1", "Alerts (1)", "c1", "Actions (0)", "looking into it", "incident.status",
		"active → resolved", "incident.alerts.status"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q (exit %d):\n%s%s", want, code, out, errs)
		}
	}
	code, out, _ = run(env, "show", id1, "--json")
	var d api.IncidentDetail
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.ID != inc1 || d.ResolvingComment != "reimaged" {
		t.Errorf("show --json: exit %d %+v", code, d.Incident)
	}
	if inc, err := st.GetIncident(context.Background(), inc2); err != nil || inc.DisplayName != "Servers under attack" || inc.AssignedTo != "ana" {
		t.Errorf("incident 2 in the store: %+v %v", inc, err)
	}

	// The review and the metrics of what was just done; without a workflow
	// (no engine here) the review falls back to the activity log and says so.
	if code, _, errs := run(env, "review", id2); code != 1 || !strings.Contains(errs, "409") {
		t.Errorf("review of an open incident: exit %d %q; want 409", code, errs)
	}
	code, out, errs = run(env, "review", id1)
	for _, want := range []string{"Post-incident review of incident " + id1, "time to resolve", "status active → resolved",
		"activity log", "Who decided what", "Execution"} {
		if !strings.Contains(out, want) {
			t.Errorf("review lacks %q (exit %d):\n%s%s", want, code, out, errs)
		}
	}
	var m bytes.Buffer
	menv := env
	menv.Stdout, menv.Stderr = &m, &m
	if code := Run(context.Background(), menv, []string{"metrics", "--range", "7d"}); code != 0 ||
		!regexp.MustCompile(`time to resolve \(MTTR\)\s+1\s`).MatchString(m.String()) {
		t.Errorf("metrics: exit %d\n%s", code, m.String())
	}
}
