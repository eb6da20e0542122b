// Package enrich is the contract between the analysis activity and the
// vendor connectors that can tell AIR more about an entity (SPEC "Facts and
// verdicts", docs/intel.md): Defender for Endpoint's file and IP statistics,
// a machine's logged-on users and related alerts, Microsoft Graph's
// risky-user state and recent sign-ins, and the lab tenant's equivalents.
//
// A connector that offers enrichment implements Enricher beside its
// remediation.Executor: for an entity it declares Lookups, one per fact
// kind, and Run calls them with a time budget and a few retries of what
// may pass (a throttle, a 5xx, a network error), turning each answer into
// a domain.Fact whose source is the vendor. A lookup that fails for good —
// a 401/403/404, a throttle or outage that outlasts the retries, the budget
// spent — becomes part of one vendor.error fact naming the vendor, the call
// and what it answered; the analysis goes on. The package is a leaf: it
// depends on domain only, so connectors do not import activities or store.
package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Enricher is a connector that can tell more about some entities.
type Enricher interface {
	// Vendor names the facts' source: the connector's name ("mde",
	// "graph", "lab").
	Vendor() string
	// Lookups are the calls that tell about e, one per fact kind; none when
	// the vendor has nothing to say about such an entity, or the entity
	// lacks what the vendor needs (a file known by its MD5 only).
	Lookups(e domain.Entity) []Lookup
}

// Lookup is one call that yields one fact.
type Lookup struct {
	// Kind is the fact kind it yields (domain.FactVendor*).
	Kind string
	// Call says what is asked, for the error fact and logs ("GET
	// /api/files/{sha1}/stats").
	Call string
	// Do asks; its value becomes the fact's value (JSON). An error that
	// has no domain kind (domain.KindOf is "") may pass and is retried;
	// one that has a kind is final.
	Do func(ctx context.Context) (any, error)
}

// Options bound Run.
type Options struct {
	// Budget bounds one vendor's lookups about one entity, retries
	// included; 0 means DefaultBudget.
	Budget time.Duration
	// Attempts per lookup; 0 means DefaultAttempts.
	Attempts int
	// Backoff is the wait before the first retry, doubled after each; a
	// vendor's Retry-After stands over it. 0 means DefaultBackoff.
	Backoff time.Duration
}

// Defaults of Options. The analysis runs as a local activity with a
// 30-second limit: one vendor's lookups must end well within it.
const (
	DefaultBudget   = 15 * time.Second
	DefaultAttempts = 3
	DefaultBackoff  = 500 * time.Millisecond
)

// Failure is one lookup that gave no fact.
type Failure struct {
	// Kind is the fact kind the lookup was to give.
	Kind string `json:"kind"`
	Call string `json:"call"`
	// Error is what the vendor answered, or why no answer came.
	Error string `json:"error"`
	// ErrorKind is the answer's domain kind (forbidden, not_found,
	// invalid, …); "" for what might have passed with more time (a
	// throttle, an outage, a timeout).
	ErrorKind domain.ErrorKind `json:"errorKind,omitempty"`
	// TimedOut: the budget ran out before an answer.
	TimedOut bool `json:"timedOut,omitempty"`
	Attempts int  `json:"attempts"`
}

// ErrorFact is the value of a vendor.error fact: what one vendor could not
// tell about the entity.
type ErrorFact struct {
	Vendor   string    `json:"vendor"`
	Failures []Failure `json:"failures"`
}

// Result is what Run learned from one vendor about one entity.
type Result struct {
	// Facts are one per lookup that answered, and a vendor.error fact when
	// any failed.
	Facts []domain.Fact
	// Failures are the lookups that failed, as in the error fact.
	Failures []Failure
	// Kinds are the fact kinds of the lookups that answered.
	Kinds []string
}

// Run asks one vendor about one entity and returns the facts, stamped with
// at. It never fails: a lookup that does not answer is a Failure.
func Run(ctx context.Context, en Enricher, e domain.Entity, at time.Time, opts Options) Result {
	var res Result
	lookups := en.Lookups(e)
	if len(lookups) == 0 {
		return res
	}
	budget := opts.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	for _, l := range lookups {
		v, f := attempt(ctx, l, opts)
		if f != nil {
			res.Failures = append(res.Failures, *f)
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			res.Failures = append(res.Failures, Failure{Kind: l.Kind, Call: l.Call, Error: "encode the answer: " + err.Error(), Attempts: 1})
			continue
		}
		res.Facts = append(res.Facts, domain.Fact{Entity: e.Key, Kind: l.Kind, Value: raw, Source: en.Vendor(), ObservedAt: at})
		res.Kinds = append(res.Kinds, l.Kind)
	}
	if len(res.Failures) > 0 {
		raw, _ := json.Marshal(ErrorFact{Vendor: en.Vendor(), Failures: res.Failures}) // strings, ints and bools only
		res.Facts = append(res.Facts, domain.Fact{Entity: e.Key, Kind: domain.FactVendorError, Value: raw, Source: en.Vendor(), ObservedAt: at})
	}
	return res
}

// attempt calls one lookup, retrying what may pass while the budget lasts.
func attempt(ctx context.Context, l Lookup, opts Options) (any, *Failure) {
	attempts := opts.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	backoff := opts.Backoff
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	fail := func(err error, n int) *Failure {
		f := &Failure{Kind: l.Kind, Call: l.Call, Error: err.Error(), ErrorKind: domain.KindOf(err), Attempts: n}
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			f.TimedOut = true
			if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				f.Error += " (then the time allowed ran out)"
			}
		}
		return f
	}
	for n := 1; ; n++ {
		v, err := l.Do(ctx)
		if err == nil {
			return v, nil
		}
		if domain.KindOf(err) != "" || n >= attempts || ctx.Err() != nil {
			return nil, fail(err, n)
		}
		wait := backoff << (n - 1)
		var rd interface{ RetryDelay() time.Duration }
		if errors.As(err, &rd) && rd.RetryDelay() > 0 {
			wait = rd.RetryDelay()
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fail(fmt.Errorf("%w; the next try (after %s) would not end in the time allowed", err, wait), n)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fail(err, n)
		case <-t.C:
		}
	}
}

// Source gives the enrichers of each entity kind; connector.Router is one.
type Source interface {
	Enrichers(k domain.EntityKind) []Enricher
}
