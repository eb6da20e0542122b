package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// twoStores runs fn on two stores over one database, as two processes
// would hold them: one SQLite file opened twice, and (with
// TestRateLimitTakeIsABucket follows one bucket (2 a second, bursts of 3)
// through takes, batches, a peek and a prune with a fake clock.
func TestRateLimitTakeIsABucket(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := store.RateBucket{Interval: 500 * time.Millisecond, Burst: 3}
		now := time.Unix(1_800_000_000, 0)
		take := func(n int) (int, time.Duration) {
			t.Helper()
			g, w, err := s.RateLimitTake(ctx, "token:a", b, n, now)
			if err != nil {
				t.Fatal(err)
			}
			return g, w
		}
		if g, _ := take(2); g != 2 {
			t.Fatalf("first batch of 2: granted %d", g)
		}
		if g, _ := take(5); g != 1 {
			t.Fatalf("batch of 5 from a bucket holding 1: granted %d, want 1", g)
		}
		if g, w := take(1); g != 0 || w != 500*time.Millisecond {
			t.Errorf("empty bucket: granted %d, wait %v; want 0, 500ms", g, w)
		}
		if n, w, err := s.RateLimitPeek(ctx, "token:a", b, now); err != nil || n != 0 || w != 500*time.Millisecond {
			t.Errorf("peek at the empty bucket: %d, %v, %v", n, w, err)
		}
		if n, _, err := s.RateLimitPeek(ctx, "token:other", b, now); err != nil || n != 3 {
			t.Errorf("peek at a key never taken: %d, %v; want 3", n, err)
		}
		now = now.Add(1200 * time.Millisecond) // two requests back, and 200ms towards a third
		if g, _ := take(3); g != 2 {
			t.Errorf("after 1.2s: granted %d, want 2", g)
		}
		if g, w := take(1); g != 0 || w != 300*time.Millisecond {
			t.Errorf("after the refill: granted %d, wait %v; want 0, 300ms (the 200ms towards a third count)", g, w)
		}
		if n, err := s.RateLimitPrune(ctx, now); err != nil || n != 0 {
			t.Errorf("prune while the bucket is short: deleted %d, %v", n, err)
		}
		now = now.Add(1500 * time.Millisecond)
		if n, err := s.RateLimitPrune(ctx, now); err != nil || n != 1 {
			t.Errorf("prune once the bucket is full: deleted %d, %v; want 1", n, err)
		}
		if g, _ := take(9); g != 3 {
			t.Errorf("after the prune: granted %d, want a full bucket of 3", g)
		}
	})
}

// TestRateLimitTakeAtOnceFromTwoStores: takes racing from two stores on
// one database (two processes) grant the bucket's burst exactly, never a
// request twice.
func TestRateLimitTakeAtOnceFromTwoStores(t *testing.T) {
	storetest.EachPair(t, func(t *testing.T, a, b *store.Store) {
		ctx := context.Background()
		bucket := store.RateBucket{Interval: time.Hour, Burst: 50}
		now := time.Now()
		var granted atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				for range 10 {
					g, _, err := s.RateLimitTake(ctx, "signin-failed:192.0.2.1", bucket, 1+i%3, now)
					if err != nil {
						t.Error(err)
						return
					}
					granted.Add(int64(g))
				}
			})
		}
		wg.Wait()
		if got := granted.Load(); got != 50 {
			t.Errorf("granted %d across two stores, want the burst of 50", got)
		}
	})
}
