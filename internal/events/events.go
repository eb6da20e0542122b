// Package events is AIR's in-process change feed: the store publishes
// to a Hub after it commits a change to an incident or an action, and the
// pages' Server-Sent Events endpoint subscribes, so that an open queue,
// incident or pending list shows the change within a second or two.
//
// An event only names what changed (an incident id, an action id), never
// the new state: a subscriber re-reads what it shows through the same
// scoped queries as a page load, so an event cannot show a principal more
// than the page would. The subscriber still must not pass on ids of
// incidents outside the principal's device groups; the pages filter each
// event before they send it.
//
// The hub never blocks a publisher. A subscriber that falls behind loses
// events and gets one with Overflow set instead, which means "re-read
// everything". The hub lives in one process: a worker running in another
// process publishes to its own hub, which no page listens to.
package events

import "sync"

// Kind names what changed.
type Kind string

// Kinds.
const (
	// Incident: an incident was created or changed (alerts, status,
	// assignment, investigation state, comments, tags, merges).
	Incident Kind = "incident"
	// Action: an action was proposed or changed state (approved, rejected,
	// running, succeeded, failed, expired, undone).
	Action Kind = "action"
	// Question: a playbook asked a question, or one was answered, timed
	// out or cancelled.
	Question Kind = "question"
)

// Event is one committed change.
type Event struct {
	Kind Kind `json:"kind"`
	// IncidentID is the incident the change belongs to; 0 when none.
	IncidentID int64 `json:"incidentId,omitempty"`
	// ActionID is the changed action, for Kind Action.
	ActionID string `json:"actionId,omitempty"`
	// Created says the incident or action is new.
	Created bool `json:"created,omitempty"`
	// Overflow replaces events a slow subscriber lost: re-read everything.
	Overflow bool `json:"overflow,omitempty"`
}

// buffer is how many events a subscriber may have unread before it
// overflows.
const buffer = 256

// Hub fans events out to subscribers. The zero value is ready to use;
// a nil *Hub drops every event, so that code that publishes works without
// one.
type Hub struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
}

type sub struct {
	ch       chan Event
	overflow bool // an event was dropped; send Overflow when there is room
}

// Publish sends evs to every subscriber without waiting for any.
func (h *Hub) Publish(evs ...Event) {
	if h == nil || len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		for _, e := range evs {
			if s.overflow {
				select {
				case s.ch <- Event{Overflow: true}:
					s.overflow = false
				default:
					continue
				}
			}
			select {
			case s.ch <- e:
			default:
				s.overflow = true
			}
		}
	}
}

// Subscribe returns a channel of the events published from now on and a
// function that ends the subscription. The channel is closed when the
// subscription ends or the hub closes; call cancel in any case. A
// subscription on a nil or closed hub is closed at once.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	s := &sub{ch: make(chan Event, buffer)}
	if h == nil {
		close(s.ch)
		return s.ch, func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	if h.subs == nil {
		h.subs = map[*sub]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[s]; ok {
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// Close ends every subscription and refuses new ones; publishing after
// Close does nothing. An HTTP server calls it on shutdown, so that
// long-lived event streams end and the server can finish.
func (h *Hub) Close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}
