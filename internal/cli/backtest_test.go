package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store/storetest"
)

const (
	// The running playbook isolates malicious workstations and scans every
	// malicious device; the candidate scans only, with an approval.
	runningContain = `name: contain
version: 1
stages:
  containment:
    - id: isolate
      for_each: filter(devices, {.verdict == "malicious" and .deviceGroup == "Workstations"})
      action: device.isolate
    - id: scan
      for_each: filter(devices, {.verdict == "malicious"})
      action: device.run_av_scan
`
	candidateContain = `name: contain
version: 2
stages:
  containment:
    - id: scan
      for_each: filter(devices, {.verdict == "malicious"})
      action: device.run_av_scan
      approval: required
`
)

// backtestAPI serves the real API, running runningContain under full
// automation, over a SQLite store holding n incidents (one malicious
// device each: even ones workstations, odd ones servers), and returns a
// viewer's Env.
func backtestAPI(t *testing.T, n int) Env {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	log := logrus.New()
	log.SetOutput(io.Discard)
	pb, err := playbook.Parse("contain.yaml", []byte(runningContain))
	if err != nil {
		t.Fatal(err)
	}
	access := &auth.Service{Store: st}
	srv := &api.Server{Store: st, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}},
		Playbooks: []*playbook.Playbook{pb}, DefaultAutomation: policy.Settings{Default: policy.Full}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	seedDevices(t, st, n)
	c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: "vic", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	return Env{BaseURL: hs.URL, Token: c.Secret}
}

// seedDevices stores n incidents, one malicious device each.
func seedDevices(t testing.TB, st *storetest.Store, n int) {
	t.Helper()
	now := time.Now().UTC()
	for i := range n {
		group := "Workstations"
		if i%2 == 1 {
			group = "Servers"
		}
		dev := fmt.Sprintf("dev%03d", i)
		a := &domain.Alert{ID: "bt-" + dev, Title: "malware on " + dev, Status: domain.AlertNew, Severity: domain.SeverityHigh,
			Category: "Execution", ServiceSource: "microsoftDefenderForEndpoint", CreatedDateTime: now, LastUpdateDateTime: now,
			Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
				Key: domain.EntityKey("device:" + dev), Kind: domain.KindDevice, Name: dev, Verdict: domain.VerdictMalicious,
				Attrs: map[string]string{"deviceGroup": group}}}}}
		if _, err := st.IngestAlert(context.Background(), a, correlate.Rules{}); err != nil {
			t.Fatal(err)
		}
	}
}

func writeCandidate(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"contain.yaml": src, "contain.test.yaml": "not: [a playbook"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPlaybooksBacktest(t *testing.T) {
	t.Parallel()
	env := backtestAPI(t, 60)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &errb
		code := Run(context.Background(), e, append([]string{"playbooks", "backtest"}, args...))
		return code, out.String(), errb.String()
	}
	dir := writeCandidate(t, candidateContain)

	// 60 incidents in two batches, with progress; 30 workstations lose
	// their isolation, every scan now waits.
	code, out, errs := run("--since", "7d", "--against", dir)
	if code != 0 {
		t.Fatalf("backtest: exit %d\n%s%s", code, out, errs)
	}
	if errs != "backtest: 50/60 incidents\nbacktest: 60/60 incidents\n" {
		t.Errorf("progress: %q", errs)
	}
	for _, want := range []string{
		"running:   contain v1\n", "candidate: contain v2\n",
		"60 incidents: 60 would change, 0 the same, 0 failed to plan\n",
		"  - removed   contain/isolate  device.isolate  device:dev000  was run\n",
		"  ~ decision  contain/scan  device.run_av_scan  device:dev001  run → wait\n",
		"        now: playbook step requires approval\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	totals := regexp.MustCompile(`(?m)^  removed\s+device\.isolate\s+30\s+30$\n^  decision\s+device\.run_av_scan\s+run → wait\s+60\s+60$`)
	if !totals.MatchString(out) {
		t.Errorf("totals:\n%s", out[strings.Index(out, "Totals:"):])
	}

	// -json, limited: the API's answer, merged.
	code, out, errs = run("-json", "--limit", "5", "--against", dir)
	var res api.BacktestResponse
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Total != 60 || res.Incidents != 5 || len(res.Results) != 5 || errs != "" {
		t.Errorf("-json --limit 5: exit %d %+v\n%s%s", code, res, out, errs)
	}

	// The running set itself: no difference, counted; -v lists them.
	same := writeCandidate(t, runningContain)
	code, out, _ = run("--limit", "3", "--against", same)
	if code != 0 || !strings.Contains(out, "3 incidents: 0 would change, 3 the same") || strings.Contains(out, "Incident ") ||
		!strings.Contains(out, "No difference") {
		t.Errorf("the same set: exit %d\n%s", code, out)
	}
	if code, out, _ = run("--limit", "3", "-v", "--against", same); code != 0 || strings.Count(out, "  no difference\n") != 3 {
		t.Errorf("-v: exit %d\n%s", code, out)
	}

	// An empty window says so.
	if code, out, _ = run("--since", "2001-01-01", "--until", "2001-01-08", "--against", dir); code != 0 || !strings.Contains(out, "No incident was updated in the window") {
		t.Errorf("empty window: exit %d\n%s", code, out)
	}

	// Bad input.
	broken := writeCandidate(t, strings.Replace(candidateContain, "for_each:", "for_each: [", 1))
	for _, tt := range []struct {
		args []string
		code int
		errs *regexp.Regexp
	}{
		{[]string{"--since", "last week", "--against", dir}, 2, regexp.MustCompile(`--since: want a duration`)},
		{[]string{"--until", "0d", "--against", dir}, 2, regexp.MustCompile(`--until: `)},
		{[]string{"--limit", "-1", "--against", dir}, 2, regexp.MustCompile(`--limit`)},
		{[]string{dir}, 2, regexp.MustCompile(`--against`)},
		{[]string{"--against", filepath.Join(dir, "nope")}, 1, regexp.MustCompile(`--against: .*no such file`)},
		{[]string{"--against", t.TempDir()}, 1, regexp.MustCompile(`no playbook`)},
		{[]string{"--against", broken}, 1, regexp.MustCompile(`invalid \(400\): playbooks: .*contain\.yaml:\d+:\d+: `)},
	} {
		if code, out, errs := run(tt.args...); code != tt.code || !tt.errs.MatchString(errs) {
			t.Errorf("%q: exit %d, want %d; stderr %q\n%s", tt.args, code, tt.code, errs, out)
		}
	}
}

// sampleIncidents stores n incidents, each the sample Graph alert (a
// malicious device and file, a suspicious user and IP) re-keyed to
// entities of its own so that none correlates with another.
func sampleIncidents(b testing.TB, st *storetest.Store, n int) {
	b.Helper()
	raw, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		// Ids that look like the real ones: hashes of the index.
		id := sha256.Sum256([]byte(strconv.Itoa(i)))
		hexID := hex.EncodeToString(id[:])
		doc := strings.NewReplacer(
			`"da638`, fmt.Sprintf(`"bt%05d-da638`, i),
			"2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9", hexID[:40],
			"c81f3a2e-4b6d-4e0f-9a7c-2d5b8e1f0a63", fmt.Sprintf("c81f3a2e-4b6d-4e0f-9a7c-%012x", i),
			"ws-042", fmt.Sprintf("ws-%04d", i), "WS-042", fmt.Sprintf("WS-%04d", i),
			"alice", fmt.Sprintf("user%04d", i), "Alice Martin", fmt.Sprintf("User %d", i),
			"1887927527-1107", fmt.Sprintf("1887927527-%d", 5000+i),
			"7d3e9b52-1a4c-4f8e-b6d0-3c2a5e9f8b17", fmt.Sprintf("7d3e9b52-1a4c-4f8e-b6d0-%012x", i),
			"0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f", hexID[24:],
			"4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6", hexID[32:]+hexID[:32],
			"203.0.113.77", fmt.Sprintf("10.%d.%d.7", i/250, i%250),
			"3b1f0e62-9c4d-4b8a-a1f3-6d2e8c7b5a90", fmt.Sprintf("3b1f0e62-9c4d-4b8a-a1f3-%012x", i),
		).Replace(string(raw))
		alerts, problems, err := decode.Decode(strings.NewReader(doc))
		if err != nil || len(problems) > 0 || len(alerts) != 1 {
			b.Fatalf("alert %d: %v %+v", i, err, problems)
		}
		if _, err := st.IngestAlert(context.Background(), alerts[0], correlate.Rules{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlaybooksBacktest500 measures `starter playbooks backtest` end
// to end — the command, HTTP, the API reading 500 stored incidents from
// SQLite and planning each with the shipped playbooks and with a copy
// whose device isolation needs an approval — per backtest of all 500:
//
//	go test ./internal/cli -run '^$' -bench PlaybooksBacktest500 -benchtime 5x
func BenchmarkPlaybooksBacktest500(b *testing.B) {
	const n = 500
	ctx := context.Background()
	st := storetest.SQLite(b)
	sampleIncidents(b, st, n)
	books, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	files, _ := filepath.Glob("../../playbooks/*.yaml")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if filepath.Base(f) == "contain-device.yaml" {
			src = []byte(strings.Replace(string(src), "action: device.isolate\n", "action: device.isolate\n      approval: required\n", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	srv := &api.Server{Store: st, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}},
		Playbooks: books, DefaultAutomation: policy.Settings{Default: policy.Full}}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(hs.Close)
	c, err := access.CreateToken(ctx, "bench", auth.NewToken{Name: "vic", Role: auth.Viewer})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	env := Env{BaseURL: hs.URL, Token: c.Secret, Stdout: &out, Stderr: io.Discard}
	for b.Loop() {
		out.Reset()
		if code := Run(ctx, env, []string{"playbooks", "backtest", "--since", "1d", "--against", dir}); code != 0 {
			b.Fatalf("exit %d\n%s", code, out.String())
		}
	}
	if !strings.Contains(out.String(), fmt.Sprintf("%d incidents: %d would change", n, n)) {
		b.Fatalf("not every incident differs:\n%.2000s", out.String())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/incident")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "%.3000s\n…\n%s", out.String(), out.String()[strings.Index(out.String(), "Totals:"):])
	}
}
