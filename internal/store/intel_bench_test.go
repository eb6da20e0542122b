package store_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// The intel benchmarks' sizes. The defaults keep `go test -bench Intel`
// quick; docs/intel.md has the figures for a million indicators:
//
//	go test ./internal/store -run '^$' -bench 'Intel|Prevalence' -intel.indicators 1000000
var (
	benchIndicators = flag.Int("intel.indicators", 100_000, "indicators the intel benchmarks import and look up among")
	benchAlerts     = flag.Int("prevalence.alerts", 5_000, "alerts BenchmarkPrevalence ingests before looking up")
)

// benchNow is the time look-ups ask about: a twentieth of the benchmark's
// indicators carry a validity window, half of them expired by then.
var benchNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// benchIndicator is the i-th indicator of the benchmark feed: six in ten
// IPv4 addresses, two domains, one URL, one SHA-256, in an order that
// scatters them over the index as real feeds do (ipsum is sorted by score,
// not address).
func benchIndicator(i int) intel.Indicator {
	x := uint32(i) * 2654435761 // a bijection of uint32: every i has its own x
	var in intel.Indicator
	switch i % 10 {
	case 0, 1, 2, 3, 4, 5:
		in = intel.Indicator{Kind: intel.KindIP, Value: fmt.Sprintf("%d.%d.%d.%d", x>>24, x>>16&0xff, x>>8&0xff, x&0xff)}
	case 6, 7:
		in = intel.Indicator{Kind: intel.KindDomain, Value: fmt.Sprintf("h%08x.bench%d.example", x, i%97)}
	case 8:
		in = intel.Indicator{Kind: intel.KindURL, Value: fmt.Sprintf("http://h%08x.example/p/%d", x, i)}
	default:
		in = intel.Indicator{Kind: intel.KindFile, Value: fmt.Sprintf("%056x%08x", i, x)}
	}
	in.Score, in.Ref = i%100, "line "+strconv.Itoa(i+1)
	if i%20 == 19 {
		from := benchNow.Add(-30 * 24 * time.Hour)
		until := benchNow.Add(time.Duration(i%40/20*2-1) * 24 * time.Hour) // i%40 == 19: expired a day ago
		in.ValidFrom, in.ValidUntil = &from, &until
	}
	return in
}

// benchMiss is a value of the kind of benchIndicator(i) that no indicator
// of [0, n) is: one of the same kind from past the end of the feed.
func benchMiss(i, n int) string {
	return benchIndicator(i + (n+9)/10*10).Value
}

// importBenchFeed imports indicators [0, n) as feed name.
func importBenchFeed(tb testing.TB, s *store.Store, name string, n int) {
	tb.Helper()
	importIndicators(tb, s, name, n, benchIndicator)
}

// importIndicators imports indicator(0) … indicator(n-1) as feed name and
// checks that all were stored.
func importIndicators(tb testing.TB, s *store.Store, name string, n int, indicator func(i int) intel.Indicator) {
	tb.Helper()
	ctx := context.Background()
	im, err := s.BeginIntelImport(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if err := im.Add(ctx, indicator(i)); err != nil {
			tb.Fatal(err)
		}
	}
	f, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, ImportedBy: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	if f.Indicators != n {
		tb.Fatalf("imported %d indicators; want %d", f.Indicators, n)
	}
}

// eachBenchStore runs fn as a sub-benchmark on a fresh SQLite store and, when
// TEST_DATABASE_URL is set, a fresh PostgreSQL schema.
func eachBenchStore(b *testing.B, fn func(b *testing.B, s *store.Store)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) {
		s := storetest.Postgres(b)
		if s == nil {
			b.Skip("TEST_DATABASE_URL not set")
		}
		fn(b, s)
	})
}

// reportLatencies reports the median and 99th percentile of lat in ms.
func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkIntelImport imports -intel.indicators indicators as a new feed
// (a fresh feed each iteration; deleting it is not timed) and reports
// indicators/s. The indicators are made before the timer starts, so that
// the figure is the store's own, not fmt.Sprintf's.
func BenchmarkIntelImport(b *testing.B) {
	n := *benchIndicators
	ins := make([]intel.Indicator, n)
	for i := range ins {
		ins[i] = benchIndicator(i)
	}
	eachBenchStore(b, func(b *testing.B, s *store.Store) {
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			name := "bench-" + strconv.Itoa(i)
			importIndicators(b, s, name, n, func(i int) intel.Indicator { return ins[i] })
			b.StopTimer()
			if _, err := s.DeleteIntelFeed(ctx, name, "bench"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "indicators/s")
	})
}

// BenchmarkIntelLookup loads -intel.indicators indicators and a warning list
// of networks and parent domains, then times LookupIntel of each kind, half
// values a feed names and half not, and reports p50 and p99. It checks
// every answer, expired indicators included.
func BenchmarkIntelLookup(b *testing.B) {
	n := *benchIndicators
	eachBenchStore(b, func(b *testing.B, s *store.Store) {
		importBenchFeed(b, s, "bench", n)
		importFeed(b, s, "ranges", true,
			intel.Indicator{Kind: intel.KindCIDR, Value: "10.0.0.0/8"}, intel.Indicator{Kind: intel.KindCIDR, Value: "172.16.0.0/12"},
			intel.Indicator{Kind: intel.KindCIDR, Value: "192.168.0.0/16"}, intel.Indicator{Kind: intel.KindCIDR, Value: "2001:db8::/32"},
			intel.Indicator{Kind: intel.KindDomain, Value: "bench7.example", Subdomains: true})
		ctx := context.Background()
		for _, kind := range []intel.Kind{intel.KindIP, intel.KindDomain, intel.KindURL, intel.KindFile} {
			// Indices of this kind: benchIndicator's kind follows i%10.
			var offsets []int
			for o := range 10 {
				if benchIndicator(o).Kind == kind {
					offsets = append(offsets, o)
				}
			}
			b.Run(string(kind), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				lat := make([]time.Duration, 0, b.N)
				for j := range b.N {
					i := rng.IntN(n/10)*10 + offsets[rng.IntN(len(offsets))]
					in := benchIndicator(i)
					value, want := in.Value, in.ValidAt(benchNow)
					if j%2 == 1 {
						value = benchMiss(i, n)
						want = false
					}
					t0 := time.Now()
					ms, err := s.LookupIntel(ctx, kind, value, benchNow)
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					found := slices.ContainsFunc(ms, func(m records.IntelMatch) bool { return m.Feed == "bench" })
					if found != want {
						b.Fatalf("LookupIntel(%s, %s): matches %v; want a match of feed bench: %v", kind, value, ms, want)
					}
				}
				reportLatencies(b, lat)
			})
		}
	})
}

// prevalenceData is what BenchmarkPrevalence ingests: alerts, each with a
// device, a user, a file, an IP and a URL drawn from pools, so that each
// value is seen on several devices.
type prevalenceData struct{ alerts, files, ips, urls int }

func newPrevalenceData(alerts int) prevalenceData {
	return prevalenceData{alerts: alerts, files: max(1, alerts/10), ips: max(1, alerts/4), urls: max(1, alerts/5)}
}

func (d prevalenceData) hash(i int) string { return fmt.Sprintf("%064x", i%d.files+1) }
func (d prevalenceData) ip(i int) string {
	i %= d.ips
	return fmt.Sprintf("198.18.%d.%d", i/250%250, i%250+1)
}
func (d prevalenceData) domain(i int) string { return fmt.Sprintf("d%d.example", i%(d.urls/5+1)) }
func (d prevalenceData) url(i int) string {
	i %= d.urls
	return fmt.Sprintf("http://h%d.%s/x/%d", i%7, d.domain(i), i)
}

// ingest writes the alerts, a minute apart, in batches.
func (d prevalenceData) ingest(tb testing.TB, s *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []*domain.Alert
	for i := range d.alerts {
		f, p, u := d.hash(i*7919), d.ip(i*104729), d.url(i*1299709)
		batch = append(batch, alertAt("prev-"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Minute), domain.SeverityMedium,
			device(fmt.Sprintf("ws-%05d", i%(d.alerts/3+1)), domain.VerdictSuspicious),
			domain.Evidence{Type: "userEvidence", Entity: &domain.Entity{Key: domain.EntityKey(fmt.Sprintf("user:u%d@corp.example", i%(d.alerts/5+1))),
				Kind: domain.KindUser, Name: "u"}},
			domain.Evidence{Type: "fileEvidence", Entity: &domain.Entity{Key: domain.EntityKey("file:" + f), Kind: domain.KindFile, Name: "f.exe",
				Attrs: map[string]string{"sha256": f, "md5": f[32:]}}},
			domain.Evidence{Type: "ipEvidence", Entity: &domain.Entity{Key: domain.EntityKey("ip:" + p), Kind: domain.KindIP, Name: p}},
			domain.Evidence{Type: "urlEvidence", Entity: &domain.Entity{Key: domain.EntityKey("url:" + u), Kind: domain.KindURL, Name: u}}))
		if len(batch) == 500 || i == d.alerts-1 {
			if _, err := s.IngestAlerts(ctx, batch, correlate.Rules{}); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkPrevalence ingests -prevalence.alerts alerts (prevalenceData)
// and times Prevalence of each kind, checking that each finds its alerts.
func BenchmarkPrevalence(b *testing.B) {
	d := newPrevalenceData(*benchAlerts)
	eachBenchStore(b, func(b *testing.B, s *store.Store) {
		ctx := context.Background()
		d.ingest(b, s)
		for _, tc := range []struct {
			name  string
			kind  intel.Kind
			value func(i int) string
		}{
			{"sha256", intel.KindFile, d.hash},
			{"md5", intel.KindFile, func(i int) string { return d.hash(i)[32:] }},
			{"ip", intel.KindIP, d.ip},
			{"url", intel.KindURL, d.url},
			{"domain", intel.KindDomain, d.domain},
		} {
			b.Run(tc.name, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(3, 4))
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					v := tc.value(rng.IntN(1 << 30))
					t1 := time.Now()
					p, err := s.Prevalence(ctx, tc.kind, v)
					lat = append(lat, time.Since(t1))
					if err != nil {
						b.Fatal(err)
					}
					if p.Alerts == 0 {
						b.Fatalf("Prevalence(%s, %s) found no alert", tc.kind, v)
					}
				}
				reportLatencies(b, lat)
			})
		}
	})
}
