package intel

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind      Kind
		in        string
		wantKind  Kind
		wantValue string
		wantErr   bool
	}{
		{KindIP, " 192.0.2.1 ", KindIP, "192.0.2.1", false},
		{KindIP, "2001:DB8:0:0::1", KindIP, "2001:db8::1", false},
		{KindIP, "::ffff:192.0.2.1", KindIP, "192.0.2.1", false},
		{KindIP, "198.51.100.7/24", KindCIDR, "198.51.100.0/24", false},
		{KindCIDR, "192.0.2.1/32", KindIP, "192.0.2.1", false},
		{KindCIDR, "::ffff:10.0.0.0/104", KindCIDR, "10.0.0.0/8", false},
		{KindIP, "300.1.1.1", "", "", true},
		{KindDomain, "*.Evil.Example.", KindDomain, "evil.example", false},
		{KindDomain, ".dyndns.org", KindDomain, "dyndns.org", false},
		{KindDomain, "bad domain", "", "", true},
		{KindURL, "HTTP://Evil.Example:80/a?b#c", KindURL, "http://evil.example/a?b", false},
		{KindURL, "evil.example/x", KindURL, "http://evil.example/x", false},
		{KindFile, "001DD76872D80801692FF942308C64E6", KindFile, "001dd76872d80801692ff942308c64e6", false},
		{KindFile, "N/A", "", "", true},
		{"registry", "x", "", "", true},
		{KindIP, "", "", "", true},
	} {
		k, v, err := Normalize(tc.kind, tc.in)
		if (err != nil) != tc.wantErr || k != tc.wantKind || v != tc.wantValue {
			t.Errorf("Normalize(%s, %q) = %s, %q, %v; want %s, %q, error %v", tc.kind, tc.in, k, v, err, tc.wantKind, tc.wantValue, tc.wantErr)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in        string
		wantKind  Kind
		wantValue string
	}{
		{"66.210.228.178:443", KindIP, "66.210.228.178"},
		{"[2001:db8::1]:8080", KindIP, "2001:db8::1"},
		{"10.0.0.0/8", KindCIDR, "10.0.0.0/8"},
		{"dvr.petcp.com", KindDomain, "dvr.petcp.com"},
		{"evil.example:8080", KindDomain, "evil.example"},
		{"shahrproject.ir/wp--admin/", KindURL, "http://shahrproject.ir/wp--admin/"},
		{"crmweb.info:443/bitrix/rc9XjtwF/", KindURL, "http://crmweb.info:443/bitrix/rc9XjtwF/"},
		{"ftp://ftp.fasttradeco.com", KindURL, "ftp://ftp.fasttradeco.com/"},
		{"00040c682b12de3c33ef3a1839260d4851073c94ce49ab32ac38dbd13c16e1c2", KindFile, "00040c682b12de3c33ef3a1839260d4851073c94ce49ab32ac38dbd13c16e1c2"},
		{"localhost", "", ""},
		{"", "", ""},
	} {
		k, v, err := Classify(tc.in)
		if k != tc.wantKind || v != tc.wantValue || (err != nil) != (tc.wantKind == "") {
			t.Errorf("Classify(%q) = %s, %q, %v; want %s, %q", tc.in, k, v, err, tc.wantKind, tc.wantValue)
		}
	}
}

func TestSTIXPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern string
		want    []comparison
		wantErr string
	}{
		{"[file:hashes.'SHA-256' = 'EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C']",
			[]comparison{{KindFile, "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"}}, ""},
		{"[file:hashes.MD5 = '001dd76872d80801692ff942308c64e6' OR file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
			[]comparison{{KindFile, "001dd76872d80801692ff942308c64e6"}, {KindFile, "da39a3ee5e6b4b0d3255bfef95601890afd80709"}}, ""},
		{"[ipv4-addr:value = '223.166.0.0/15'] OR [domain-name:value = 'Hugesoft.org']",
			[]comparison{{KindCIDR, "223.166.0.0/15"}, {KindDomain, "hugesoft.org"}}, ""},
		{"[url:value = 'http://x4z9arb.cn/4712/']", []comparison{{KindURL, "http://x4z9arb.cn/4712/"}}, ""},
		{"[ipv6-addr:value = '2001:DB8::1']", []comparison{{KindIP, "2001:db8::1"}}, ""},
		{`[domain-name:value = 'it\'s.example']`, nil, "not a domain name"},
		{"[file:name = 'x.exe']", nil, "unsupported property file:name"},
		{"[file:name = 'x.exe' OR file:hashes.MD5 = '001dd76872d80801692ff942308c64e6']",
			[]comparison{{KindFile, "001dd76872d80801692ff942308c64e6"}}, "unsupported property"},
		{"[ipv4-addr:value = '198.51.100.1' AND network-traffic:dst_port = 443]", nil, `unsupported "AND"`},
		{"[url:value LIKE '%evil%']", nil, "unsupported operator"},
		{"[ipv4-addr:value = '198.51.100.1'] WITHIN 300 SECONDS", nil, "WITHIN"},
		{"[ipv4-addr:value = '198.51.100.1'", nil, "end of pattern"},
		{"([ipv4-addr:value = '198.51.100.1'])", nil, "want ["},
		{"[url:value = 'open", nil, "unterminated string"},
	} {
		got, err := stixPattern(tc.pattern)
		if !equalComparisons(got, tc.want) {
			t.Errorf("stixPattern(%q) = %v; want %v", tc.pattern, got, tc.want)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("stixPattern(%q): unexpected error %v", tc.pattern, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("stixPattern(%q): error %v; want one containing %q", tc.pattern, err, tc.wantErr)
		}
	}
}

func equalComparisons(a, b []comparison) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parse runs Parse and collects the indicators.
func parse(t *testing.T, data []byte, opt Options) ([]Indicator, *Result, error) {
	t.Helper()
	var got []Indicator
	res, err := Parse(bytes.NewReader(data), opt, func(in Indicator) error {
		got = append(got, in)
		return nil
	})
	return got, res, err
}

func parseFile(t *testing.T, name string, opt Options) ([]Indicator, *Result) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	opt.Source = filepath.Base(name)
	got, res, err := parse(t, data, opt)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return got, res
}

func TestParseSTIXSamples(t *testing.T) {
	t.Parallel()
	got, res := parseFile(t, "testdata/malware-indicator-for-file-hash.json", Options{})
	if res.Format != FormatSTIX || len(got) != 1 {
		t.Fatalf("got format %s, %d indicators; want stix, 1", res.Format, len(got))
	}
	in := got[0]
	if in.Kind != KindFile || in.Value != "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c" ||
		in.Family != "Poison Ivy" || in.Score != 75 || in.Ref != "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade" ||
		in.ValidFrom == nil || !in.ValidFrom.Equal(time.Date(2014, 2, 20, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("indicator = %+v", in)
	}

	got, _ = parseFile(t, "testdata/indicator-for-malicious-url.json", Options{})
	if len(got) != 1 || got[0].Kind != KindURL || got[0].Value != "http://x4z9arb.cn/4712/" || got[0].Family != "x4z9arb backdoor" {
		t.Errorf("url indicators = %+v", got)
	}

	got, res = parseFile(t, "testdata/poisonivy.json", Options{})
	kinds := map[Kind]int{}
	for _, in := range got {
		kinds[in.Kind]++
	}
	// 25 indicator objects: IPs, domains, and patterns AIR cannot evaluate
	// (file names, a malformed domain), which are kept and reported.
	if res.Skipped != 0 || kinds[KindIP] == 0 || kinds[KindDomain] == 0 || kinds[KindPattern] != res.Unsupported || res.Unsupported == 0 {
		t.Errorf("poisonivy: kinds %v, result %+v", kinds, res)
	}
	if len(res.Problems) != res.Unsupported {
		t.Errorf("poisonivy: %d problems for %d unsupported patterns", len(res.Problems), res.Unsupported)
	}
}

const badBundle = `{
  "type": "bundle",
  "id": "bundle--1",
  "objects": [
    {"type": "indicator", "id": "indicator--ok", "pattern": "[ipv4-addr:value = '198.51.100.1']",
     "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-02-01T00:00:00Z", "confidence": 90},
    {"type": "indicator", "id": "indicator--badtime", "pattern": "[ipv4-addr:value = '198.51.100.2']", "valid_from": "yesterday"},
    {"type": "indicator", "id": "indicator--conf", "pattern": "[ipv4-addr:value = '198.51.100.3']", "confidence": "high"},
    {"type": "indicator", "id": "indicator--yara", "pattern": "rule x { condition: true }", "pattern_type": "yara"},
    {"type": "indicator", "id": "indicator--old", "modified": "2026-01-01T00:00:00Z", "pattern": "[domain-name:value = 'old.example']"},
    {"type": "indicator", "id": "indicator--old", "modified": "2026-03-01T00:00:00Z", "pattern": "[domain-name:value = 'new.example']"},
    {"type": "indicator", "id": "indicator--revoked", "revoked": true, "pattern": "[domain-name:value = 'gone.example']"},
    {"id": "x--untyped"}
  ]
}`

func TestParseSTIXBadObjects(t *testing.T) {
	t.Parallel()
	got, res, err := parse(t, []byte(badBundle), Options{Source: "feed.json"})
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, in := range got {
		values = append(values, string(in.Kind)+":"+in.Value)
	}
	want := []string{"ip:198.51.100.1", "pattern:rule x { condition: true }", "domain:new.example"}
	if strings.Join(values, " ") != strings.Join(want, " ") {
		t.Errorf("indicators = %v; want %v", values, want)
	}
	if got[0].Score != 90 || got[0].ValidUntil == nil || got[0].ValidAt(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) ||
		!got[0].ValidAt(time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("first indicator = %+v", got[0])
	}
	if res.Skipped != 3 || res.Unsupported != 1 || res.Indicators != 3 {
		t.Errorf("result = %+v; want 3 skipped, 1 unsupported, 3 indicators", res)
	}
	var msgs []string
	for _, p := range res.Problems {
		msgs = append(msgs, p.String())
	}
	for _, want := range []string{
		"feed.json:7:5 (indicator--badtime): valid_from: want an RFC 3339 timestamp",
		"feed.json:8:5 (indicator--conf): objects[2]: confidence: want int",
		"feed.json:9:5 (indicator--yara): pattern kept but not evaluated",
		"feed.json:13:5 (x--untyped): objects[7]: no type",
	} {
		if !strings.Contains(strings.Join(msgs, "\n"), want) {
			t.Errorf("problems\n%s\nlack %q", strings.Join(msgs, "\n"), want)
		}
	}
}

func TestParseFatal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		opt      Options
		want     string
	}{
		{"truncated", "{\"type\": \"bundle\",\n \"objects\": [\n {\"type\": \"indicator\"", Options{Format: FormatSTIX}, "x:3:"},
		{"not a bundle", `{"type": "report", "objects": []}`, Options{}, "not a STIX bundle"},
		{"no objects", `{"type": "bundle"}`, Options{Format: FormatSTIX}, `no "objects"`},
		{"misp without type", `{"name": "x", "list": ["1.1.1.1"]}`, Options{}, `without a "type"`},
		{"misp odd type", `{"type": "asn", "list": []}`, Options{Format: FormatMISP}, `type "asn"`},
		{"array", `[1, 2]`, Options{Format: FormatSTIX}, "want a STIX bundle"},
		{"unknown format", "1.1.1.1", Options{Format: "csv"}, "unknown format"},
	} {
		_, _, err := parse(t, []byte(tc.in), Options{Format: tc.opt.Format, Source: "x"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseMISP(t *testing.T) {
	t.Parallel()
	got, res := parseFile(t, "testdata/rfc1918.json.gz", Options{})
	if res.Format != FormatMISP || !res.Benign || res.Name != "List of RFC 1918 CIDR blocks" || len(got) != 3 || got[0].Kind != KindCIDR || got[0].Value != "10.0.0.0/8" {
		t.Errorf("rfc1918: %+v %+v", res, got)
	}
	in := `{
  "description": "test",
  "list": [
    ".dyndns.org",
    42,
    "bad name!"
  ],
  "name": "dyn",
  "type": "hostname"
}`
	got, res, err := parse(t, []byte(in), Options{Source: "dyn.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != "dyndns.org" || !got[0].Subdomains || res.Skipped != 2 {
		t.Errorf("hostname list: %+v %+v", got, res)
	}
	if len(res.Problems) != 2 || res.Problems[0].String() != "dyn.json:5:5: list[1]: want a string, got 42" ||
		!strings.HasPrefix(res.Problems[1].String(), "dyn.json:6:5: list[2]: not a domain name") {
		t.Errorf("problems = %v", res.Problems)
	}

	got, res, err = parse(t, []byte(`{"type": "string", "name": "fp", "list": ["1.1.1.1", "d41d8cd98f00b204e9800998ecf8427e", "example.com", "not a value"]}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, in := range got {
		kinds = append(kinds, string(in.Kind))
	}
	if strings.Join(kinds, ",") != "ip,file,domain,pattern" || res.Unsupported != 1 {
		t.Errorf("string list kinds = %v, result %+v", kinds, res)
	}
}

func TestParseList(t *testing.T) {
	t.Parallel()
	in := "# IPsum\n# IP\tnumber of (black)lists\n\n77.90.185.20\t10\n2.57.122.53\t9\tmirai\nnot an indicator\n45.154.244.193 -3\nevil.example,,qakbot\n"
	got, res, err := parse(t, []byte(in), Options{Source: "ipsum.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatList || len(got) != 3 || res.Skipped != 2 {
		t.Fatalf("got %+v, result %+v", got, res)
	}
	if got[0].Score != 10 || got[0].Ref != "line 4" || got[1].Family != "mirai" || got[2].Kind != KindDomain || got[2].Family != "qakbot" {
		t.Errorf("indicators = %+v", got)
	}
	if res.Problems[0].String() != `ipsum.txt:6: cannot tell what "not" is: want an IP, network, hash, domain or URL` ||
		res.Problems[1].String() != "ipsum.txt:7: score -3 is negative" {
		t.Errorf("problems = %v", res.Problems)
	}
}

func TestParseMaltrailGzip(t *testing.T) {
	t.Parallel()
	got, res := parseFile(t, "testdata/cobalt.txt.gz", Options{})
	// Three lines are bare URL paths ("/DOC2018.js"): kept, not evaluated.
	if res.Format != FormatList || res.Skipped != 0 || len(got) != 142 || res.Unsupported != 3 {
		t.Fatalf("cobalt: %d indicators, result %+v", len(got), res)
	}
	if got[0].Family != "" {
		t.Errorf("a list without an Aliases comment names no family; got %q", got[0].Family)
	}
	got, _ = parseFile(t, "testdata/cobalt.txt.gz", Options{Family: "cobalt"})
	if got[0].Family != "cobalt" {
		t.Errorf("Options.Family: got %q", got[0].Family)
	}
	trail := "# Aliases: Emotet, Heodo\n\n66.210.228.178:443\ndvr.petcp.com 80 heodo\n"
	got, _, err := parse(t, []byte(trail), Options{Source: "/data/maltrail/emotet.txt.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Family != "emotet" || got[1].Family != "heodo" || got[1].Score != 80 {
		t.Errorf("maltrail family: %+v", got)
	}
}

func TestParseGzipAndLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString("x\n")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(b.String()))
	zw.Close()
	_, res, err := parse(t, buf.Bytes(), Options{MaxProblems: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 300 || len(res.Problems) != 5 {
		t.Errorf("skipped %d, %d problems; want 300, 5", res.Skipped, len(res.Problems))
	}
}

// TestParseSharedFeeds reads the real feeds in ../shared/data/intel when
// they are there (they are not in the repository).
func TestParseSharedFeeds(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("AIR_INTEL_DATA")
	if dir == "" {
		dir = "../../../../shared/data/intel"
	}
	if _, err := os.Stat(filepath.Join(dir, "ipsum.txt.gz")); err != nil {
		t.Skip("shared intel data not found; set AIR_INTEL_DATA")
	}
	for _, tc := range []struct {
		file   string
		format Format
		min    int
	}{
		{"ipsum.txt.gz", FormatList, 100000},
		{"maltrail/emotet.txt.gz", FormatList, 1000},
		{"misp-warninglists/public-dns-v4.json.gz", FormatMISP, 60000},
		{"misp-warninglists/dynamic-dns.json.gz", FormatMISP, 30000},
		{"misp-warninglists/ti-falsepositives.json.gz", FormatMISP, 20000},
		{"stix-examples/apt1.json", FormatSTIX, 10},
		{"enterprise-attack-lite.stix.json.gz", FormatSTIX, 0},
	} {
		f, err := os.Open(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		res, err := Parse(f, Options{Source: tc.file}, func(Indicator) error { n++; return nil })
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if res.Format != tc.format || n < tc.min || n != res.Indicators {
			t.Errorf("%s: format %s, %d indicators (result %+v); want %s, at least %d", tc.file, res.Format, n, res, tc.format, tc.min)
		}
		t.Logf("%s: %d indicators, %d unsupported, %d skipped, %d ignored", tc.file, res.Indicators, res.Unsupported, res.Skipped, res.Ignored)
	}
}

func TestObservables(t *testing.T) {
	t.Parallel()
	sha256 := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		e    domain.Entity
		want []Observable
	}{
		{domain.Entity{Key: domain.EntityKey("file:" + sha256), Attrs: map[string]string{"sha256": sha256, "md5": "D41D8CD98F00B204E9800998ECF8427E", "sha1": "N/A"}},
			[]Observable{{KindFile, sha256}, {KindFile, "d41d8cd98f00b204e9800998ecf8427e"}}},
		{domain.Entity{Key: "ip:2001:db8::1"}, []Observable{{KindIP, "2001:db8::1"}}},
		{domain.Entity{Key: "url:https://u@cdn.evil.example:8443/a?b"}, []Observable{{KindURL, "https://u@cdn.evil.example:8443/a?b"}, {KindDomain, "cdn.evil.example"}}},
		{domain.Entity{Key: "url:http://[2001:db8::1]/x"}, []Observable{{KindURL, "http://[2001:db8::1]/x"}, {KindIP, "2001:db8::1"}}},
		{domain.Entity{Key: "url:http://198.51.100.1:8080/"}, []Observable{{KindURL, "http://198.51.100.1:8080/"}, {KindIP, "198.51.100.1"}}},
		{domain.Entity{Key: "device:ws-1"}, nil},
		{domain.Entity{Key: "broken"}, nil},
	} {
		if got := Observables(tc.e); !slices.Equal(got, tc.want) {
			t.Errorf("Observables(%s) = %v; want %v", tc.e.Key, got, tc.want)
		}
	}
}
