package enrich_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

type fakeVendor struct{ lookups []enrich.Lookup }

func (f fakeVendor) Vendor() string                        { return "fake" }
func (f fakeVendor) Lookups(domain.Entity) []enrich.Lookup { return f.lookups }

type throttled struct{ after time.Duration }

func (t throttled) Error() string             { return "HTTP 429" }
func (t throttled) RetryDelay() time.Duration { return t.after }

// counting returns a lookup that fails with errs in turn, then answers.
func counting(kind string, n *int, errs ...error) enrich.Lookup {
	return enrich.Lookup{Kind: kind, Call: "GET /" + kind, Do: func(ctx context.Context) (any, error) {
		*n++
		if *n <= len(errs) {
			return nil, errs[*n-1]
		}
		return map[string]int{"n": *n}, nil
	}}
}

func TestRun(t *testing.T) {
	t.Parallel()
	e := domain.Entity{Key: "user:u", Kind: domain.KindUser}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opts := enrich.Options{Budget: 2 * time.Second, Backoff: time.Millisecond}
	var a, b, c, d int
	r := enrich.Run(context.Background(), fakeVendor{[]enrich.Lookup{
		counting("vendor.a", &a, errors.New("connection reset"), throttled{10 * time.Millisecond}), // passes on the third try
		counting("vendor.b", &b, domain.Errorf(domain.KindForbidden, "no permission")),             // final at once
		counting("vendor.c", &c, errors.New("503"), errors.New("503"), errors.New("503")),          // out of attempts
		counting("vendor.d", &d, throttled{time.Minute}),                                           // Retry-After past the budget
	}}, e, at, opts)
	if a != 3 || b != 1 || c != 3 || d != 1 {
		t.Errorf("calls a=%d b=%d c=%d d=%d, want 3 1 3 1", a, b, c, d)
	}
	if len(r.Kinds) != 1 || r.Kinds[0] != "vendor.a" || len(r.Facts) != 2 || r.Facts[0].Source != "fake" || !r.Facts[0].ObservedAt.Equal(at) {
		t.Fatalf("result %+v", r)
	}
	var ef enrich.ErrorFact
	if err := json.Unmarshal(r.Facts[1].Value, &ef); err != nil || r.Facts[1].Kind != domain.FactVendorError || ef.Vendor != "fake" || len(ef.Failures) != 3 {
		t.Fatalf("error fact %s (%v)", r.Facts[1].Value, err)
	}
	if f := ef.Failures[0]; f.Kind != "vendor.b" || f.ErrorKind != domain.KindForbidden || f.Attempts != 1 {
		t.Errorf("forbidden failure %+v", f)
	}
	if f := ef.Failures[1]; f.Kind != "vendor.c" || f.ErrorKind != "" || f.Attempts != 3 {
		t.Errorf("unavailable failure %+v", f)
	}
	if f := ef.Failures[2]; f.Kind != "vendor.d" || !strings.Contains(f.Error, "would not end in the time allowed") {
		t.Errorf("throttled failure %+v", f)
	}

	// A look-up that hangs ends with the budget, as a time-out.
	hang := enrich.Lookup{Kind: "vendor.h", Call: "GET /h", Do: func(ctx context.Context) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	start := time.Now()
	r = enrich.Run(context.Background(), fakeVendor{[]enrich.Lookup{hang}}, e, at, enrich.Options{Budget: 50 * time.Millisecond})
	if time.Since(start) > time.Second || len(r.Failures) != 1 || !r.Failures[0].TimedOut {
		t.Errorf("hanging look-up: %s, %+v", time.Since(start), r.Failures)
	}
	// Nothing to ask: nothing at all, not even an error fact.
	if r := enrich.Run(context.Background(), fakeVendor{}, e, at, opts); len(r.Facts) != 0 {
		t.Errorf("no lookups: %+v", r)
	}
}
