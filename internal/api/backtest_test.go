package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// The loaded playbook isolates and scans every malicious device; the
// candidate no longer isolates, and has every scan wait for an analyst.
const (
	backtestBaseline = `name: contain
version: 1
stages:
  containment:
    - id: isolate
      for_each: filter(devices, {.verdict == "malicious"})
      action: device.isolate
    - id: scan
      for_each: filter(devices, {.verdict == "malicious"})
      action: device.run_av_scan
`
	backtestCandidate = `name: contain
version: 2
stages:
  containment:
    - id: scan
      for_each: filter(devices, {.verdict == "malicious"})
      action: device.run_av_scan
      approval: required
`
)

func backtestBody(t *testing.T, extra string, files ...string) string {
	t.Helper()
	var srcs []api.BacktestSource
	for i := 0; i < len(files); i += 2 {
		srcs = append(srcs, api.BacktestSource{File: files[i], Source: files[i+1]})
	}
	b, err := json.Marshal(srcs)
	if err != nil {
		t.Fatal(err)
	}
	return `{"playbooks":` + string(b) + extra + `}`
}

// TestBacktest stores incidents (the fixture's and one ingested through
// the API), runs full automation, and backtests a candidate that drops
// the isolation and has the scan wait: every malicious device's isolation
// is reported removed and its scan decided run → wait, per incident and in
// total, on SQLite and PostgreSQL.
func TestBacktest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixtureOn(t, auth.Rate{PerSecond: -1}, st)
		withIngest(f)
		sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
		if err != nil {
			t.Fatal(err)
		}
		if resp := f.call("al", "POST", "/api/v1/alerts", string(sample), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("ingest: HTTP %d", resp.StatusCode)
		}
		if resp := f.call("adam", "PUT", "/api/v1/settings/automation", `{"default":"full"}`, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("settings: HTTP %d", resp.StatusCode)
		}
		pb, err := playbook.Parse("contain.yaml", []byte(backtestBaseline))
		if err != nil {
			t.Fatal(err)
		}
		f.srv.Playbooks = []*playbook.Playbook{pb}

		var got api.BacktestResponse
		body := backtestBody(t, "", "cand/contain.yaml", backtestCandidate)
		if resp := f.call("vic", "POST", "/api/v1/playbooks/backtest", body, &got); resp.StatusCode != http.StatusOK {
			t.Fatalf("backtest: HTTP %d %+v", resp.StatusCode, got)
		}
		if got.Total != 3 || got.Incidents != 3 || got.Changed != 3 || got.Unchanged != 0 || got.Failed != 0 || len(got.Results) != 3 {
			t.Fatalf("backtest of 3 incidents: %+v", got)
		}
		if !slices.Equal(got.Baseline, []string{"contain v1"}) || !slices.Equal(got.Candidate, []string{"contain v2"}) {
			t.Errorf("sets named %v and %v", got.Baseline, got.Candidate)
		}
		if got.Results[0].IncidentID < got.Results[2].IncidentID {
			t.Errorf("incidents not newest first: %d before %d", got.Results[0].IncidentID, got.Results[2].IncidentID)
		}
		for _, r := range got.Results {
			kinds := map[string]string{}
			for _, d := range r.Differences {
				kinds[d.Action()] = d.Kind + " " + d.Change()
			}
			if kinds["device.isolate"] != "removed " || kinds["device.run_av_scan"] != "decision run → wait" {
				t.Errorf("incident %d: differences %+v", r.IncidentID, r.Differences)
			}
		}
		wantTotals := []plan.Count{
			{Kind: plan.DiffRemoved, Action: "device.isolate", Count: 3, Incidents: 3},
			{Kind: plan.DiffDecision, Action: "device.run_av_scan", Change: "run → wait", Count: 3, Incidents: 3},
		}
		if !slices.Equal(got.Totals, wantTotals) {
			t.Errorf("totals %+v, want %+v", got.Totals, wantTotals)
		}

		// The same set is no difference: counted, listed only with verbose.
		same := backtestBody(t, "", "contain.yaml", backtestBaseline)
		got = api.BacktestResponse{}
		f.call("vic", "POST", "/api/v1/playbooks/backtest", same, &got)
		if got.Incidents != 3 || got.Unchanged != 3 || len(got.Results) != 0 || len(got.Totals) != 0 {
			t.Errorf("backtest of the loaded set: %+v", got)
		}
		got = api.BacktestResponse{}
		f.call("vic", "POST", "/api/v1/playbooks/backtest", backtestBody(t, `,"verbose":true,"limit":2`, "contain.yaml", backtestBaseline), &got)
		if got.Total != 3 || got.Incidents != 2 || len(got.Results) != 2 {
			t.Errorf("verbose backtest of 2: %+v", got)
		}

		// A token scoped to Servers backtests the incidents it sees.
		got = api.BacktestResponse{}
		f.call("sam", "POST", "/api/v1/playbooks/backtest", body, &got)
		if got.Total != 1 || len(got.Results) != 1 || got.Results[0].IncidentID != f.inc2 {
			t.Errorf("scoped backtest: %+v", got)
		}

		// An empty window says so.
		got = api.BacktestResponse{}
		if resp := f.call("vic", "POST", "/api/v1/playbooks/backtest", backtestBody(t, `,"since":"2001-01-01","until":"2001-01-08T00:00:00Z"`, "c.yaml", backtestCandidate), &got); resp.StatusCode != http.StatusOK ||
			got.Total != 0 || got.Incidents != 0 || !strings.Contains(got.Note, "no incident") {
			t.Errorf("empty window: HTTP %d %+v", resp.StatusCode, got)
		}
	})
}

// TestBacktestRefusals: who may call it, and bad input named.
func TestBacktestRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	f.srv.PlanConcurrency = 1
	good := backtestBody(t, "", "contain.yaml", backtestCandidate)
	for _, who := range []string{"vic", "al", "rita", "adam", "sam"} {
		if resp := f.call(who, "POST", "/api/v1/playbooks/backtest", good, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("as %s: HTTP %d", who, resp.StatusCode)
		}
	}
	if resp := f.call("", "POST", "/api/v1/playbooks/backtest", good, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: HTTP %d", resp.StatusCode)
	}
	// It takes a plan evaluation slot, as plan mode does.
	release, err := f.srv.PlanSlot()
	if err != nil {
		t.Fatal(err)
	}
	var busy errResp
	if resp := f.call("vic", "POST", "/api/v1/playbooks/backtest", good, &busy); resp.StatusCode != http.StatusTooManyRequests ||
		resp.Header.Get("Retry-After") == "" || !strings.Contains(busy.Error.Message, "plan evaluations are running") {
		t.Errorf("while busy: HTTP %d %+v", resp.StatusCode, busy.Error)
	}
	release()

	broken := strings.Replace(backtestCandidate, "device.run_av_scan", "device.scan_everything", 1)
	for _, tt := range []struct {
		body, field string
		message     *regexp.Regexp
	}{
		{backtestBody(t, "", "dir/contain.yaml", broken), "playbooks", regexp.MustCompile(`^dir/contain\.yaml:\d+:\d+: .*device\.scan_everything`)},
		{backtestBody(t, "", "dir/contain.yaml", "name: [x"), "playbooks", regexp.MustCompile(`^dir/contain\.yaml:\d+:\d+: `)},
		{`{"playbooks":[]}`, "playbooks", nil},
		{backtestBody(t, "", "", backtestCandidate), "playbooks[0].file", nil},
		{backtestBody(t, `,"since":"yesterday"`, "c.yaml", backtestCandidate), "since", regexp.MustCompile(`7d`)},
		{backtestBody(t, `,"since":"-3d"`, "c.yaml", backtestCandidate), "since", nil},
		{backtestBody(t, `,"since":"1d","until":"2d"`, "c.yaml", backtestCandidate), "since", nil},
		{backtestBody(t, `,"limit":1001`, "c.yaml", backtestCandidate), "limit", nil},
		{backtestBody(t, `,"assume":"maybe"`, "c.yaml", backtestCandidate), "assume", nil},
		{backtestBody(t, `,"window":"7d"`, "c.yaml", backtestCandidate), "window", nil},
	} {
		var e errResp
		resp := f.call("vic", "POST", "/api/v1/playbooks/backtest", tt.body, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Field != tt.field || (tt.message != nil && !tt.message.MatchString(e.Error.Message)) {
			t.Errorf("%.80s: HTTP %d %+v, want 400 naming %q", tt.body, resp.StatusCode, e.Error, tt.field)
		}
	}
}
