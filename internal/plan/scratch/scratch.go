// Package scratch correlates alerts into incidents without touching AIR's
// database: plan mode reads alerts from a file or a request, and wants the
// incidents the real correlation would make, with nothing stored. It uses
// the real store on a throw-away SQLite file.
package scratch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
)

// Incidents correlates the alerts as ingest would and returns each
// resulting incident ready to plan, in order of creation.
func Incidents(ctx context.Context, alerts []*domain.Alert, settings policy.Settings) ([]plan.Incident, error) {
	dir, err := os.MkdirTemp("", "air-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "scratch.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var ids []int64
	for _, a := range alerts {
		r, err := st.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			return nil, err
		}
		if r.NewIncident {
			ids = append(ids, r.IncidentID)
		}
	}
	out := make([]plan.Incident, 0, len(ids))
	for _, id := range ids {
		in, err := Load(ctx, st, id, settings)
		if err != nil {
			return nil, err
		}
		out = append(out, *in)
	}
	return out, nil
}

// Load reads an incident from a store, ready to plan.
func Load(ctx context.Context, st *store.Store, id int64, settings policy.Settings) (*plan.Incident, error) {
	in, err := LoadFresh(ctx, st, id, settings)
	if err != nil {
		return nil, err
	}
	if in.Merged, err = st.MergedActions(ctx, id, 1000); err != nil {
		return nil, err
	}
	if in.Actions, err = st.ListActions(ctx, store.ActionFilter{IncidentID: id, Limit: 1000}); err != nil {
		return nil, fmt.Errorf("actions of incident %d: %w", id, err)
	}
	return in, nil
}

// LoadFresh reads an incident from a store ready to plan as if its alerts
// arrived now: its alerts, its entities and their tags, without the
// actions it recorded or those of incidents merged into it. A backtest
// plans it so: with the recorded actions, both sets of playbooks would
// plan what already happened as done, and hide what they decide otherwise.
func LoadFresh(ctx context.Context, st *store.Store, id int64, settings policy.Settings) (*plan.Incident, error) {
	inc, err := st.GetIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	alerts, err := st.IncidentAlerts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("alerts of incident %d: %w", id, err)
	}
	ents, err := st.IncidentEntities(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("entities of incident %d: %w", id, err)
	}
	keys := make([]domain.EntityKey, len(ents))
	for i, e := range ents {
		keys[i] = e.Key
	}
	tags, err := st.EntityTags(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i := range ents {
		ents[i].Tags = tags[ents[i].Key]
	}
	return &plan.Incident{Incident: *inc, Alerts: alerts, Entities: ents, Settings: settings}, nil
}
