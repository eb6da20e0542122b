package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// SetVerdict records an analyst's verdict on one of the incident's
// entities (or removes it, back to the provider's), with an audit entry
// "entity.verdict" from the verdict in effect before to the one after. The
// entity must be one of the incident's; a merged-away incident is refused
// as its other changes are.
func (s *Store) SetVerdict(ctx context.Context, incidentID int64, key domain.EntityKey, ch records.VerdictChange, actor string) (*domain.Entity, error) {
	return s.decideVerdict(ctx, incidentID, key, ch, VerdictByAnalyst, actor, actor)
}

// Verdict sources.
const (
	VerdictByAnalyst = "analyst"
	VerdictByRule    = "rule"
)

// SetRuleVerdict records a playbook rule's verdict on one of the
// incident's entities, with the rule (playbook/step) as who decided it and
// the playbook as the audit's actor. An analyst's verdict stands over it:
// the rule's is then not recorded, and the entity comes back with the
// analyst's. The same verdict and reason decided again (the next pass)
// records nothing.
func (s *Store) SetRuleVerdict(ctx context.Context, incidentID int64, key domain.EntityKey, ch records.VerdictChange, playbook, step string) (*domain.Entity, error) {
	if ch.Verdict == "" {
		return nil, domain.Invalid("verdict", "a rule decides a verdict: malicious, suspicious or noThreatsFound")
	}
	return s.decideVerdict(ctx, incidentID, key, ch, VerdictByRule, "system:playbook:"+playbook, playbook+"/"+step)
}

// decideVerdict records a verdict from source, audited as actor and
// decided by by.
func (s *Store) decideVerdict(ctx context.Context, incidentID int64, key domain.EntityKey, ch records.VerdictChange, source, actor, by string) (*domain.Entity, error) {
	if err := ch.Check(); err != nil {
		return nil, err
	}
	err := s.inIncidentTx(ctx, incidentID, func(tx *sqlx.Tx) error {
		if _, err := s.lockManaged(ctx, tx, incidentID); err != nil {
			return err
		}
		var before struct {
			Provider domain.Verdict `db:"verdict"`
			AIR      *string        `db:"air"`
			Source   *string        `db:"source"`
		}
		err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT ie.verdict, v.verdict AS air, v.source
			FROM incident_entities ie LEFT JOIN entity_verdicts v ON v.incident_id = ie.incident_id AND v.entity_key = ie.entity_key
			WHERE ie.incident_id = ? AND ie.entity_key = ?`), incidentID, key)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "incident %d has no entity %s", incidentID, key)
		}
		if err != nil {
			return fmt.Errorf("read the verdict of %s: %w", key, err)
		}
		was := string(before.Provider)
		if before.AIR != nil {
			was = *before.AIR
		}
		if source == VerdictByRule && before.Source != nil && *before.Source == VerdictByAnalyst {
			return nil // the analyst's verdict stands
		}
		if source == VerdictByRule && before.AIR != nil && *before.AIR == string(ch.Verdict) && *before.Source == VerdictByRule {
			return nil // decided already, by a rule
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM entity_verdicts WHERE incident_id = ? AND entity_key = ?`), incidentID, key); err != nil {
			return fmt.Errorf("clear the verdict of %s: %w", key, err)
		}
		now := utc(time.Now())
		after := string(before.Provider)
		if ch.Verdict != "" {
			after = string(ch.Verdict)
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO entity_verdicts
				(incident_id, entity_key, verdict, source, decided_by, reason, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				incidentID, key, ch.Verdict, source, by, ch.Reason, now); err != nil {
				return fmt.Errorf("record the verdict of %s: %w", key, err)
			}
		}
		if ch.Reason != "" {
			after += ": " + ch.Reason
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: now, Actor: actor, Verb: "entity.verdict", Object: string(key),
			IncidentID: &incidentID, Before: orUnknown(was), After: after})
	})
	if err != nil {
		return nil, err
	}
	entities, err := s.IncidentEntities(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	for i := range entities {
		if entities[i].Key == key {
			return &entities[i], nil
		}
	}
	return nil, domain.Errorf(domain.KindNotFound, "incident %d has no entity %s", incidentID, key)
}
