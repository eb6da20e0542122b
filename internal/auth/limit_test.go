package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// twoProcesses runs fn with two stores over one database, as two API
// processes behind a load balancer hold them: one SQLite file opened
// TestSharedLimitHoldsAcrossProcesses: a token's requests spread over two
// processes get one budget, not one each; Retry-After comes from the shared
// bucket, and the budget refills with the (fake) clock.
func TestSharedLimitHoldsAcrossProcesses(t *testing.T) {
	storetest.EachPair(t, func(t *testing.T, a, b *store.Store) {
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { return now }
		rt := auth.Rate{PerSecond: 0.5, Burst: 20} // Allow reserves 2 at a time
		l1 := &auth.Limiter{Rate: rt, Now: clock, Shared: a}
		l2 := &auth.Limiter{Rate: rt, Now: clock, Shared: b}
		admitted := 0
		for i := range 40 {
			l := l1
			if i%2 == 1 {
				l = l2
			}
			if ok, _ := l.Allow("token:tok_1"); ok {
				admitted++
			}
		}
		if admitted != 20 {
			t.Errorf("two processes admitted %d, want the burst of 20 between them (each alone admits 20)", admitted)
		}
		for _, l := range []*auth.Limiter{l1, l2} {
			if ok, wait := l.Allow("token:tok_1"); ok || wait != 2*time.Second {
				t.Errorf("spent budget: got %v, wait %v; want refused, 2s", ok, wait)
			}
		}
		now = now.Add(4 * time.Second) // two requests back
		admitted = 0
		for _, l := range []*auth.Limiter{l1, l2, l1, l2} {
			if ok, _ := l.Allow("token:tok_1"); ok {
				admitted++
			}
		}
		if admitted != 2 {
			t.Errorf("after 4s: admitted %d, want 2", admitted)
		}
		if ok, _ := l2.Allow("token:tok_2"); !ok {
			t.Error("another token shares the first one's budget")
		}
	})
}

// TestSharedLimitPrecision: with batches of 10, processes stay within the
// burst plus Batch-1 per process, however their requests interleave.
func TestSharedLimitPrecision(t *testing.T) {
	storetest.EachPair(t, func(t *testing.T, a, b *store.Store) {
		now := time.Unix(1_800_000_000, 0)
		rt := auth.Rate{PerSecond: 1, Burst: 100}
		ls := []*auth.Limiter{
			{Rate: rt, Now: func() time.Time { return now }, Shared: a},
			{Rate: rt, Now: func() time.Time { return now }, Shared: b},
		}
		// A process that reserved a batch and went quiet strands 9: the
		// other process runs dry 9 short of the burst, then the first one
		// spends its 9 later. Over the window both admit the burst.
		admitted := 0
		if ok, _ := ls[0].Allow("token:t"); ok {
			admitted++
		}
		for range 200 {
			if ok, _ := ls[1].Allow("token:t"); ok {
				admitted++
			}
		}
		if admitted != 91 {
			t.Errorf("while process 1 holds 9: admitted %d, want 91", admitted)
		}
		for range 20 {
			if ok, _ := ls[0].Allow("token:t"); ok {
				admitted++
			}
		}
		if admitted != 100 {
			t.Errorf("admitted %d in all, want exactly the burst of 100", admitted)
		}
		// One second later, one request is back: the process holding no
		// lease reserves it; the bound is the burst + 2×9 at worst.
		now = now.Add(time.Second)
		for range 5 {
			for _, l := range ls {
				if ok, _ := l.Allow("token:t"); ok {
					admitted++
				}
			}
		}
		if admitted != 101 {
			t.Errorf("after 1s: admitted %d in all, want 101", admitted)
		}
	})
}

// TestSharedLimitUnderConcurrency: goroutines of two processes racing on
// one token admit its burst exactly: a process reserves one batch at a
// time, and each spends what it reserved before it is refused.
func TestSharedLimitUnderConcurrency(t *testing.T) {
	storetest.EachPair(t, func(t *testing.T, a, b *store.Store) {
		rt := auth.Rate{PerSecond: 0.001, Burst: 100}
		ls := []*auth.Limiter{{Rate: rt, Shared: a}, {Rate: rt, Shared: b}}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for range 50 {
					if ok, _ := ls[i%2].Allow("token:t"); ok {
						admitted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := admitted.Load(); got != 100 {
			t.Errorf("admitted %d, want the burst of 100", got)
		}
	})
}

// TestSignInLockoutHoldsAcrossProcesses: failed sign-ins charged in one
// process lock the address out in the other, and failures at one secret
// prefix from many addresses lock that prefix out; both end with the
// window.
func TestSignInLockoutHoldsAcrossProcesses(t *testing.T) {
	storetest.EachPair(t, func(t *testing.T, a, b *store.Store) {
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { return now }
		rt := auth.Rate{PerSecond: 0.1, Burst: 5}
		l1 := &auth.Limiter{Rate: rt, Now: clock, Shared: a}
		l2 := &auth.Limiter{Rate: rt, Now: clock, Shared: b}
		guess := func(i int) string { return fmt.Sprintf("air_%08dxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i) }
		for i := range 5 {
			if blocked, _ := l1.SignInExhausted("192.0.2.1", guess(i)); blocked {
				t.Fatalf("attempt %d refused within the budget", i+1)
			}
			l1.SignInFailed("192.0.2.1", guess(i))
		}
		blocked, wait := l2.SignInExhausted("192.0.2.1", guess(99))
		if !blocked || wait != 10*time.Second {
			t.Errorf("other process after 5 failures: blocked %v, wait %v; want true, 10s", blocked, wait)
		}
		if blocked, _ := l2.SignInExhausted("192.0.2.2", guess(99)); blocked {
			t.Error("another address is locked out")
		}
		// One prefix tried from five addresses, alternating processes.
		prefix := "air_Secr3tPr"
		for i := range 5 {
			l := []*auth.Limiter{l1, l2}[i%2]
			l.SignInFailed(fmt.Sprintf("198.51.100.%d", i), prefix+strings.Repeat("x", 35+i))
		}
		if blocked, _ := l1.SignInExhausted("203.0.113.9", prefix+"anything-else-after-the-prefix"); !blocked {
			t.Error("a sixth address trying the same prefix is not locked out")
		}
		now = now.Add(10 * time.Second)
		for _, l := range []*auth.Limiter{l1, l2} {
			if blocked, _ := l.SignInExhausted("192.0.2.1", guess(100)); blocked {
				t.Error("the lockout outlasts its window")
			}
		}
	})
}

// TestSharedCountsArePruned: buckets that are full again leave the table
// within a minute of the limiter's clock.
func TestSharedCountsArePruned(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	now := time.Unix(1_800_000_000, 0)
	l := &auth.Limiter{Rate: auth.Rate{PerSecond: 1, Burst: 3}, Now: func() time.Time { return now }, Shared: st}
	for i := range 5 {
		l.Allow(fmt.Sprintf("token:%d", i))
	}
	now = now.Add(2 * time.Minute)
	l.Allow("token:another") // reserves, and prunes the five full buckets
	if n, err := st.RateLimitPrune(context.Background(), now.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("left for a later prune: %d rows (%v), want only token:another's", n, err)
	}
}

// TestSharedLimitFailsOpen: with the database gone, the limiter logs a
// warning once and falls back to the bucket in this process instead of
// refusing every request.
func TestSharedLimitFailsOpen(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	l := &auth.Limiter{Rate: auth.Rate{PerSecond: 1, Burst: 3}, Shared: st, Log: log}
	for i := range 3 {
		if ok, _ := l.Allow("token:t"); !ok {
			t.Fatalf("request %d refused with the database gone", i+1)
		}
	}
	if ok, _ := l.Allow("token:t"); ok {
		t.Error("past the burst with the database gone: allowed; want this process's bucket to refuse")
	}
	if blocked, _ := l.SignInExhausted("192.0.2.1", ""); blocked {
		t.Error("sign-in refused with the database gone")
	}
	if n := strings.Count(out.String(), "shared counts failed"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, out.String())
	}
}

// BenchmarkLimiter measures what one admitted request costs: in this
// process only, through the shared counts reserving 10 or 1 at a time,
// and a request refused while the shared bucket is empty. Run with
// TEST_DATABASE_URL for PostgreSQL's figures (docs/security.md).
func BenchmarkLimiter(b *testing.B) {
	open := map[string]func(testing.TB) *store.Store{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
	wide := auth.Rate{PerSecond: 1e9, Burst: 1e9}
	b.Run("memory", func(b *testing.B) {
		l := &auth.Limiter{Rate: wide}
		for b.Loop() {
			l.Allow("token:t")
		}
	})
	for _, db := range []string{"sqlite", "postgres"} {
		for _, batch := range []int{10, 1} {
			b.Run(fmt.Sprintf("%s/batch=%d", db, batch), func(b *testing.B) {
				st := open[db](b)
				if st == nil {
					b.Skip("TEST_DATABASE_URL not set")
				}
				l := &auth.Limiter{Rate: wide, Shared: st, Batch: batch}
				for b.Loop() {
					if ok, _ := l.Allow("token:t"); !ok {
						b.Fatal("refused")
					}
				}
			})
		}
		b.Run(db+"/refused", func(b *testing.B) {
			st := open[db](b)
			if st == nil {
				b.Skip("TEST_DATABASE_URL not set")
			}
			l := &auth.Limiter{Rate: auth.Rate{PerSecond: 0.001, Burst: 1}, Shared: st}
			l.Allow("token:t")
			for b.Loop() {
				if ok, _ := l.Allow("token:t"); ok {
					b.Fatal("allowed")
				}
			}
		})
	}
}
