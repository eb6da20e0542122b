// Package stored reads an incident of AIR's database ready to plan: plan
// mode for a stored incident (Load, with the actions it and the incidents
// merged into it recorded) and backtests (LoadFresh, as if its alerts
// arrived now). Alerts that are not stored are correlated in memory by
// package scratch instead.
package stored

import (
	"context"
	"fmt"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
)

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
