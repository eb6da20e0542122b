package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// importFeed imports indicators as the feed called name.
func importFeed(t testing.TB, s *store.Store, name string, benign bool, ins ...intel.Indicator) *records.IntelFeed {
	t.Helper()
	ctx := context.Background()
	im, err := s.BeginIntelImport(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		if err := im.Add(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	f, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, Benign: benign, ImportedBy: "tester"})
	if err != nil {
		t.Fatalf("commit %s: %v", name, err)
	}
	return f
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func matchFeeds(ms []records.IntelMatch) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Feed+"/"+string(m.Kind)+":"+m.Value)
	}
	return strings.Join(out, " ")
}

func TestIntelLookup(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := importFeed(t, s, "bad", false,
			intel.Indicator{Kind: intel.KindIP, Value: "198.51.100.1", Score: 9, Family: "emotet", Ref: "line 1"},
			intel.Indicator{Kind: intel.KindIP, Value: "198.51.100.1", Score: 1}, // duplicate: the first wins
			intel.Indicator{Kind: intel.KindDomain, Value: "evil.example", ValidFrom: at("2026-01-01T00:00:00Z"), ValidUntil: at("2026-02-01T00:00:00Z")},
			intel.Indicator{Kind: intel.KindFile, Value: "001dd76872d80801692ff942308c64e6"},
			intel.Indicator{Kind: intel.KindURL, Value: "http://x4z9arb.cn/4712/"},
			intel.Indicator{Kind: intel.KindPattern, Value: "[file:name = 'x.exe']"},
		)
		if f.Indicators != 5 || f.Duplicates != 1 || f.Name != "bad" {
			t.Errorf("feed = %+v; want 5 indicators, 1 duplicate", f)
		}
		importFeed(t, s, "warninglist", true,
			intel.Indicator{Kind: intel.KindCIDR, Value: "198.51.100.0/24"},
			intel.Indicator{Kind: intel.KindCIDR, Value: "2001:db8::/32"},
			intel.Indicator{Kind: intel.KindDomain, Value: "example", Subdomains: true},
			intel.Indicator{Kind: intel.KindDomain, Value: "other.example"},
		)
		now := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			kind  intel.Kind
			value string
			at    time.Time
			want  string
		}{
			{intel.KindIP, "198.51.100.1", now, "bad/ip:198.51.100.1 warninglist/cidr:198.51.100.0/24"},
			{intel.KindIP, "198.51.100.2", now, "warninglist/cidr:198.51.100.0/24"},
			{intel.KindIP, "2001:db8::7", now, "warninglist/cidr:2001:db8::/32"},
			{intel.KindIP, "203.0.113.1", now, ""},
			{intel.KindDomain, "evil.example", now, "bad/domain:evil.example"},
			{intel.KindDomain, "evil.example", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), ""},   // expired
			{intel.KindDomain, "evil.example", time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), ""}, // not yet valid
			{intel.KindDomain, "a.other.example", now, ""},                                        // other.example covers itself only
			{intel.KindDomain, "other.example", now, "warninglist/domain:other.example"},
			{intel.KindFile, "001dd76872d80801692ff942308c64e6", now, "bad/file:001dd76872d80801692ff942308c64e6"},
			{intel.KindURL, "http://x4z9arb.cn/4712/", now, "bad/url:http://x4z9arb.cn/4712/"},
			{intel.KindPattern, "[file:name = 'x.exe']", now, "bad/pattern:[file:name = 'x.exe']"},
		} {
			got, err := s.LookupIntel(ctx, tc.kind, tc.value, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if matchFeeds(got) != tc.want {
				t.Errorf("LookupIntel(%s, %s, %s) = %q; want %q", tc.kind, tc.value, tc.at.Format(time.DateOnly), matchFeeds(got), tc.want)
			}
		}
		got, _ := s.LookupIntel(ctx, intel.KindIP, "198.51.100.1", now)
		if m := got[0]; m.Score != 9 || m.Family != "emotet" || m.Ref != "line 1" || m.Benign || !got[1].Benign {
			t.Errorf("matches = %+v", got)
		}
		got, _ = s.LookupIntel(ctx, intel.KindDomain, "evil.example", now)
		if m := got[0]; m.ValidUntil == nil || !m.ValidUntil.Equal(*at("2026-02-01T00:00:00Z")) {
			t.Errorf("validity = %+v", m)
		}

		feeds, err := s.IntelFeeds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(feeds) != 2 || feeds[0].Name != "bad" || feeds[1].Name != "warninglist" || !feeds[1].Benign || feeds[0].ImportedBy != "tester" {
			t.Errorf("feeds = %+v", feeds)
		}
	})
}

func TestIntelReimportReplaces(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		importFeed(t, s, "ipsum", false, intel.Indicator{Kind: intel.KindIP, Value: "192.0.2.1"}, intel.Indicator{Kind: intel.KindIP, Value: "192.0.2.2"})

		// A second import in progress is invisible until it commits.
		im, err := s.BeginIntelImport(ctx, "ipsum")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2500; i++ { // more than one batch
			v := "192.0.2.2"
			if i > 0 {
				v = "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250)
			}
			if err := im.Add(ctx, intel.Indicator{Kind: intel.KindIP, Value: v}); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "10.0.1.1", now); len(got) != 0 {
			t.Errorf("uncommitted import visible: %v", got)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "192.0.2.1", now); len(got) != 1 {
			t.Errorf("old feed gone before the new one committed: %v", got)
		}
		f, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Indicators != 2500 {
			t.Errorf("indicators = %d; want 2500", f.Indicators)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "192.0.2.1", now); len(got) != 0 {
			t.Errorf("replaced indicator still matches: %v", got)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "10.0.9.249", now); len(got) != 1 {
			t.Errorf("new indicator does not match: %v", got)
		}

		// An aborted import leaves the live one alone.
		im, _ = s.BeginIntelImport(ctx, "ipsum")
		im.Add(ctx, intel.Indicator{Kind: intel.KindIP, Value: "203.0.113.9"})
		if err := im.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "10.0.9.249", now); len(got) != 1 {
			t.Errorf("abort broke the live feed: %v", got)
		}

		// Two imports at once: the one that started later and finished
		// first wins; the other is refused.
		a, _ := s.BeginIntelImport(ctx, "ipsum")
		b, _ := s.BeginIntelImport(ctx, "ipsum")
		b.Add(ctx, intel.Indicator{Kind: intel.KindIP, Value: "203.0.113.2"})
		if _, err := b.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "b"}); err != nil {
			t.Fatal(err)
		}
		a.Add(ctx, intel.Indicator{Kind: intel.KindIP, Value: "203.0.113.1"})
		if _, err := a.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "a"}); domain.KindOf(err) != domain.KindConflict {
			t.Errorf("stale commit: error %v; want a conflict", err)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "203.0.113.2", now); len(got) != 1 {
			t.Errorf("later import lost: %v", got)
		}

		if f, err := s.DeleteIntelFeed(ctx, "ipsum", "tester"); err != nil || f.ImportedBy != "b" {
			t.Fatalf("delete: %+v, %v", f, err)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "203.0.113.2", now); len(got) != 0 {
			t.Errorf("deleted feed still matches: %v", got)
		}
		if _, err := s.DeleteIntelFeed(ctx, "ipsum", "tester"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("delete twice: %v; want not found", err)
		}
		audit, err := s.QueryAudit(ctx, records.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var verbs []string
		for _, e := range audit.Value {
			if strings.HasPrefix(e.Verb, "intel.") {
				verbs = append(verbs, e.Verb)
			}
		}
		if !slices.Contains(verbs, "intel.imported") || !slices.Contains(verbs, "intel.deleted") {
			t.Errorf("audit verbs = %v", verbs)
		}
	})
}

func TestPrevalence(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		sha256 := strings.Repeat("ab", 32)
		md5 := strings.Repeat("cd", 16)
		file := domain.Evidence{Type: "fileEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("file:" + sha256), Kind: domain.KindFile, Name: "evil.exe",
			Attrs: map[string]string{"sha256": sha256, "md5": md5}}}
		ip := domain.Evidence{Type: "ipEvidence", Entity: &domain.Entity{Key: "ip:198.51.100.1", Kind: domain.KindIP, Name: "198.51.100.1"}}
		url := domain.Evidence{Type: "urlEvidence", Entity: &domain.Entity{Key: "url:https://cdn.evil.example/a", Kind: domain.KindURL, Name: "https://cdn.evil.example/a"}}
		url2 := domain.Evidence{Type: "urlEvidence", Entity: &domain.Entity{Key: "url:http://notevil.example/evil.example/", Kind: domain.KindURL, Name: "x"}}
		user := domain.Evidence{Type: "userEvidence", Entity: &domain.Entity{Key: "user:alice@contoso.com", Kind: domain.KindUser, Name: "alice"}}
		for i, a := range []*domain.Alert{
			alertAt("p1", t0, domain.SeverityHigh, device("ws-1", domain.VerdictMalicious), file, ip, user),
			alertAt("p2", t0.Add(time.Hour), domain.SeverityHigh, device("ws-2", domain.VerdictSuspicious), file, url),
			// Days later, outside the correlation window: another incident.
			alertAt("p3", t0.Add(72*time.Hour), domain.SeverityLow, device("ws-3", domain.VerdictUnknown), file, url2),
		} {
			if _, err := s.IngestAlert(ctx, a, correlate.Rules{}); err != nil {
				t.Fatalf("ingest %d: %v", i, err)
			}
		}
		for _, tc := range []struct {
			kind                              intel.Kind
			value                             string
			alerts, incidents, devices, users int
			first, last                       time.Time
		}{
			{intel.KindFile, sha256, 3, 2, 3, 1, t0, t0.Add(72 * time.Hour)},
			{intel.KindFile, md5, 3, 2, 3, 1, t0, t0.Add(72 * time.Hour)},
			{intel.KindIP, "198.51.100.1", 1, 1, 1, 1, t0, t0},
			{intel.KindDomain, "evil.example", 1, 1, 1, 0, t0.Add(time.Hour), t0.Add(time.Hour)},
			{intel.KindURL, "https://cdn.evil.example/a", 1, 1, 1, 0, t0.Add(time.Hour), t0.Add(time.Hour)},
			{intel.KindIP, "203.0.113.1", 0, 0, 0, 0, time.Time{}, time.Time{}},
		} {
			p, err := s.Prevalence(ctx, tc.kind, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if p.Alerts != tc.alerts || p.Incidents != tc.incidents || p.Devices != tc.devices || p.Users != tc.users {
				t.Errorf("Prevalence(%s, %s) = %d alerts, %d incidents, %d devices, %d users; want %d, %d, %d, %d",
					tc.kind, tc.value, p.Alerts, p.Incidents, p.Devices, p.Users, tc.alerts, tc.incidents, tc.devices, tc.users)
			}
			if tc.first.IsZero() {
				if p.FirstSeen != nil {
					t.Errorf("Prevalence(%s, %s): first seen %v; want none", tc.kind, tc.value, p.FirstSeen)
				}
				continue
			}
			if p.FirstSeen == nil || !p.FirstSeen.Equal(tc.first) || !p.LastSeen.Equal(tc.last) {
				t.Errorf("Prevalence(%s, %s): seen %v–%v; want %v–%v", tc.kind, tc.value, p.FirstSeen, p.LastSeen, tc.first, tc.last)
			}
		}
		p, _ := s.Prevalence(ctx, intel.KindFile, sha256)
		if want := []domain.EntityKey{"device:ws-1", "device:ws-2", "device:ws-3"}; !slices.Equal(p.DeviceKeys, want) {
			t.Errorf("device keys = %v; want %v", p.DeviceKeys, want)
		}
		if _, err := s.Prevalence(ctx, "registry", "x"); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("unknown kind: %v; want invalid", err)
		}
	})
}

func TestFacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		f := domain.Fact{Entity: "ip:198.51.100.1", Kind: domain.FactIntelMatch, Source: "intel:ipsum", Value: domain.RawJSON(`{"score":3}`), ObservedAt: t0}
		p := domain.Fact{Entity: "ip:198.51.100.1", Kind: domain.FactPrevalence, Source: "store", Value: domain.RawJSON(`{"devices":1}`), ObservedAt: t0}
		if err := s.RecordFacts(ctx, 7, []domain.Fact{f, p}); err != nil {
			t.Fatal(err)
		}
		// Analysing again replaces a fact of the same entity, kind and source.
		f.Value, f.ObservedAt = domain.RawJSON(`{"score":9}`), t0.Add(time.Hour)
		if err := s.RecordFacts(ctx, 7, []domain.Fact{f}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Facts(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Kind != domain.FactIntelMatch || string(got[0].Value) != `{"score":9}` || !got[0].ObservedAt.Equal(t0.Add(time.Hour)) ||
			got[1].Source != "store" {
			t.Errorf("facts = %+v", got)
		}
		if other, _ := s.Facts(ctx, 8); len(other) != 0 {
			t.Errorf("another incident's facts = %+v", other)
		}
		// A vendor's error fact that no longer holds is deleted, and only it:
		// not the same kind from another vendor, nor another incident's.
		e := domain.Fact{Entity: "ip:198.51.100.1", Kind: domain.FactVendorError, Source: "mde", Value: domain.RawJSON(`{"vendor":"mde"}`), ObservedAt: t0}
		g := e
		g.Source = "graph"
		if err := s.RecordFacts(ctx, 7, []domain.Fact{e, g}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordFacts(ctx, 8, []domain.Fact{e}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordFacts(ctx, 7, nil, e); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordFacts(ctx, 7, nil, e); err != nil { // gone already: no error
			t.Fatal(err)
		}
		got, _ = s.Facts(ctx, 7)
		if len(got) != 3 || got[2].Kind != domain.FactVendorError || got[2].Source != "graph" {
			t.Errorf("after the delete: %+v", got)
		}
		if other, _ := s.Facts(ctx, 8); len(other) != 1 {
			t.Errorf("another incident's facts after the delete = %+v", other)
		}
	})
}

// TestIntelImportLarge imports a feed of several batches (benchIndicator's,
// with a value named twice across batches and some expired), looks values
// up, and re-imports an overlapping range over it.
func TestIntelImportLarge(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 12_345
		load := func(from, to int) *records.IntelFeed {
			t.Helper()
			im, err := s.BeginIntelImport(ctx, "large")
			if err != nil {
				t.Fatal(err)
			}
			for i := from; i < to; i++ {
				if err := im.Add(ctx, benchIndicator(i)); err != nil {
					t.Fatal(err)
				}
			}
			again := benchIndicator(from + 3) // named again, batches later: the first stays
			again.Score, again.Ref = 1000, "again"
			if err := im.Add(ctx, again); err != nil {
				t.Fatal(err)
			}
			f, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "tester"})
			if err != nil {
				t.Fatal(err)
			}
			if f.Indicators != to-from || f.Duplicates != 1 {
				t.Errorf("feed: %d indicators, %d duplicates; want %d, 1", f.Indicators, f.Duplicates, to-from)
			}
			return f
		}
		check := func(from, to int) {
			t.Helper()
			for _, i := range []int{0, 3, 19, 39, 1234, n / 2, n/2 + 19, n - 1, n + 7, n + n/2 - 1} {
				in := benchIndicator(i)
				want := i >= from && i < to && in.ValidAt(benchNow)
				got, err := s.LookupIntel(ctx, in.Kind, in.Value, benchNow)
				if err != nil {
					t.Fatal(err)
				}
				if (len(got) == 1) != want || len(got) > 1 {
					t.Errorf("LookupIntel(%s, %s) for indicator %d = %v; want a match: %v", in.Kind, in.Value, i, got, want)
					continue
				}
				if want && (got[0].Score != in.Score || got[0].Ref != in.Ref || got[0].Feed != "large") {
					t.Errorf("indicator %d: got %+v; want score %d, ref %q", i, got[0], in.Score, in.Ref)
				}
			}
		}
		load(0, n)
		check(0, n)
		if in := benchIndicator(19); in.ValidUntil == nil || !in.ValidUntil.Before(benchNow) {
			t.Fatalf("indicator 19 should have expired by %s: %+v", benchNow, in) // the checks above rely on it
		}
		load(n/2, n+n/2) // replaces the feed: the first half goes
		check(n/2, n+n/2)
		if names, err := s.IntelStagingTablesForTest(ctx); err != nil || len(names) != 0 {
			t.Errorf("staging tables left: %v, %v", names, err)
		}
	})
}

// TestIntelImportOvertaken: an import that a later one of the same feed
// overtook is refused with a conflict (on PostgreSQL as soon as it writes
// again, since its staging table went with the later commit), and a
// staging table that lost its rows (PostgreSQL restarted) fails the import
// rather than committing part of it.
func TestIntelImportOvertaken(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		a, err := s.BeginIntelImport(ctx, "feed")
		if err != nil {
			t.Fatal(err)
		}
		importFeed(t, s, "feed", false, intel.Indicator{Kind: intel.KindIP, Value: "192.0.2.1"})
		var err2 error
		for i := 0; i < 6000 && err2 == nil; i++ { // more than a batch: a flush
			err2 = a.Add(ctx, benchIndicator(i))
		}
		if err2 == nil {
			_, err2 = a.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "tester"})
		} else {
			a.Abort(ctx)
		}
		if domain.KindOf(err2) != domain.KindConflict {
			t.Errorf("an overtaken import: %v; want a conflict", err2)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "192.0.2.1", now); len(got) != 1 {
			t.Errorf("the later import's indicator: %v", got)
		}

		if s.Dialect() != store.Postgres {
			return
		}
		b, err := s.BeginIntelImport(ctx, "feed")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6000 {
			if err := b.Add(ctx, benchIndicator(i)); err != nil {
				t.Fatal(err)
			}
		}
		names, err := s.IntelStagingTablesForTest(ctx)
		if err != nil || len(names) != 1 {
			t.Fatalf("staging tables: %v, %v", names, err)
		}
		if err := s.ExecForTest(ctx, `TRUNCATE `+names[0]); err != nil { // as a restart does to an unlogged table
			t.Fatal(err)
		}
		if _, err := b.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "tester"}); err == nil || !strings.Contains(err.Error(), "staging table holds") {
			t.Errorf("commit after the staging table lost its rows: %v", err)
		}
		if got, _ := s.LookupIntel(ctx, intel.KindIP, "192.0.2.1", now); len(got) != 1 {
			t.Errorf("the feed changed: %v", got)
		}
		if names, err := s.IntelStagingTablesForTest(ctx); err != nil || len(names) != 0 {
			t.Errorf("staging tables left: %v, %v", names, err)
		}
	})
}

// TestRecordFactsMany: one call with more facts than one statement
// takes records them all, and of two facts with the same entity, kind and
// source in one call the later one holds.
func TestRecordFactsMany(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		var facts []domain.Fact
		for i := range 1201 {
			facts = append(facts, domain.Fact{Entity: domain.EntityKey(fmt.Sprintf("ip:10.0.%d.%d", i/256, i%256)), Kind: domain.FactPrevalence,
				Source: "store", Value: domain.RawJSON(fmt.Sprintf(`{"devices":%d}`, i)), ObservedAt: t0})
		}
		facts = append(facts, domain.Fact{Entity: "ip:10.0.0.0", Kind: domain.FactPrevalence, Source: "store", Value: domain.RawJSON(`{"devices":99}`), ObservedAt: t0})
		if err := s.RecordFacts(ctx, 7, facts); err != nil {
			t.Fatal(err)
		}
		got, err := s.Facts(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1201 {
			t.Fatalf("recorded %d facts, want 1201", len(got))
		}
		if got[0].Entity != "ip:10.0.0.0" || string(got[0].Value) != `{"devices":99}` {
			t.Errorf("first fact = %+v, want the later of the two for ip:10.0.0.0", got[0])
		}
		// New facts and a stale one cleared in one call; and a stale fact
		// written again in the same call holds.
		vendorErr := domain.Fact{Entity: "ip:10.0.0.1", Kind: domain.FactVendorError, Source: "mde", Value: domain.RawJSON(`{}`), ObservedAt: t0}
		if err := s.RecordFacts(ctx, 8, []domain.Fact{vendorErr}); err != nil {
			t.Fatal(err)
		}
		stats := domain.Fact{Entity: "ip:10.0.0.1", Kind: "vendor.stats", Source: "mde", Value: domain.RawJSON(`{"n":1}`), ObservedAt: t0}
		if err := s.RecordFacts(ctx, 8, []domain.Fact{stats}, vendorErr); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Facts(ctx, 8); len(got) != 1 || got[0].Kind != "vendor.stats" {
			t.Errorf("after clearing the vendor's error: %+v, want only its statistics", got)
		}
		vendorErr.Value = domain.RawJSON(`{"again":true}`)
		if err := s.RecordFacts(ctx, 8, []domain.Fact{vendorErr}, vendorErr); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Facts(ctx, 8); len(got) != 2 || got[0].Kind != domain.FactVendorError || string(got[0].Value) != `{"again":true}` {
			t.Errorf("a fact cleared and written in one call: %+v, want it written", got)
		}
		if got, _ := s.Facts(ctx, 7); len(got) != 1201 {
			t.Errorf("incident 7 has %d facts after incident 8's changes, want 1201", len(got))
		}
	})
}
