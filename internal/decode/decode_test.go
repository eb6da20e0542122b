package decode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// sharedData holds the public samples shared by the project; tests that
// read it skip with a message where it is absent.
const sharedData = "../../../shared/data"

func entityKeys(a *domain.Alert) []string {
	var out []string
	for _, ev := range a.Evidence {
		if ev.Entity != nil && !slices.Contains(out, string(ev.Entity.Key)) {
			out = append(out, string(ev.Entity.Key))
		}
	}
	slices.Sort(out)
	return out
}

func decodeFile(t *testing.T, path string) ([]*domain.Alert, []graph.Problem) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	alerts, problems, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Decode(%s): %v", path, err)
	}
	return alerts, problems
}

func TestSameAlertInThreeFormats(t *testing.T) {
	t.Parallel()
	want := []string{
		"device:2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9",
		"file:4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
		"ip:2001:db8::1",
		"url:https://evil.example/payload",
		"user:alice@corp.example",
	}
	for _, f := range []string{"same-graph.json", "same-ocsf.json", "same-sentinel.json"} {
		t.Run(f, func(t *testing.T) {
			alerts, problems := decodeFile(t, filepath.Join("testdata", f))
			if len(alerts) != 1 || len(problems) != 0 {
				t.Fatalf("got %d alerts, problems %+v; want 1 alert", len(alerts), problems)
			}
			a := alerts[0]
			if got := entityKeys(a); !slices.Equal(got, want) {
				t.Errorf("entity keys\n got %q\nwant %q", got, want)
			}
			if a.ID != "da-1" || a.Severity != domain.SeverityHigh || a.Category != "CredentialAccess" {
				t.Errorf("id, severity, category = %q, %q, %q; want da-1, high, CredentialAccess", a.ID, a.Severity, a.Category)
			}
			if !slices.Contains(a.MitreTechniques, "T1003") {
				t.Errorf("techniques = %v, want T1003", a.MitreTechniques)
			}
			if want := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC); !a.LastUpdateDateTime.Equal(want) {
				t.Errorf("lastUpdateDateTime = %v, want %v", a.LastUpdateDateTime, want)
			}
		})
	}
}

func TestUnknownEvidenceKeptAndReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"same-ocsf.json", []string{"ocsf.database"}},
		{"same-sentinel.json", []string{"sentinel.malware"}},
		{"same-graph.json", nil},
	}
	for _, tt := range tests {
		alerts, _ := decodeFile(t, filepath.Join("testdata", tt.file))
		if got := graph.UnknownEvidenceTypes(alerts[0]); !slices.Equal(got, tt.want) {
			t.Errorf("%s: unknown evidence = %q, want %q", tt.file, got, tt.want)
		}
		raw, _ := os.ReadFile(filepath.Join("testdata", tt.file))
		if !bytes.Equal(bytes.TrimSpace(alerts[0].Raw), bytes.TrimSpace(raw)) {
			t.Errorf("%s: Raw is not the item as sent", tt.file)
		}
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Format
	}{
		{`{"id":"a","title":"x"}`, Graph},
		{`{"class_uid":2004}`, OCSF},
		{`{"SystemAlertId":"x"}`, Sentinel},
		{`{"Type":"SecurityAlert","AlertName":"x"}`, Sentinel},
		{`{"id":"a","title":"mentions \"class_uid\" in text"}`, Graph},
		{`{"id":"a","description":"SecurityAlert"}`, Graph},
		{`not json "class_uid"`, Graph},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestPublicSamples(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(sharedData); err != nil {
		t.Skipf("public samples not available at %s: %v", sharedData, err)
	}
	tests := []struct {
		file      string
		wantID    string
		wantSev   domain.Severity
		wantKeys  []string
		wantUnkwn []string
	}{
		{"ocsf/examples_okta_detection_finding.ocsf.json", "dc9fd3c0-598c-11ef-8478-2b7584bf8d5a", domain.SeverityUnknown,
			[]string{"ip:10.0.0.1"}, nil},
		{"ocsf/examples_sechub-guardduty_detection_finding.ocsf.json",
			"arn:aws:guardduty:us-east-2:111111111111:detector/1ac1bfceda6679698215d5d0EXAMPLE/finding/a6c556fcbc9bea427a19f8b787099a0b",
			domain.SeverityLow, []string{"ip:52.94.133.131"}, []string{"ocsf.api"}},
		{"ocsf/examples_qradar_offense_security_finding.ocsf.json", "591", domain.SeverityUnknown,
			[]string{"ip:77.77.77.77", "ip:88.88.88.88", "ip:99.99.99.99"}, nil},
		{"graph/elastic_microsoft_sentinel_test-event_SecurityAlert.ndjson", "jnfjrdnkr-7cbd-5454-9c61-455cc9818f50",
			domain.SeverityHigh, nil, nil},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			alerts, problems := decodeFile(t, filepath.Join(sharedData, tt.file))
			if len(alerts) != 1 || len(problems) != 0 {
				t.Fatalf("got %d alerts, problems %+v; want 1 alert", len(alerts), problems)
			}
			a := alerts[0]
			if a.ID != tt.wantID || a.Severity != tt.wantSev {
				t.Errorf("id, severity = %q, %q; want %q, %q", a.ID, a.Severity, tt.wantID, tt.wantSev)
			}
			if got := entityKeys(a); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("keys = %q, want %q", got, tt.wantKeys)
			}
			if got := graph.UnknownEvidenceTypes(a); !slices.Equal(got, tt.wantUnkwn) {
				t.Errorf("unknown evidence = %q, want %q", got, tt.wantUnkwn)
			}
			if a.CreatedDateTime.IsZero() || a.LastUpdateDateTime.Before(a.CreatedDateTime) {
				t.Errorf("times: created %v, updated %v", a.CreatedDateTime, a.LastUpdateDateTime)
			}
		})
	}
	t.Run("sentinel account without domain is kept unkeyed", func(t *testing.T) {
		alerts, _ := decodeFile(t, filepath.Join(sharedData, "graph/elastic_microsoft_sentinel_test-event_SecurityAlert.ndjson"))
		if len(alerts[0].Evidence) != 1 || alerts[0].Evidence[0].Type != "userEvidence" || alerts[0].Evidence[0].Entity != nil {
			t.Errorf("evidence = %+v, want one unkeyed userEvidence", alerts[0].Evidence)
		}
	})
	t.Run("graph samples decode through the dispatcher", func(t *testing.T) {
		paths, _ := filepath.Glob(filepath.Join(sharedData, "graph", "elastic_m365_defender_*.ndjson"))
		for _, p := range paths {
			alerts, problems := decodeFile(t, p)
			if len(alerts) == 0 {
				t.Errorf("%s: no alerts (problems %+v)", p, problems)
			}
		}
	})
}

func TestBadItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantField string
		wantIn    string
	}{
		{"ocsf wrong class", `{"class_uid":3001,"finding_info":{"uid":"x"},"time":1}`, "class_uid", "2004"},
		{"ocsf no id", `{"class_uid":2004,"time":1700000000000}`, "finding_info.uid", "required"},
		{"ocsf 2001 no id", `{"class_uid":2001,"time":1700000000000}`, "finding.uid", "required"},
		{"ocsf no time", `{"class_uid":2004,"finding_info":{"uid":"x"}}`, "time", "required"},
		{"ocsf bad time", `{"class_uid":2004,"finding_info":{"uid":"x"},"time":"soon"}`, "time", "number"},
		{"ocsf bad time_dt", `{"class_uid":2004,"finding_info":{"uid":"x"},"time_dt":"yesterday"}`, "time_dt", "RFC 3339"},
		{"ocsf evidences not array", `{"class_uid":2004,"finding_info":{"uid":"x"},"time":1700000000000,"evidences":3}`, "evidences", "array"},
		{"ocsf evidence item wrong", `{"class_uid":2004,"finding_info":{"uid":"x"},"time":1700000000000,"evidences":[{"device":"ws1"}]}`, "evidences[0].device", "object"},
		{"sentinel no id", `{"SystemAlertId":"","TimeGenerated":"2024-09-26T05:23:30Z"}`, "SystemAlertId", "required"},
		{"sentinel entities not json", `{"SystemAlertId":"s","TimeGenerated":"2024-09-26T05:23:30Z","Entities":"[{"}`, "Entities", "JSON array"},
		{"sentinel entities wrong type", `{"SystemAlertId":"s","TimeGenerated":"2024-09-26T05:23:30Z","Entities":5}`, "Entities", "string"},
		{"sentinel bad time", `{"SystemAlertId":"s","TimeGenerated":"noon"}`, "TimeGenerated", "RFC 3339"},
		{"sentinel techniques", `{"SystemAlertId":"s","TimeGenerated":"2024-09-26T05:23:30Z","Techniques":"[1]"}`, "Techniques", "JSON array"},
		{"graph bad severity", `{"id":"g","severity":"severe"}`, "severity", "unknown value"},
		{"nul in graph title", `{"id":"g","title":"a\u0000b"}`, "title", "NUL character"},
		{"nul in evidence", `{"id":"g","evidence":[{"@odata.type":"#microsoft.graph.security.fileEvidence","fileDetails":{"fileName":"x\u0000"}}]}`, "evidence[0].fileDetails.fileName", "NUL character"},
		{"nul in a key", `{"id":"g","a\u0000":1}`, `a\u0000`, "NUL character"},
		{"nul in ocsf", `{"class_uid":2004,"finding_info":{"uid":"x\u0000"},"time":1}`, "finding_info.uid", "NUL character"},
		{"nul in sentinel entities", `{"SystemAlertId":"s","TimeGenerated":"2024-09-26T05:23:30Z","Entities":"[{\"Type\":\"host\",\"HostName\":\"h\\u0000\"}]"}`, "evidence[0].entity.key", "NUL character"},
		{"only an id", `{"id":"g"}`, "title", "no title, no createdDateTime and no evidence"},
		{"only an id and a severity", `{"id":"g","severity":"high"}`, "title", "no title, no createdDateTime and no evidence"},
		{"too deep", `{"class_uid":2004,"x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "", "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts, problems, err := Decode(strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("Decode: %v (want a per-item problem)", err)
			}
			if len(alerts) != 0 || len(problems) != 1 {
				t.Fatalf("got %d alerts, problems %+v; want one problem", len(alerts), problems)
			}
			p := problems[0]
			if p.Field != tt.wantField || !strings.Contains(p.Reason, tt.wantIn) {
				t.Errorf("problem = %+v; want field %q, reason containing %q", p, tt.wantField, tt.wantIn)
			}
		})
	}
}

func TestMixedBatchKeepsGoodItems(t *testing.T) {
	t.Parallel()
	body := `{"id":"g1","title":"graph"}
{"class_uid":2004,"finding_info":{"uid":"o1","title":"ocsf"},"time":1700000000000}
{"SystemAlertId":"s1","TimeGenerated":"2024-09-26T05:23:30Z","AlertName":"sentinel"}
{"class_uid":2004}
not json
`
	alerts, problems, err := Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alerts {
		got = append(got, a.ID)
	}
	if want := []string{"g1", "o1", "s1"}; !slices.Equal(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	if len(problems) != 2 || problems[0].Index != 3 || problems[1].Index != 4 {
		t.Errorf("problems = %+v, want items 3 and 4", problems)
	}
}

// TestNULItemsAreRefusedAlone checks that a NUL in one item (which
// PostgreSQL cannot store) refuses that item only, and that an escaped
// backslash followed by the text u0000 is not a NUL.
func TestNULItemsAreRefusedAlone(t *testing.T) {
	t.Parallel()
	body := `[{"id":"g1","title":"ok"},{"id":"g2","title":"a\u0000"},{"id":"g3","title":"C:\\u0000"}]`
	alerts, problems, err := Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alerts {
		got = append(got, a.ID)
	}
	if want := []string{"g1", "g3"}; !slices.Equal(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	if len(problems) != 1 || problems[0].Index != 1 || problems[0].ID != "g2" || problems[0].Field != "title" {
		t.Errorf("problems = %+v, want item 1 (g2) naming title", problems)
	}
}

func TestBodyTooDeep(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	_, _, err := Decode(strings.NewReader(body))
	if domain.KindOf(err) != domain.KindInvalid || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("err = %v, want an invalid error about nesting", err)
	}
}

func TestCamel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Credential Access", "CredentialAccess"},
		{"command-and-control", "CommandAndControl"},
		{"Defense Evasion", "DefenseEvasion"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := camel(tt.in); got != tt.want {
			t.Errorf("camel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOCSFEvidenceMapping(t *testing.T) {
	t.Parallel()
	alerts, problems := decodeFile(t, "testdata/ocsf-all-evidence.json")
	if len(alerts) != 1 || len(problems) != 0 {
		t.Fatalf("got %d alerts, problems %+v", len(alerts), problems)
	}
	a := alerts[0]
	want := []string{
		"device:2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9",
		"device:srv-01.corp.example",
		"file:0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f",
		"ip:198.51.100.7",
		"mailbox:shared@corp.example",
		"message:5b4c3d2e-0000-4000-8000-000000000001",
		"process:2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9:4242:2026-03-02T07:00:00Z",
		"url:https://evil.example/login",
		"user:S-1-5-21-1-2-3-500",
		"user:alice@corp.example",
	}
	if got := entityKeys(a); !slices.Equal(got, want) {
		t.Errorf("keys\n got %q\nwant %q", got, want)
	}
	if a.ID != "edr-42" || a.Severity != domain.SeverityHigh || a.Status != domain.AlertInProgress {
		t.Errorf("id, severity, status = %q, %q, %q; want edr-42, high (critical), inProgress", a.ID, a.Severity, a.Status)
	}
	if a.Category != "InitialAccess" || !slices.Equal(a.MitreTechniques, []string{"T1566", "T1566.001", "T1003"}) {
		t.Errorf("category %q, techniques %v", a.Category, a.MitreTechniques)
	}
	if a.DetectorID != "rule-7" || a.ProductName != "EDR" {
		t.Errorf("detector %q, product %q", a.DetectorID, a.ProductName)
	}
	if want := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC); !a.CreatedDateTime.Equal(want) || a.FirstActivityDateTime == nil || !a.FirstActivityDateTime.Equal(want) {
		t.Errorf("created %v, first activity %v; want %v (the _dt offset applied)", a.CreatedDateTime, a.FirstActivityDateTime, want)
	}
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key == "file:0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f" && ev.Verdict != domain.VerdictMalicious {
			t.Errorf("file verdict = %s, want malicious (verdict_id 2)", ev.Verdict)
		}
	}
}

// TestFileReadsEveryPassThenNothing: an NDJSON file read in batches that
// do not divide it gives every alert of every pass, renamed after the
// first, and then empty batches rather than an error.
func TestFileReadsEveryPassThenNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "alerts.ndjson")
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, `{"@odata.type":"#microsoft.graph.security.alert","id":"f-%d","title":"t","severity":"low","createdDateTime":"2026-12-01T09:00:00Z","lastUpdateDateTime":"2026-12-01T09:00:00Z"}`+"\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenFile(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var ids []string
	for range 5 {
		batch, err := rd.Next(2)
		if err != nil {
			t.Fatalf("after %v: %v", ids, err)
		}
		for _, a := range batch {
			ids = append(ids, a.ID)
		}
	}
	if want := []string{"f-0", "f-1", "f-2", "f-0-r1", "f-1-r1", "f-2-r1"}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if n, err := CountItems(path, 2); n != 6 || err != nil {
		t.Errorf("CountItems: %d, %v; want 6", n, err)
	}
}

// TestShiftRawMatchesFilePasses: a replay that posts raw items (ShiftRaw)
// gives each pass the same ids and times as File gives the decoded alerts,
// and a raw item without a string id is refused, not posted as is.
func TestShiftRawMatchesFilePasses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "alerts.ndjson")
	line := `{"@odata.type":"#microsoft.graph.security.alert","id":"s-1","title":"t","severity":"low","createdDateTime":"2026-12-01T09:00:00Z","lastUpdateDateTime":"2026-12-01T09:05:00.5Z","firstActivityDateTime":"2026-12-01T08:59:00Z"}`
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadItems(path)
	if err != nil || len(items) != 1 {
		t.Fatalf("ReadItems: %d items, %v", len(items), err)
	}
	rd, err := OpenFile(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	decoded, err := rd.Next(3)
	if err != nil || len(decoded) != 3 {
		t.Fatalf("Next: %d alerts, %v", len(decoded), err)
	}
	for pass, want := range decoded {
		raw, err := ShiftRaw(items[0], pass)
		if err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		got, _, derr := Item(raw)
		if derr != nil {
			t.Fatalf("pass %d: %s does not decode: %v", pass, raw, derr)
		}
		if got.ID != want.ID || !got.CreatedDateTime.Equal(want.CreatedDateTime) ||
			!got.LastUpdateDateTime.Equal(want.LastUpdateDateTime) || !got.FirstActivityDateTime.Equal(*want.FirstActivityDateTime) {
			t.Errorf("pass %d: raw gives %s %s %s %s, File gives %s %s %s %s", pass,
				got.ID, got.CreatedDateTime, got.LastUpdateDateTime, got.FirstActivityDateTime,
				want.ID, want.CreatedDateTime, want.LastUpdateDateTime, want.FirstActivityDateTime)
		}
	}
	if _, err := ShiftRaw([]byte(`{"id":7}`), 1); err == nil {
		t.Error("ShiftRaw took a numeric id")
	}
}

func TestContainsAround(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s, sep string
		rare   byte
	}{
		{`{"class_uid":2004}`, `"class_uid"`, '_'},
		{`{"a_b":"class_uid","c":"_"}`, `"class_uid"`, '_'},
		{`"class_uid"`, `"class_uid"`, '_'},
		{`"class_uid`, `"class_uid"`, '_'},
		{`class_uid"`, `"class_uid"`, '_'},
		{`_"class_uid"_`, `"class_uid"`, '_'},
		{`{"S":"SS","SystemAlertId":"x"}`, `"SystemAlertId"`, 'S'},
		{`{"S":"SS","SystemAlertI":"x"}`, `"SystemAlertId"`, 'S'},
		{`S`, `"SecurityAlert"`, 'S'},
		{``, `u0000`, 'u'},
		{`uu0000`, `u0000`, 'u'},
		{`u000u0000`, `u0000`, 'u'},
		{`u000`, `u0000`, 'u'},
		{`abc`, `b`, 'x'}, // rare not in sep: plain bytes.Contains
	}
	for _, tt := range tests {
		if got, want := containsAround([]byte(tt.s), []byte(tt.sep), tt.rare), strings.Contains(tt.s, tt.sep); got != want {
			t.Errorf("containsAround(%q, %q, %q) = %v, want %v", tt.s, tt.sep, tt.rare, got, want)
		}
	}
}
