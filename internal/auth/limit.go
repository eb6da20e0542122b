package auth

import (
	"math"
	"sync"
	"time"
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

// Limiter limits requests per key (a token id, or a client address for
// callers without a valid token). It is safe for concurrent use; one
// Limiter serves the API and the pages so that they share a budget.
type Limiter struct {
	Rate Rate
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxKeys bounds memory: past it, buckets that have refilled are dropped.
const maxKeys = 10000

// Allow takes one request from key's bucket. When the bucket is empty it
// returns false and how long until a request would be allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	rate := l.Rate.withDefaults()
	if rate.PerSecond < 0 {
		return true, 0
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxKeys {
			l.prune(now, rate)
		}
		b = &bucket{tokens: float64(rate.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(rate.Burst), b.tokens+now.Sub(b.at).Seconds()*rate.PerSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate.PerSecond * float64(time.Second))
	return false, wait
}

// Exhausted reports, without taking a request, whether key's bucket is
// empty and how long until it is not. Sign-in charges only failed attempts:
// it checks Exhausted first and calls Allow when an attempt fails.
func (l *Limiter) Exhausted(key string) (bool, time.Duration) {
	rate := l.Rate.withDefaults()
	if rate.PerSecond < 0 {
		return false, 0
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	tokens := math.Min(float64(rate.Burst), b.tokens+now.Sub(b.at).Seconds()*rate.PerSecond)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / rate.PerSecond * float64(time.Second))
}

// Keys of the buckets by address. Failed API authentication and failed page
// sign-in have a bucket each: a forwarder retrying a revoked token must not
// lock every analyst behind the same proxy out of the pages, nor the other
// way round.
const (
	KeyAPIAuthFailed = "api-auth-failed:"
	KeySignInFailed  = "signin-failed:"
)

func (l *Limiter) prune(now time.Time, rate Rate) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*rate.PerSecond >= float64(rate.Burst) {
			delete(l.buckets, k)
		}
	}
}
