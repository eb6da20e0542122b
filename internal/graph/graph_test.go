package graph

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// samplesDir holds the public Graph samples shared by the project.
const samplesDir = "../../../shared/data/graph"

func decodeString(t *testing.T, body string) ([]*domain.Alert, []Problem, error) {
	t.Helper()
	return Decode(strings.NewReader(body))
}

func ids(alerts []*domain.Alert) []string {
	out := []string{}
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	return out
}

// keys returns the entity keys of an alert's evidence, "" for evidence
// without an entity.
func keys(a *domain.Alert) []domain.EntityKey {
	var out []domain.EntityKey
	for _, ev := range a.Evidence {
		if ev.Entity == nil {
			out = append(out, "")
			continue
		}
		out = append(out, ev.Entity.Key)
	}
	return out
}

func entityOf(t *testing.T, a *domain.Alert, kind domain.EntityKind) *domain.Entity {
	t.Helper()
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Kind == kind {
			return ev.Entity
		}
	}
	t.Fatalf("alert %s: no %s entity in %v", a.ID, kind, keys(a))
	return nil
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return tm
}

func TestDecodeSamples(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("public samples not available at %s: %v", samplesDir, err)
	}
	tests := []struct {
		file         string
		wantIDs      []string
		wantProblems []Problem
		wantKeys     []domain.EntityKey
		wantSeverity domain.Severity
		wantCreated  string
		wantAttrs    map[domain.EntityKind]map[string]string
	}{
		{
			file:         "elastic_m365_defender_alert-sample_line1.ndjson",
			wantIDs:      []string{"daefa1828b-dd4e-405c-8a3b-aa28596830dd_1"},
			wantSeverity: domain.SeverityMedium,
			wantCreated:  "2023-10-20T09:53:09.8839373Z",
			wantKeys: []domain.EntityKey{
				"device:505d70d89cfa3428f7aac7d2eb3a64c60fd3d843",
				"user:S-1-12-1-1485667349-1150190949-4065799612-2328216759",
				"url:http://127.0.0.1/1.exe",
				"ip:127.0.0.1",
				"process:505d70d89cfa3428f7aac7d2eb3a64c60fd3d843:8224:2023-10-20T09:51:39.4997961Z",
			},
			wantAttrs: map[domain.EntityKind]map[string]string{
				domain.KindDevice: {"mdeDeviceId": "505d70d89cfa3428f7aac7d2eb3a64c60fd3d843", "deviceDnsName": "clw555test",
					"osPlatform": "Windows11", "riskScore": "high", "healthStatus": "inactive"},
				domain.KindUser: {"accountName": "CDPUserIS-38411", "domainName": "AzureAD",
					"sid": "S-1-12-1-1485667349-1150190949-4065799612-2328216759"},
			},
		},
		{
			file:         "elastic_m365_defender_test-alert.ndjson",
			wantIDs:      []string{"da637551227677560813_-961444813"},
			wantSeverity: domain.SeverityLow,
			wantCreated:  "2021-04-27T12:19:27.7211305Z",
			wantKeys: []domain.EntityKey{
				"device:73e7e2de709dff64ef64b1d0c30e67fab63279db",
				"file:8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec",
				"process:73e7e2de709dff64ef64b1d0c30e67fab63279db:4780:2021-08-12T12:43:19.0772577Z",
				`registryKey:hkey_local_machine\system\controlset001\control\wmi\autologger\senseauditlogger`,
			},
			wantAttrs: map[domain.EntityKind]map[string]string{
				domain.KindDevice: {"mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db", "deviceDnsName": "tempDns",
					"osPlatform": "Windows10", "riskScore": "medium", "healthStatus": "active", "deviceGroup": "UnassignedGroup"},
				domain.KindFile: {"fileName": "MsSense.exe", "filePath": `C:\Program Files\temp`,
					"sha1":        "5f1e8acedc065031aad553b710838eb366cfee9a",
					"sha256":      "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec",
					"mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db"},
			},
		},
		{
			// A Microsoft Sentinel SecurityAlert row, not a Graph alert: it has
			// no "id", so it is reported, not ingested.
			file:         "elastic_microsoft_sentinel_test-event_SecurityAlert.ndjson",
			wantIDs:      []string{},
			wantProblems: []Problem{{Index: 0, Field: "id", Reason: "required"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join(samplesDir, tt.file))
			if err != nil {
				t.Skipf("sample %s not available: %v", tt.file, err)
			}
			defer f.Close()
			alerts, problems, err := Decode(f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := ids(alerts); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			if !slices.Equal(problems, tt.wantProblems) {
				t.Errorf("problems = %+v, want %+v", problems, tt.wantProblems)
			}
			if len(alerts) == 0 {
				return
			}
			a := alerts[0]
			if got := keys(a); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("entity keys = %q, want %q", got, tt.wantKeys)
			}
			if a.Severity != tt.wantSeverity {
				t.Errorf("severity = %q, want %q", a.Severity, tt.wantSeverity)
			}
			if want := mustTime(t, tt.wantCreated); !a.CreatedDateTime.Equal(want) {
				t.Errorf("createdDateTime = %v, want %v", a.CreatedDateTime, want)
			}
			if a.Status != domain.AlertNew {
				t.Errorf("status = %q, want %q", a.Status, domain.AlertNew)
			}
			for kind, want := range tt.wantAttrs {
				got := entityOf(t, a, kind).Attrs
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s attr %s = %q, want %q", kind, k, got[k], v)
					}
				}
			}
			if got := UnknownEvidenceTypes(a); len(got) != 0 {
				t.Errorf("UnknownEvidenceTypes = %v, want none", got)
			}
			if !json.Valid(a.Raw) || len(a.Raw) == 0 {
				t.Errorf("Raw is not the alert document: %.60q", a.Raw)
			}
		})
	}
}

func TestDecodeFixture(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/sample-alert.json")
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	alerts, problems, err := Decode(strings.NewReader(string(raw)))
	if err != nil || len(problems) != 0 || len(alerts) != 1 {
		t.Fatalf("Decode = %d alerts, problems %+v, err %v; want 1 alert, no problems", len(alerts), problems, err)
	}
	a := alerts[0]
	if a.Category != "Execution" || a.Severity != domain.SeverityHigh || a.Status != domain.AlertNew {
		t.Errorf("category, severity, status = %q, %q, %q; want Execution, high, new", a.Category, a.Severity, a.Status)
	}
	if string(a.Raw) != strings.TrimSpace(string(raw)) {
		t.Errorf("Raw differs from the fixture's bytes")
	}
	wantKeys := []domain.EntityKey{
		"device:2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9",
		"user:alice@corp.example",
		"file:4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
		"ip:203.0.113.77",
	}
	if got := keys(a); !slices.Equal(got, wantKeys) {
		t.Errorf("entity keys = %q, want %q", got, wantKeys)
	}
	tests := []struct {
		kind        domain.EntityKind
		wantName    string
		wantVerdict domain.Verdict
		wantAttrs   map[string]string
	}{
		{domain.KindDevice, "ws-042.corp.example", domain.VerdictMalicious, map[string]string{
			"mdeDeviceId": "2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9", "deviceDnsName": "ws-042.corp.example",
			"hostName": "WS-042", "deviceGroup": "Workstations", "osPlatform": "Windows11", "riskScore": "high",
			"healthStatus": "active", "lastIpAddress": "10.20.4.42",
			"ipInterfaces": "10.20.4.42,fe80::1c2b:3d4e:5f60:7182,127.0.0.1,::1"}},
		{domain.KindUser, "alice@corp.example", domain.VerdictSuspicious, map[string]string{
			"upn": "alice@corp.example", "accountName": "alice", "domainName": "CORP",
			"sid": "S-1-5-21-2127521184-1604012920-1887927527-1107", "azureAdUserId": "7d3e9b52-1a4c-4f8e-b6d0-3c2a5e9f8b17",
			"displayName": "Alice Martin"}},
		{domain.KindFile, "invoice_0314.exe", domain.VerdictMalicious, map[string]string{
			"fileName": "invoice_0314.exe", "filePath": `C:\Users\alice\AppData\Local\Temp`,
			"sha1":        "0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f",
			"sha256":      "4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
			"mdeDeviceId": "2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9"}},
		{domain.KindIP, "203.0.113.77", domain.VerdictSuspicious, map[string]string{
			"ipAddress": "203.0.113.77", "countryLetterCode": "NL"}},
	}
	for _, tt := range tests {
		e := entityOf(t, a, tt.kind)
		if e.Name != tt.wantName || e.Verdict != tt.wantVerdict {
			t.Errorf("%s: name, verdict = %q, %q; want %q, %q", tt.kind, e.Name, e.Verdict, tt.wantName, tt.wantVerdict)
		}
		if !mapsEqual(e.Attrs, tt.wantAttrs) {
			t.Errorf("%s: attrs = %v, want %v", tt.kind, e.Attrs, tt.wantAttrs)
		}
	}
	if got, want := a.Evidence[0].Roles, []string{"compromised"}; !slices.Equal(got, want) {
		t.Errorf("device roles = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestDecodeShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		body         string
		wantIDs      []string
		wantProblems []Problem
	}{
		{"single object", `{"id":"a","severity":"low"}`, []string{"a"}, nil},
		{"single object, whitespace and BOM", "\xEF\xBB\xBF \n {\"id\":\"a\"} \n\n", []string{"a"}, nil},
		{"pretty-printed object", "{\n  \"id\": \"a\",\n  \"title\": \"t\"\n}\n", []string{"a"}, nil},
		{"array", `[{"id":"a"},{"id":"b"}]`, []string{"a", "b"}, nil},
		{"empty array", `[]`, []string{}, nil},
		{"page", `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2","value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/security/alerts_v2?$skip=2"}`, []string{"a", "b"}, nil},
		{"empty page", `{"value":[]}`, []string{}, nil},
		{"page with null value", `{"value":null}`, []string{}, nil},
		{"ndjson", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n", []string{"a", "b"}, nil},
		{"ndjson with blank lines and CRLF", "\r\n{\"id\":\"a\"}\r\n\r\n   \n{\"id\":\"b\"}\r\n\n{\"id\":\"c\"}", []string{"a", "b", "c"}, nil},
		{"ndjson with a broken line", "{\"id\":\"a\"}\n\n{\"id\":\"b\",\n{\"id\":\"c\"}\n", []string{"a", "c"},
			[]Problem{{Index: 1, Field: "", Reason: "invalid JSON at line 3: unexpected end of line (truncated?)"}}},
		{"ndjson with a bad last byte", "{\"id\":\"a\"}\n{\"id\":\"b\"]\n", []string{"a"},
			[]Problem{{Index: 1, Field: "", Reason: "invalid JSON at line 2, column 10: invalid character ']' after object key:value pair"}}},
		{"ndjson with garbage line", "{\"id\":\"a\"}\nnot json\n", []string{"a"},
			[]Problem{{Index: 1, Field: "", Reason: "invalid JSON at line 2, column 2: invalid character 'o' in literal null (expecting 'u')"}}},
		{"ndjson with a non-object line", "{\"id\":\"a\"}\n[1]\n", []string{"a"},
			[]Problem{{Index: 1, Field: "", Reason: "want an object, got array"}}},
		{"stream of pretty-printed objects", "{\n \"id\": \"a\"\n}\n{\n \"id\": \"b\"\n}\n", []string{"a", "b"}, nil},
		{"duplicate ids are kept", `[{"id":"a","title":"first"},{"id":"a","title":"second"}]`, []string{"a", "a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alerts, problems, err := decodeString(t, tt.body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := ids(alerts); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			if !slices.Equal(problems, tt.wantProblems) {
				t.Errorf("problems = %+v, want %+v", problems, tt.wantProblems)
			}
			for _, a := range alerts {
				if !json.Valid(a.Raw) {
					t.Errorf("alert %s: Raw %q is not JSON", a.ID, a.Raw)
				}
			}
		})
	}
}

func TestDecodeRawIsExactItem(t *testing.T) {
	t.Parallel()
	body := "[ {\"id\": \"a\" ,\"x\":[1, 2]} ,\n{\"id\":\"b\"}]"
	alerts, _, err := decodeString(t, body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := []string{`{"id": "a" ,"x":[1, 2]}`, `{"id":"b"}`}
	var got []string
	for _, a := range alerts {
		got = append(got, string(a.Raw))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Raw = %q, want %q", got, want)
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string // substrings of the error message
	}{
		{"empty", "", []string{"empty body"}},
		{"whitespace", " \n\t ", []string{"empty body"}},
		{"not json", "hello", []string{"invalid JSON at byte offset 0 (line 1, column 1)", "invalid character 'h'"}},
		{"bad last byte", `[{"id":"a"}}`, []string{"invalid JSON at byte offset 11 (line 1, column 12)", "invalid character '}'"}},
		{"html", "<html></html>", []string{"invalid JSON at byte offset 0 (line 1, column 1)", "invalid character '<'"}},
		{"truncated object", `{"id":"a","severity":`, []string{"unexpected end of input", "byte offset 21", "truncated"}},
		{"truncated array", "[{\"id\":\"a\"},\n{\"id\":", []string{"unexpected end of input", "line 2"}},
		{"syntax error in array", "[\n{\"id\":\"a\"},\n{\"id\" \"b\"}\n]", []string{"invalid JSON at byte offset 20 (line 3, column 7)", "after object key"}},
		{"string", `"alert"`, []string{"got string", "byte offset 0"}},
		{"number", `42`, []string{"got number"}},
		{"null", `null`, []string{"got null"}},
		{"boolean", ` true`, []string{"got boolean", "column 2"}},
		{"trailing garbage on the same line", `{"id":"a"} }`, []string{"unexpected data after the first value", "byte offset 11"}},
		{"two objects on one line", `{"id":"a"}{"id":"b"}`, []string{"one alert per line"}},
		{"page value not an array", `{"value":{"id":"a"}}`, []string{"value: want an array of alerts", "got object"}},
		{"broken pretty-printed stream", "{\n \"id\": \"a\"\n}\n{\n \"id\": ]\n}\n", []string{"line 5", "invalid character ']'"}},
		{"absurdly deep", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), []string{"exceeded max depth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alerts, problems, err := decodeString(t, tt.body)
			if err == nil {
				t.Fatalf("Decode = %d alerts, problems %+v, nil error; want an error", len(alerts), problems)
			}
			if alerts != nil || problems != nil {
				t.Errorf("Decode returned alerts %v and problems %v with its error", ids(alerts), problems)
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Fatalf("error %v (%T) is not a *domain.Error of kind invalid", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if msg := err.Error(); msg != strings.TrimSpace(msg) || strings.HasSuffix(msg, ".") {
				t.Errorf("error %q should have no final punctuation or padding", msg)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecodeReadError(t *testing.T) {
	t.Parallel()
	_, _, err := Decode(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Decode error = %v, want the reader's error", err)
	}
	if got := domain.KindOf(err); got != "" {
		t.Errorf("KindOf(read error) = %q, want none: a failing reader is not invalid input", got)
	}
}

func TestDecodeBatchWithBadItems(t *testing.T) {
	t.Parallel()
	body := `[
  {"id":"good-1","severity":"high"},
  {"severity":"high","title":"no id"},
  {"id":"bad-sev","severity":"severe"},
  {"id":"bad-verdict","evidence":[
    {"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"10.0.0.1","verdict":"malicious"},
    {"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"10.0.0.2","verdict":"evil"}]},
  {"id":"bad-type","severity":5},
  "not an object",
  {"id":"good-2"}
]`
	alerts, problems, err := decodeString(t, body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got, want := ids(alerts), []string{"good-1", "good-2"}; !slices.Equal(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	want := []struct {
		index      int
		id, field  string
		wantReason string
	}{
		{1, "", "id", "required"},
		{2, "bad-sev", "severity", `unknown value "severe", want one of unknown, informational, low, medium, high`},
		{3, "bad-verdict", "evidence[1].verdict", `unknown value "evil", want one of unknown, suspicious, malicious, noThreatsFound`},
		{4, "bad-type", "severity", "want a string, got number"},
		{5, "", "", "want an object, got string"},
	}
	if len(problems) != len(want) {
		t.Fatalf("problems = %+v, want %d of them", problems, len(want))
	}
	for i, w := range want {
		p := problems[i]
		if p.Index != w.index || p.ID != w.id || p.Field != w.field || p.Reason != w.wantReason {
			t.Errorf("problem %d = %+v, want {Index:%d ID:%s Field:%s Reason:%s}", i, p, w.index, w.id, w.field, w.wantReason)
		}
	}
}

func TestProblemJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Problem{Index: 2, ID: "x", Field: "evidence[2].verdict", Reason: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"index":2,"id":"x","field":"evidence[2].verdict","reason":"bad"}`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
}
