package rest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Window is one rate limit: at most Calls calls in any span of Per.
type Window struct {
	Calls int
	Per   time.Duration
}

// Limiter keeps a process's calls to one API under the vendor's published
// limits (Defender for Endpoint: 100 calls per minute and 1,500 per hour),
// so that AIR slows itself down instead of collecting 429s. It is exact
// over sliding windows: it remembers when the last Calls calls of each
// window were let through, and a new call waits until the oldest of them
// is Per old. After a 429 the whole limiter pauses for the Retry-After.
//
// The limit is per process: N worker replicas share a tenant's quota, so
// give each 1/N of it. Safe for concurrent use.
type Limiter struct {
	// Now and Sleep are the clock; nil means the real one. Tests inject a
	// fake clock so that a minute's limit is checked without waiting one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	windows []window
	paused  time.Time
}

type window struct {
	Window
	granted []time.Time // ring of the last Calls grant times
	next    int         // index of the oldest grant
}

// NewLimiter returns a limiter enforcing every window; a window with no
// calls or no span is ignored.
func NewLimiter(ws ...Window) *Limiter {
	l := &Limiter{}
	for _, w := range ws {
		if w.Calls > 0 && w.Per > 0 {
			l.windows = append(l.windows, window{Window: w, granted: make([]time.Time, 0, w.Calls)})
		}
	}
	return l
}

// Wait blocks until a call may be made, or ctx ends. When ctx's deadline
// comes before the call's turn it fails at once rather than wait in vain.
func (l *Limiter) Wait(ctx context.Context) error {
	d := l.reserve()
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && l.now().Add(d).After(dl) {
		return fmt.Errorf("rate limited for %s, past the deadline: %w", d.Round(time.Millisecond), context.DeadlineExceeded)
	}
	if err := l.sleep(ctx, d); err != nil {
		return fmt.Errorf("rate limited for %s: %w", d.Round(time.Millisecond), err)
	}
	return nil
}

// reserve books the earliest slot every window allows and returns how long
// to wait for it. Booking before sleeping keeps concurrent callers in order.
func (l *Limiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	at := now
	if l.paused.After(at) {
		at = l.paused
	}
	for i := range l.windows {
		w := &l.windows[i]
		if len(w.granted) == w.Calls {
			if free := w.granted[w.next].Add(w.Per); free.After(at) {
				at = free
			}
		}
	}
	for i := range l.windows {
		w := &l.windows[i]
		if len(w.granted) < w.Calls {
			w.granted = append(w.granted, at)
			continue
		}
		w.granted[w.next] = at
		w.next = (w.next + 1) % w.Calls
	}
	return at.Sub(now)
}

// PauseFor holds every call back for d from now (a vendor's Retry-After).
func (l *Limiter) PauseFor(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.paused) {
		l.paused = until
	}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if l.Sleep != nil {
		return l.Sleep(ctx, d)
	}
	return SleepContext(ctx, d)
}

// SleepContext waits for d or until ctx ends.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
