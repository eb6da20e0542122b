// Package sources pulls alerts from the providers that raise them —
// Microsoft Graph security, Sentinel, Defender for Endpoint, CrowdStrike
// Falcon, Okta, a simulated lab source — and writes AIR's decisions back to
// them.
//
// A source is polled page by page from a Checkpoint: the newest update time
// it has fully read (Since) and, inside a sweep, the vendor's cursor to the
// next page. Each poll re-reads an overlap window before Since, because
// providers publish updates late and out of order; the store upserts alerts
// by id, so what the overlap reads twice is stored once. The durable loop
// that carries the checkpoint from poll to poll is a Temporal workflow
// (workflows.SourceWorkflow): a worker that dies mid-page replays the page
// from the recorded checkpoint, which loses nothing and doubles nothing.
//
// This package holds the pure parts and the vendor clients: configuration,
// checkpoints, pollers and write-back. It never touches the store or
// Temporal itself.
package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Checkpoint is where a source's next poll starts.
type Checkpoint struct {
	// Since is the newest update time of a completed sweep: the next sweep
	// asks for alerts updated at or after Since minus the overlap.
	Since time.Time `json:"since"`
	// Cursor is the vendor's position inside the current sweep (Graph's
	// @odata.nextLink, an offset, Okta's Link "next"); empty between sweeps.
	Cursor string `json:"cursor,omitempty"`
	// High is the newest update time seen in the current sweep; it becomes
	// Since when the sweep ends.
	High time.Time `json:"high,omitzero"`
}

// Advance folds the update times of a page into the checkpoint, and ends
// the sweep when there is no next page.
func (c Checkpoint) Advance(newest time.Time, cursor string) Checkpoint {
	if newest.After(c.High) {
		c.High = newest
	}
	c.Cursor = cursor
	if cursor == "" {
		if c.High.After(c.Since) {
			c.Since = c.High
		}
		c.High = time.Time{}
	}
	return c
}

// Page is what one poll read.
type Page struct {
	Alerts []*domain.Alert
	// Problems are items the poll read but could not take, each with why;
	// they are counted and reported, never dropped silently.
	Problems []Problem
	// Next is the checkpoint after this page.
	Next Checkpoint
	// More says another page of the same sweep waits (poll again at once).
	More bool
}

// Problem is one item a source returned that AIR could not decode.
type Problem struct {
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// Poller reads one page of a source from a checkpoint.
type Poller interface {
	Poll(ctx context.Context, cp Checkpoint) (Page, error)
}

// RetryAfterError is a vendor's "slow down": the poll may be retried after
// Delay (from Retry-After or the vendor's own rate-limit headers).
type RetryAfterError struct {
	Status int
	Delay  time.Duration
	Body   string
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("throttled (HTTP %d): retry after %s%s", e.Status, e.Delay, bodyNote(e.Body))
}

// PermanentError is a vendor answer that retrying will not change (bad
// credentials, a missing permission, a malformed query): the poll loop
// records it and tries again only at its next interval.
type PermanentError struct {
	Status int
	Body   string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("vendor refused the request (HTTP %d)%s", e.Status, bodyNote(e.Body))
}

func bodyNote(body string) string {
	if body == "" {
		return ""
	}
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return ": " + body
}

// newestUpdate returns the latest LastUpdateDateTime of alerts (or their
// creation time when the provider gave no update time).
func newestUpdate(alerts []*domain.Alert) time.Time {
	var t time.Time
	for _, a := range alerts {
		u := a.LastUpdateDateTime
		if u.IsZero() {
			u = a.CreatedDateTime
		}
		if u.After(t) {
			t = u
		}
	}
	return t
}

// State is what AIR knows of a source between polls; the sources page,
// GET /api/v1/sources and /metrics show it.
type State struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Checkpoint Checkpoint `json:"checkpoint"`
	// NewestAlert is the newest update time of any alert the source gave;
	// lag is now minus this.
	NewestAlert time.Time `json:"newestAlert,omitzero"`
	LastPoll    time.Time `json:"lastPoll,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	Polls       int64     `json:"polls"`
	Alerts      int64     `json:"alerts"`
	Rejected    int64     `json:"rejected"`
	Errors      int64     `json:"errors"`
	LastError   string    `json:"lastError,omitempty"`
	// LastProblems are the newest undecodable items, with why.
	LastProblems []Problem `json:"lastProblems,omitempty"`
	// Recent counts accepted alerts per minute over the last hour (oldest
	// first), for alerts/min.
	Recent []MinuteCount `json:"recent,omitempty"`
}

// MinuteCount is how many alerts a source gave in one minute.
type MinuteCount struct {
	Minute time.Time `json:"minute"`
	Alerts int64     `json:"alerts"`
}

// Lag is how far the source's newest alert is behind now.
func (s State) Lag(now time.Time) time.Duration {
	if s.NewestAlert.IsZero() {
		return 0
	}
	return now.Sub(s.NewestAlert)
}

// PerMinute is the source's alerts per minute over the last window.
func (s State) PerMinute(now time.Time, window time.Duration) float64 {
	var n int64
	for _, m := range s.Recent {
		if now.Sub(m.Minute) <= window {
			n += m.Alerts
		}
	}
	return float64(n) / window.Minutes()
}

// Record folds one poll's outcome into the state.
func (s *State) Record(now time.Time, next Checkpoint, page *Page, pollErr error) {
	s.Polls++
	s.LastPoll = now
	if pollErr != nil {
		s.Errors++
		s.LastError = pollErr.Error()
		return
	}
	s.LastSuccess, s.LastError = now, ""
	s.Checkpoint = next
	if page == nil {
		return
	}
	s.Alerts += int64(len(page.Alerts))
	s.Rejected += int64(len(page.Problems))
	if len(page.Problems) > 0 {
		s.LastProblems = append(page.Problems[:0:0], page.Problems...)
		if len(s.LastProblems) > 20 {
			s.LastProblems = s.LastProblems[:20]
		}
	}
	if t := newestUpdate(page.Alerts); t.After(s.NewestAlert) {
		s.NewestAlert = t
	}
	minute := now.Truncate(time.Minute)
	if n := len(s.Recent); n > 0 && s.Recent[n-1].Minute.Equal(minute) {
		s.Recent[n-1].Alerts += int64(len(page.Alerts))
	} else if len(page.Alerts) > 0 {
		s.Recent = append(s.Recent, MinuteCount{Minute: minute, Alerts: int64(len(page.Alerts))})
	}
	for len(s.Recent) > 0 && now.Sub(s.Recent[0].Minute) > time.Hour {
		s.Recent = s.Recent[1:]
	}
}

// decodeItems decodes raw items with decode, keeping the good ones and
// naming the bad ones.
func decodeItems(items []json.RawMessage, decode func(json.RawMessage) (*domain.Alert, error)) ([]*domain.Alert, []Problem) {
	var alerts []*domain.Alert
	var problems []Problem
	for _, raw := range items {
		a, err := decode(raw)
		if err != nil {
			var probe struct {
				ID any `json:"id"`
			}
			_ = json.Unmarshal(raw, &probe)
			id := ""
			if probe.ID != nil {
				id = fmt.Sprint(probe.ID)
			}
			problems = append(problems, Problem{ID: id, Reason: err.Error()})
			continue
		}
		alerts = append(alerts, a)
	}
	return alerts, problems
}
