package auth

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/airsoc/air/internal/store"
)

// Rate is a token-bucket limit: PerSecond requests a second on average,
// Burst at once. The zero value means 20 a second with bursts of 100; a
// negative PerSecond turns limiting off.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (r Rate) withDefaults() Rate {
	if r.PerSecond == 0 {
		r.PerSecond = 20
	}
	if r.Burst <= 0 {
		r.Burst = 100
	}
	return r
}

// bucket is r as the shared counts keep it: one request every interval.
func (r Rate) bucket() store.RateBucket {
	return store.RateBucket{Interval: max(time.Nanosecond, time.Duration(float64(time.Second)/r.PerSecond)), Burst: r.Burst}
}

// SharedCounts keeps rate-limit buckets where every process using the same
// database sees them; *store.Store is one (see its RateLimitTake).
type SharedCounts interface {
	RateLimitTake(ctx context.Context, key string, b store.RateBucket, n int, now time.Time) (int, time.Duration, error)
	RateLimitPeek(ctx context.Context, key string, b store.RateBucket, now time.Time) (int, time.Duration, error)
	RateLimitPrune(ctx context.Context, now time.Time) (int64, error)
}

var _ SharedCounts = (*store.Store)(nil)

// DefaultBatch is how many requests Allow reserves from the shared counts
// at a time when Limiter.Batch is 0 (capped at a tenth of the burst).
const DefaultBatch = 10

// Limiter limits requests per key (a token id, or a client address for
// callers without a valid token). It is safe for concurrent use; one
// Limiter serves the API and the pages so that they share a budget.
//
// Every key has a bucket in this process (golang.org/x/time/rate), which
// alone is the limit when Shared is nil. With Shared set, a request must
// also be covered by the bucket in the database that every process shares:
// Allow reserves Batch requests from it at a time and spends them here, so
// that a busy token costs one database round trip per Batch requests, and
// a refusal is remembered until the shared bucket refills, so that a flood
// past the limit costs none. Processes together admit at most the bucket's
// allowance plus, per process, Batch-1 requests reserved but not yet spent;
// never more than the rate over time. Charge reserves one at a time: exact
// counts, for failed attempts that must lock out in every process.
//
// When the shared counts fail (database unreachable), the limiter fails
// open to this process's bucket, logging a warning at most once a minute:
// each process then allows the full rate, as before the counts were
// shared, rather than refusing every request.
type Limiter struct {
	Rate Rate
	// Now is the clock; nil means time.Now. With Shared set, every
	// process's clock counts: one running s ahead admits about s×rate more.
	Now func() time.Time
	// Shared holds the counts every process shares; nil counts in this
	// process only.
	Shared SharedCounts
	// Batch is how many requests Allow reserves from Shared at a time (at
	// most the burst); 0 means DefaultBatch, at most a tenth of the burst
	// and at least 1.
	Batch int
	// Log hears of failing shared counts; nil means logrus's standard
	// logger.
	Log logrus.FieldLogger

	mu     sync.Mutex
	keys   map[string]*keyState
	pruned time.Time // when expired shared buckets were last deleted
	warned time.Time // when a failure of the shared counts was last logged
}

// keyState is one key's state in this process. Its mutex is held across
// the key's database round trip, so that concurrent requests of one key
// reserve one batch, not one each; other keys go on meanwhile.
type keyState struct {
	mu      sync.Mutex
	front   *rate.Limiter
	lease   int       // requests reserved from the shared counts, not yet spent
	blocked time.Time // the shared bucket holds nothing until then
}

// maxKeys bounds memory: past it, keys whose buckets have refilled are
// dropped (with them a few reserved requests, which only errs low).
const maxKeys = 10000

// sharedTimeout bounds one call to the shared counts; past it the limiter
// fails open like on any other error.
const sharedTimeout = time.Second

// pruneEvery is how often a process deletes shared buckets that are full
// again (rows that count the same as no row).
const pruneEvery = time.Minute

// Allow takes one request from key's budget. When it is spent it returns
// false and how long until a request would be allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	rt := l.Rate.withDefaults()
	return l.take(key, rt, l.batch(rt))
}

// Charge is Allow reserving exactly one request from the shared counts:
// for failed attempts, which are rare and must lock a key out in every
// process as soon as its budget is spent.
func (l *Limiter) Charge(key string) (bool, time.Duration) {
	return l.take(key, l.Rate.withDefaults(), 1)
}

func (l *Limiter) batch(rt Rate) int {
	if l.Batch > 0 {
		return min(l.Batch, rt.Burst)
	}
	return min(DefaultBatch, max(1, rt.Burst/10))
}

func (l *Limiter) take(key string, rt Rate, batch int) (bool, time.Duration) {
	if rt.PerSecond < 0 {
		return true, 0
	}
	now := l.now()
	ks := l.state(key, rt, now)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if now.Before(ks.blocked) {
		return false, ks.blocked.Sub(now)
	}
	if tokens := ks.front.TokensAt(now); tokens < 1 {
		return false, waitFor(tokens, rt)
	}
	r := ks.front.ReserveN(now, 1)
	if l.Shared == nil {
		return true, 0
	}
	if ks.lease > 0 {
		ks.lease--
		return true, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	granted, wait, err := l.Shared.RateLimitTake(ctx, key, rt.bucket(), batch, now)
	if err != nil {
		l.warn(err, now)
		return true, 0 // fail open: the front bucket still holds this process to the rate
	}
	l.prune(ctx, now)
	if granted == 0 {
		r.CancelAt(now) // the front counts requests served
		ks.blocked = now.Add(wait)
		return false, wait
	}
	ks.lease = granted - 1
	return true, 0
}

// Exhausted reports, without taking a request, whether key's budget is
// spent and how long until it is not. Sign-in charges only failed attempts:
// it checks Exhausted first and calls Charge when an attempt fails.
func (l *Limiter) Exhausted(key string) (bool, time.Duration) {
	rt := l.Rate.withDefaults()
	if rt.PerSecond < 0 {
		return false, 0
	}
	now := l.now()
	ks := l.state(key, rt, now)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if now.Before(ks.blocked) {
		return true, ks.blocked.Sub(now)
	}
	if tokens := ks.front.TokensAt(now); tokens < 1 {
		return true, waitFor(tokens, rt)
	}
	if l.Shared == nil || ks.lease > 0 {
		return false, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	n, wait, err := l.Shared.RateLimitPeek(ctx, key, rt.bucket(), now)
	if err != nil {
		l.warn(err, now)
		return false, 0
	}
	if n == 0 {
		ks.blocked = now.Add(wait)
		return true, wait
	}
	return false, 0
}

// waitFor is how long until a bucket holding tokens (< 1) holds one.
func waitFor(tokens float64, rt Rate) time.Duration {
	return time.Duration((1 - tokens) / rt.PerSecond * float64(time.Second))
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// state returns key's state in this process, made on first use.
func (l *Limiter) state(key string, rt Rate, now time.Time) *keyState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*keyState{}
	}
	ks, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= maxKeys {
			l.forget(now, rt)
		}
		ks = &keyState{front: rate.NewLimiter(rate.Limit(rt.PerSecond), rt.Burst)}
		l.keys[key] = ks
	}
	return ks
}

// forget drops the keys whose buckets here have refilled and that the
// shared counts do not block; l.mu is held. A key busy in a round trip
// is kept.
func (l *Limiter) forget(now time.Time, rt Rate) {
	for k, ks := range l.keys {
		if !ks.mu.TryLock() {
			continue
		}
		if ks.front.TokensAt(now) >= float64(rt.Burst) && !now.Before(ks.blocked) {
			delete(l.keys, k)
		}
		ks.mu.Unlock()
	}
}

// prune deletes the shared buckets that are full again, once every
// pruneEvery per process.
func (l *Limiter) prune(ctx context.Context, now time.Time) {
	l.mu.Lock()
	due := now.Sub(l.pruned) >= pruneEvery
	if due {
		l.pruned = now
	}
	l.mu.Unlock()
	if !due {
		return
	}
	if _, err := l.Shared.RateLimitPrune(ctx, now); err != nil {
		l.warn(err, now)
	}
}

// warn logs a failure of the shared counts, at most once a minute: a
// database outage must not flood the log with one line per request.
func (l *Limiter) warn(err error, now time.Time) {
	l.mu.Lock()
	due := l.warned.IsZero() || now.Sub(l.warned) >= time.Minute
	if due {
		l.warned = now
	}
	l.mu.Unlock()
	if !due {
		return
	}
	var log logrus.FieldLogger = logrus.StandardLogger()
	if l.Log != nil {
		log = l.Log
	}
	log.WithError(err).Warn("rate limits: the shared counts failed; limiting per process until they answer")
}

// Keys of the buckets by address. Failed API authentication and failed page
// sign-in have a bucket each: a forwarder retrying a revoked token must not
// lock every analyst behind the same proxy out of the pages, nor the other
// way round.
const (
	KeyAPIAuthFailed = "api-auth-failed:"
	KeySignInFailed  = "signin-failed:"
	// KeySignInPrefix counts failed sign-ins by the first characters of
	// the secret tried (signInPrefixLen), whatever the address: attempts
	// at one partly known secret (seen over a shoulder, in a screenshot,
	// in a truncated log line) spread across many addresses still run
	// into the limit.
	KeySignInPrefix = "signin-failed-prefix:"
)

// signInPrefixLen is how much of a tried secret names its prefix bucket:
// "air_" and 8 characters (48 bits) of the 43 random ones.
const signInPrefixLen = len(SecretPrefix) + 8

// signInKeys are the buckets a failed page sign-in from addr with secret
// is charged to: the address's, and the secret prefix's when the secret
// looks like one.
func signInKeys(addr, secret string) []string {
	keys := []string{KeySignInFailed + addr}
	if s := strings.TrimSpace(secret); strings.HasPrefix(s, SecretPrefix) && len(s) >= signInPrefixLen {
		keys = append(keys, KeySignInPrefix+s[:signInPrefixLen])
	}
	return keys
}

// SignInExhausted reports whether a page sign-in from addr with secret must
// be refused without checking the secret (too many failed attempts from
// the address or at the secret's prefix), and for how long.
func (l *Limiter) SignInExhausted(addr, secret string) (bool, time.Duration) {
	for _, k := range signInKeys(addr, secret) {
		if blocked, wait := l.Exhausted(k); blocked {
			return true, wait
		}
	}
	return false, 0
}

// SignInFailed charges a failed page sign-in from addr with secret.
func (l *Limiter) SignInFailed(addr, secret string) {
	for _, k := range signInKeys(addr, secret) {
		l.Charge(k)
	}
}
