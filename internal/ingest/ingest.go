// Package ingest takes decoded alerts into AIR: the store upserts and
// correlates a batch in one transaction, then the incidents whose alerts
// made a material change (a new incident, new entities, a higher severity,
// a new tactic) are told so — one notification per incident per batch,
// naming only the material alerts. Alerts that change nothing material are
// counted in the store and never reach the workflow, so a 100,000-alert
// flood from one scanner costs its investigation a signal or two, and the
// workflow's history does not grow with the flood.
//
// Small requests arriving together (many sensors posting one alert each)
// are coalesced into one store transaction — group commit — because
// related alerts serialise on their entities' locks anyway, and one
// transaction of thirty alerts costs little more than one of a single alert.
package ingest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Notifier tells an incident's investigation that alerts joined it.
type Notifier interface {
	AlertsJoined(ctx context.Context, incidentID int64, alertIDs []string) error
}

// Pipeline stores, correlates and notifies. Its zero value (with Store and
// Notifier set) is ready; it is safe for concurrent use.
type Pipeline struct {
	Store    *store.Store
	Notifier Notifier
	Rules    correlate.Rules
	Log      logrus.FieldLogger
	// Coalesce bounds how many alerts of concurrent small requests go into
	// one transaction; 0 means 500; 1 turns coalescing off.
	Coalesce int
	// Linger is how long a small group waits for more callers before it
	// goes to the store; 0 means 2 ms, negative means not at all.
	Linger time.Duration

	mu       sync.Mutex
	pending  []*submission
	flushing bool
}

// submission is one caller's alerts waiting to be stored.
type submission struct {
	alerts  []*domain.Alert
	results []records.IngestResult
	err     error
	done    chan struct{} // closed when results and err are set
	lead    chan struct{} // closed when this caller must flush for the others
}

func (p *Pipeline) coalesce() int {
	if p.Coalesce <= 0 {
		return 500
	}
	return p.Coalesce
}

// Ingest takes a batch of valid alerts in order and returns what became of
// each. Large batches go to the store as they are (in transactions of up to
// a thousand alerts, so a failure part-way keeps what was stored); small
// ones may share a transaction with other callers' (if that transaction
// fails, each is retried on its own, so one caller's bad batch does not fail
// another's). Notification failures are returned after every alert was
// stored: the store remembers the unacknowledged change, and the next alert
// of that incident (or the same alerts sent again) retries it.
func (p *Pipeline) Ingest(ctx context.Context, alerts []*domain.Alert) ([]records.IngestResult, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	if len(alerts) >= p.coalesce() || p.coalesce() == 1 {
		sub := &submission{alerts: alerts}
		p.flush(ctx, []*submission{sub})
		return sub.results, sub.err
	}
	sub := &submission{alerts: alerts, done: make(chan struct{}), lead: make(chan struct{})}
	p.mu.Lock()
	p.pending = append(p.pending, sub)
	leader := !p.flushing
	if leader {
		p.flushing = true
	}
	p.mu.Unlock()
	if !leader {
		select {
		case <-sub.done:
			return sub.results, sub.err
		case <-sub.lead:
		case <-ctx.Done():
			// The alerts may still be stored by the flush under way; ingest
			// is idempotent, so the caller may send them again.
			return nil, ctx.Err()
		}
	}
	// Lead: flush what is pending (this caller's alerts among it), then hand
	// the lead to a waiting caller, so that no caller flushes for ever.
	for {
		p.linger()
		p.mu.Lock()
		group := p.take()
		p.mu.Unlock()
		if len(group) > 0 {
			p.flush(context.WithoutCancel(ctx), group)
		}
		select {
		case <-sub.done:
		default:
			continue
		}
		break
	}
	p.mu.Lock()
	if len(p.pending) > 0 {
		close(p.pending[0].lead)
	} else {
		p.flushing = false
	}
	p.mu.Unlock()
	return sub.results, sub.err
}

// linger gives callers already on their way a moment to join a small group
// (as Kafka producers linger): a transaction of sixty alerts costs little
// more than one of six, and related alerts serialise on their entities'
// locks anyway. It waits at most Linger, and not at all once the group is a
// quarter of Coalesce.
func (p *Pipeline) linger() {
	d := p.Linger
	if d < 0 {
		return
	}
	if d == 0 {
		d = 2 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := 0
		for _, s := range p.pending {
			n += len(s.alerts)
		}
		p.mu.Unlock()
		if n >= p.coalesce()/4 {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// take removes from pending the submissions that fit one transaction (at
// least one). Callers hold p.mu.
func (p *Pipeline) take() []*submission {
	n, size := 0, 0
	for n < len(p.pending) && (n == 0 || size+len(p.pending[n].alerts) <= p.coalesce()) {
		size += len(p.pending[n].alerts)
		n++
	}
	group := slices.Clone(p.pending[:n])
	p.pending = slices.Delete(p.pending, 0, n)
	return group
}

// flush stores the submissions' alerts in one call and notifies, then hands
// each submission its results.
func (p *Pipeline) flush(ctx context.Context, group []*submission) {
	defer func() {
		for _, s := range group {
			if s.done != nil {
				close(s.done)
			}
		}
	}()
	var all []*domain.Alert
	for _, s := range group {
		all = append(all, s.alerts...)
	}
	results, err := p.Store.IngestAlerts(ctx, all, p.Rules)
	if err != nil && len(group) > 1 {
		// Keep one caller's failure its own.
		for _, s := range group {
			s.results, s.err = p.Store.IngestAlerts(ctx, s.alerts, p.Rules)
			if s.err == nil {
				if nerr := p.notify(ctx, s.results); nerr != nil {
					s.err = nerr
				}
			}
		}
		return
	}
	nerr := p.notify(ctx, results)
	off := 0
	for _, s := range group {
		end := min(off+len(s.alerts), len(results))
		s.results = results[off:end]
		off = end
		switch {
		case err != nil:
			s.err = err
		case nerr != nil && touches(s.results, nerr.incidents):
			s.err = nerr
		}
	}
}

// notifyError names the incidents whose investigations could not be told.
type notifyError struct{ incidents []int64 }

func (e *notifyError) Error() string {
	return fmt.Sprintf("alerts stored, but the investigations of incidents %v could not be started or signalled: send them again", e.incidents)
}

func touches(results []records.IngestResult, incidents []int64) bool {
	for _, r := range results {
		if slices.Contains(incidents, r.IncidentID) {
			return true
		}
	}
	return false
}

// notify sends one notification per incident with a material change,
// naming its material alerts, and acknowledges it in the store.
func (p *Pipeline) notify(ctx context.Context, results []records.IngestResult) *notifyError {
	joined := map[int64][]string{}
	seq := map[int64]int64{}
	var order []int64
	for _, r := range results {
		if !r.Notify {
			continue
		}
		if _, ok := joined[r.IncidentID]; !ok {
			order = append(order, r.IncidentID)
		}
		if !slices.Contains(joined[r.IncidentID], r.AlertID) {
			joined[r.IncidentID] = append(joined[r.IncidentID], r.AlertID)
		}
		seq[r.IncidentID] = max(seq[r.IncidentID], r.NotifySeq)
	}
	// The alerts are stored: their notifications must not die with a
	// client that stops waiting, so they run on a context of their own,
	// bounded in time. Several at once: a batch that opens a thousand
	// incidents must not signal them one round trip after another.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	var (
		mu     sync.Mutex
		failed []int64
		wg     sync.WaitGroup
		slots  = make(chan struct{}, notifyConcurrency)
	)
	for _, id := range order {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := p.Notifier.AlertsJoined(ctx, id, joined[id]); err != nil {
				p.log().WithError(err).WithField("incident", id).Error("start or signal investigation")
				mu.Lock()
				failed = append(failed, id)
				mu.Unlock()
				return
			}
			if err := p.Store.MarkNotified(ctx, id, seq[id]); err != nil {
				p.log().WithError(err).WithField("incident", id).Warn("record notification")
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		slices.Sort(failed)
		return &notifyError{incidents: failed}
	}
	return nil
}

// notifyConcurrency bounds the workflow notifications one batch sends at
// once; notifyTimeout bounds them all.
const (
	notifyConcurrency = 8
	notifyTimeout     = 2 * time.Minute
)

func (p *Pipeline) log() logrus.FieldLogger {
	if p.Log == nil {
		return logrus.New()
	}
	return p.Log
}
