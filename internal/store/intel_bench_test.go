package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/store"
)

// TestIntelScale measures a large import and look-ups on it. It runs only
// when AIR_INTEL_BENCH gives the number of indicators (e.g. 1000000), on
// SQLite and, with TEST_DATABASE_URL, PostgreSQL; docs/intel.md has the
// figures.
func TestIntelScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AIR_INTEL_BENCH"))
	if n <= 0 {
		t.Skip("set AIR_INTEL_BENCH=N to import N indicators and time look-ups")
	}
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ip := func(i int) string { return fmt.Sprintf("%d.%d.%d.%d", 1+i>>24&0x7f, i>>16&0xff, i>>8&0xff, i&0xff) }
		start := time.Now()
		im, err := s.BeginIntelImport(ctx, "scale")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := im.Add(ctx, intel.Indicator{Kind: intel.KindIP, Value: ip(i), Score: i % 10, Ref: "line " + strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := im.Commit(ctx, store.IntelFeed{Format: intel.FormatList, ImportedBy: "bench"}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("%s: imported %d indicators in %s: %.0f indicators/s", s.Dialect(), n, took.Round(time.Millisecond), float64(n)/took.Seconds())

		// A warning list's networks are checked for every IP look-up.
		importFeed(t, s, "ranges", true, intel.Indicator{Kind: intel.KindCIDR, Value: "10.0.0.0/8"},
			intel.Indicator{Kind: intel.KindCIDR, Value: "192.168.0.0/16"}, intel.Indicator{Kind: intel.KindCIDR, Value: "172.16.0.0/12"})
		const lookups = 2000
		var lat []time.Duration
		now := time.Now()
		hits := 0
		for j := range lookups {
			v := ip(rand.IntN(n))
			if j%2 == 1 {
				v = "203.0.113." + strconv.Itoa(j%250) // a miss
			}
			t0 := time.Now()
			m, err := s.LookupIntel(ctx, intel.KindIP, v, now)
			lat = append(lat, time.Since(t0))
			if err != nil {
				t.Fatal(err)
			}
			hits += len(m)
		}
		slices.Sort(lat)
		t.Logf("%s: %d IP look-ups (half hits, %d matches): p50 %s, p99 %s, max %s", s.Dialect(), lookups, hits,
			lat[lookups/2], lat[lookups*99/100], lat[lookups-1])

		start = time.Now()
		if _, err := s.DeleteIntelFeed(ctx, "scale", "bench"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: deleted the feed in %s", s.Dialect(), time.Since(start).Round(time.Millisecond))
	})
}
