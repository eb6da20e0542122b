package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
)

// Feed is the change feed the pages follow; *events.Hub is one.
type Feed interface {
	Subscribe() (<-chan events.Event, func())
}

// Scope says whether a principal may hear of an event: an event naming an
// incident or action outside their device groups must not reach them,
// not even its id. *api.Server is one.
type Scope interface {
	EventVisible(ctx context.Context, p *auth.Principal, e events.Event) (bool, error)
}

// liveHeartbeat is how often an idle stream sends a comment: it keeps
// proxies from closing the connection and re-checks the session, so a
// signed-out or revoked session stops hearing within this time.
const liveHeartbeat = 20 * time.Second

// live streams the signed-in principal's visible changes as Server-Sent
// Events ("event: change", data {"kind","incidentId","actionId",
// "created"} or {"overflow":true}). The page's script re-reads its own
// URL on a change that concerns it and swaps the regions marked
// data-live, so filters, selection, typed text and scroll stay.
func (p *pages) live(w http.ResponseWriter, r *http.Request) error {
	if p.Feed == nil {
		return domain.Errorf(domain.KindNotFound, "live updates are not enabled")
	}
	pr := auth.FromContext(r.Context())
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	ch, cancel := p.Feed.Subscribe()
	defer cancel()
	// retry: how long the browser waits before it reconnects.
	if _, err := fmt.Fprint(w, "retry: 2000\n: hello\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil // not streamable: the page falls back to reloads by hand
	}
	tick := time.NewTicker(liveHeartbeat)
	defer tick.Stop()
	secret := secretOf(r)
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
			if _, err := p.Auth.Session(r.Context(), secret); err != nil {
				fmt.Fprint(w, "event: signedout\ndata: {}\n\n")
				rc.Flush()
				return nil
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
		case e, ok := <-ch:
			if !ok {
				return nil // the hub closed: the server is shutting down
			}
			if p.Scope != nil && pr.Scoped() && !e.Overflow {
				in, err := p.Scope.EventVisible(r.Context(), pr, e)
				if err != nil {
					p.Log.WithError(err).Warn("live: scope check failed; event dropped")
					continue
				}
				if !in {
					continue
				}
			} else if p.Scope == nil && pr.Scoped() && !e.Overflow {
				e = events.Event{Overflow: true} // no way to check: name nothing
			}
			b, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "event: change\ndata: %s\n\n", b); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// pendingCount answers the top bar's count of actions waiting for a
// decision that the principal may see, as JSON {"pending": n}.
func (p *pages) pendingCount(w http.ResponseWriter, r *http.Request) error {
	n, err := p.countPending(r.Context(), auth.FromContext(r.Context()))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]int{"pending": n})
}

func (p *pages) countPending(ctx context.Context, pr *auth.Principal) (int, error) {
	page, err := p.Center.Actions(ctx, pr, records.ActionQuery{Statuses: []domain.ActionStatus{domain.ActionPending}, Limit: 1})
	if err != nil {
		return 0, err
	}
	return page.Total, nil
}
