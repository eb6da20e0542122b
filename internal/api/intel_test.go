package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestIntelImportAndLookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	stix, err := os.ReadFile("../intel/testdata/malware-indicator-for-file-hash.json")
	if err != nil {
		t.Fatal(err)
	}
	var res api.FeedImportResult
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=poisonivy&source=poisonivy.json.gz", gz(t, string(stix)), &res); resp.StatusCode != http.StatusOK {
		t.Fatalf("import: HTTP %d %+v", resp.StatusCode, res)
	}
	if res.Feed.Format != "stix" || res.Feed.Indicators != 1 || res.Feed.ImportedBy != "adam" || res.Feed.Source != "poisonivy.json.gz" {
		t.Errorf("feed = %+v", res.Feed)
	}
	var look api.IntelLookup
	hash := "EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C"
	f.call("vic", "GET", "/api/v1/intel/lookup?kind=file&value="+hash, "", &look)
	if len(look.Matches) != 1 || look.Matches[0].Family != "Poison Ivy" || look.Value != strings.ToLower(hash) {
		t.Errorf("lookup = %+v", look)
	}
	// A validity window: before valid_from nothing matches.
	f.call("vic", "GET", "/api/v1/intel/lookup?kind=file&value="+hash+"&at=2014-01-01T00:00:00Z", "", &look)
	if len(look.Matches) != 0 {
		t.Errorf("lookup before valid_from = %+v", look.Matches)
	}

	// A list with a bad line: 207, the good lines kept, the bad one placed.
	list := "# trail\n198.51.100.7:443\nwhat is this\nevil.example\n"
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=trail&format=list&family=qakbot&source=trail.txt", list, &res); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("list import: HTTP %d", resp.StatusCode)
	}
	if res.Feed.Indicators != 2 || res.Feed.Skipped != 1 || len(res.Problems) != 1 || res.Problems[0].String() != `trail.txt:3: cannot tell what "what" is: want an IP, network, hash, domain or URL` {
		t.Errorf("list import = %+v %+v", res.Feed, res.Problems)
	}
	f.call("vic", "GET", "/api/v1/intel/lookup?kind=domain&value=EVIL.example.", "", &look)
	if len(look.Matches) != 1 || look.Matches[0].Family != "qakbot" {
		t.Errorf("domain lookup = %+v", look)
	}

	// Re-importing replaces; a file with nothing usable leaves the feed.
	f.call("adam", "POST", "/api/v1/intel/feeds?name=trail", "203.0.113.5\n", &res)
	f.call("vic", "GET", "/api/v1/intel/lookup?kind=domain&value=evil.example", "", &look)
	if len(look.Matches) != 0 {
		t.Errorf("re-import kept the old indicators: %+v", look.Matches)
	}
	var e errResp
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=trail", "# nothing\n", &e); resp.StatusCode != http.StatusBadRequest || e.Error.Field != "body" {
		t.Errorf("empty import: HTTP %d %+v", resp.StatusCode, e)
	}
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=trail&format=misp", `{"type": "cidr", "list": [`, &e); resp.StatusCode != http.StatusBadRequest ||
		e.Error.Field != "body" || !strings.Contains(e.Error.Message, "trail:1:") {
		t.Errorf("truncated import: HTTP %d %+v", resp.StatusCode, e)
	}
	truncated := gz(t, strings.Repeat("198.51.100.9\n", 1000))
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=trail", truncated[:len(truncated)/2], &e); resp.StatusCode != http.StatusBadRequest ||
		e.Error.Field != "body" || !strings.Contains(e.Error.Message, "unexpected EOF") {
		t.Errorf("truncated gzip: HTTP %d %+v", resp.StatusCode, e)
	}
	f.call("vic", "GET", "/api/v1/intel/lookup?kind=ip&value=203.0.113.5", "", &look)
	if len(look.Matches) != 1 {
		t.Errorf("a refused import changed the feed: %+v", look.Matches)
	}
	for _, tc := range []struct{ query, field string }{
		{"name=&format=list", "name"},
		{"name=x&format=csv", "format"},
	} {
		if resp := f.call("adam", "POST", "/api/v1/intel/feeds?"+tc.query, "1.1.1.1", &e); resp.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%s: HTTP %d %+v; want 400 naming %s", tc.query, resp.StatusCode, e, tc.field)
		}
	}
	for _, tc := range []struct{ query, field string }{
		{"value=1.1.1.1", "kind"},
		{"kind=registry&value=x", "kind"},
		{"kind=ip", "value"},
		{"kind=ip&value=10.0.0.0/8", "value"},
		{"kind=file&value=N/A", "value"},
		{"kind=ip&value=1.1.1.1&at=yesterday", "at"},
	} {
		if resp := f.call("vic", "GET", "/api/v1/intel/lookup?"+tc.query, "", &e); resp.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("lookup %s: HTTP %d %+v; want 400 naming %s", tc.query, resp.StatusCode, e, tc.field)
		}
	}
	var feeds api.FeedList
	f.call("vic", "GET", "/api/v1/intel/feeds", "", &feeds)
	if len(feeds.Value) != 2 || feeds.Value[0].Name != "poisonivy" || feeds.Value[1].Name != "trail" {
		t.Errorf("feeds = %+v", feeds)
	}
	if resp := f.call("al", "POST", "/api/v1/intel/feeds?name=x", "1.1.1.1", &e); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst import: HTTP %d; want 403", resp.StatusCode)
	}
}

func TestPrevalenceEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var p records.Prevalence
	// The fixture's devices are entities, but prevalence is asked of
	// files, IPs, domains and URLs: an unseen IP answers zeros.
	if resp := f.call("vic", "GET", "/api/v1/prevalence?kind=ip&value=198.51.100.1", "", &p); resp.StatusCode != http.StatusOK || p.Alerts != 0 || p.Entities == nil {
		t.Errorf("prevalence: HTTP %d %+v", resp.StatusCode, p)
	}
	var e errResp
	if resp := f.call("sam", "GET", "/api/v1/prevalence?kind=ip&value=198.51.100.1", "", &e); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scoped prevalence: HTTP %d %+v", resp.StatusCode, e)
	}
}

func TestIncidentFacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	for _, id := range []int64{f.inc1, f.inc2} {
		if err := f.st.RecordFacts(context.Background(), id, []domain.Fact{
			{Entity: "ip:198.51.100.1", Kind: domain.FactIntelMatch, Source: "intel:ipsum", Value: domain.RawJSON(`{"feed":"ipsum"}`), ObservedAt: at},
			{Entity: "ip:198.51.100.1", Kind: domain.FactPrevalence, Source: "store", Value: domain.RawJSON(`{"devices":2}`), ObservedAt: at},
			{Entity: "ip:198.51.100.1", Kind: domain.FactVendorIPStats, Source: "mde", Value: domain.RawJSON(`{"ip":"198.51.100.1","orgPrevalence":40}`), ObservedAt: at},
		}); err != nil {
			t.Fatal(err)
		}
	}
	var list api.FactList
	if resp := f.call("vic", "GET", "/api/v1/incidents/"+itoa(f.inc1)+"/facts", "", &list); resp.StatusCode != http.StatusOK ||
		len(list.Value) != 3 || list.Value[0].Source != "intel:ipsum" || !list.Value[0].ObservedAt.Equal(at) {
		t.Errorf("facts: HTTP %d %+v", resp.StatusCode, list)
	}
	// sam is scoped to Servers: incident 1 (Workstations) does not exist
	// for them, and incident 2's prevalence, the store's and the vendor's,
	// is withheld.
	var e errResp
	if resp := f.call("sam", "GET", "/api/v1/incidents/"+itoa(f.inc1)+"/facts", "", &e); resp.StatusCode != http.StatusNotFound {
		t.Errorf("scoped, other group: HTTP %d", resp.StatusCode)
	}
	if resp := f.call("sam", "GET", "/api/v1/incidents/"+itoa(f.inc2)+"/facts", "", &list); resp.StatusCode != http.StatusOK ||
		len(list.Value) != 1 || list.Value[0].Kind != domain.FactIntelMatch {
		t.Errorf("scoped facts: HTTP %d %+v", resp.StatusCode, list)
	}
}
