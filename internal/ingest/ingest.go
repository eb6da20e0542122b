// Package ingest takes decoded alerts into AIR: each is upserted and
// correlated into an incident by the store, then the incidents that gained
// or changed alerts are told so — one notification per incident per batch,
// so a flood of alerts costs one signal, not one per alert.
package ingest

import (
	"context"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// Notifier tells an incident's investigation that alerts joined it.
type Notifier interface {
	AlertsJoined(ctx context.Context, incidentID int64, alertIDs []string) error
}

// Pipeline stores, correlates and notifies.
type Pipeline struct {
	Store    *store.Store
	Notifier Notifier
	Rules    store.CorrelationRules
	Log      logrus.FieldLogger
}

// Ingest takes a batch of valid alerts in order and returns what became of
// each. Alerts are stored one transaction each, so a failure part-way keeps
// what was stored; the error names the alert that failed. Notification
// failures are returned after every alert was stored: re-sending the same
// alerts retries them (see store.IngestResult.Notify).
func (p *Pipeline) Ingest(ctx context.Context, alerts []*domain.Alert) ([]store.IngestResult, error) {
	results := make([]store.IngestResult, 0, len(alerts))
	joined := map[int64][]string{}
	var order []int64
	for _, a := range alerts {
		r, err := p.Store.IngestAlert(ctx, a, p.Rules)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		if !r.Notify {
			continue
		}
		if _, ok := joined[r.IncidentID]; !ok {
			order = append(order, r.IncidentID)
		}
		if !slices.Contains(joined[r.IncidentID], a.ID) {
			joined[r.IncidentID] = append(joined[r.IncidentID], a.ID)
		}
	}
	var failed []int64
	for _, id := range order {
		if err := p.Notifier.AlertsJoined(ctx, id, joined[id]); err != nil {
			p.Log.WithError(err).WithField("incident", id).Error("start or signal investigation")
			failed = append(failed, id)
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("alerts stored, but the investigations of incidents %v could not be started or signalled: send them again", failed)
	}
	return results, nil
}
