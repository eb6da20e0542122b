package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// The investigation graph (migration 0520): entities an investigation found
// from others of its entities, and the incidents it merged into its own on
// the way. Which entity to look for, and whether a find joins the incident
// or merges another, is the investigation's to decide; the store keeps the
// edges and applies the changes under the locks ingest takes.

// OpenIncidentsWith returns the open incidents (not resolved, not merged
// away) other than except whose entities include key, oldest first: those
// of except's exercise only, or real ones for a real incident, so that a
// hunt never reaches across an exercise.
func (s *Store) OpenIncidentsWith(ctx context.Context, key domain.EntityKey, except int64) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT DISTINCT ie.incident_id FROM incident_entities ie
		JOIN incidents i ON i.id = ie.incident_id
		WHERE ie.entity_key = ? AND ie.incident_id <> ? AND i.status NOT IN ('resolved', 'redirected')
			AND COALESCE(i.exercise_id, 0) = COALESCE((SELECT xe.exercise_id FROM incidents xe WHERE xe.id = ?), 0)
		ORDER BY ie.incident_id`), key, except, except)
	if err != nil {
		return nil, fmt.Errorf("open incidents with %s: %w", key, err)
	}
	return ids, nil
}

// AddFoundEvidence makes link.Entity one of the incident's entities, found
// from link.From, and records the edge. It reports whether the entity is
// new to the incident; a link recorded before changes nothing, so a
// retried step adds nothing twice. The entity joins with an unknown
// provider verdict (no alert of the incident named it) and its last
// sighting, so later alerts about it correlate to this incident.
func (s *Store) AddFoundEvidence(ctx context.Context, link records.EvidenceLink) (added bool, err error) {
	err = s.inIncidentTx(ctx, link.IncidentID, func(tx *sqlx.Tx) error {
		if err := s.lockNames(ctx, tx, []string{string(link.Entity)}); err != nil {
			return err
		}
		if _, err := s.lockManaged(ctx, tx, link.IncidentID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_entities (incident_id, entity_key, verdict, last_seen)
			SELECT ?, key, ?, last_seen FROM entities WHERE key = ?
			ON CONFLICT (incident_id, entity_key) DO NOTHING`), link.IncidentID, domain.VerdictUnknown, link.Entity)
		if err != nil {
			return fmt.Errorf("add %s to incident %d: %w", link.Entity, link.IncidentID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		added = n > 0
		if err := insertLink(ctx, tx, link); err != nil {
			return err
		}
		if !added {
			return nil
		}
		id := link.IncidentID
		return appendAudit(ctx, tx, records.AuditEntry{Actor: "system:investigation", Verb: "investigation.evidence_found",
			Object: string(link.Entity), IncidentID: &id, After: link.Reason})
	})
	return added, err
}

// MergeFound merges the open incident src into target because the
// investigation of target found link.Entity, which src holds: src's
// alerts, entities and tags move as correlation's merges move them, src is
// redirected, both activity logs say why, and the edge is recorded. It
// takes the locks ingest takes on src's entities and detectors, so that a
// batch correlating meanwhile sees src either before or after. A src
// merged or resolved meanwhile is left alone (merged false).
func (s *Store) MergeFound(ctx context.Context, target, src int64, link records.EvidenceLink) (merged bool, err error) {
	err = s.inIncidentTx(ctx, target, func(tx *sqlx.Tx) error {
		var names []string
		if err := tx.SelectContext(ctx, &names, tx.Rebind(`SELECT entity_key FROM incident_entities WHERE incident_id = ?
			UNION SELECT 'detector:' || detector FROM detector_recent WHERE incident_id = ?`), src, src); err != nil {
			return fmt.Errorf("read what incident %d holds: %w", src, err)
		}
		if err := s.lockNames(ctx, tx, append(names, string(link.Entity))); err != nil {
			return err
		}
		if _, err := s.lockManaged(ctx, tx, target); err != nil {
			return err
		}
		cur, err := s.getIncidentTx(ctx, tx, src, true)
		if err != nil {
			return err
		}
		if cur.Status == domain.IncidentRedirected || cur.Status == domain.IncidentResolved {
			return nil
		}
		// A hunt never merges an exercise's incident and a real one.
		exT, err := exerciseOf(ctx, tx, target)
		if err != nil {
			return err
		}
		if exS, err := exerciseOf(ctx, tx, src); err != nil || exS != exT {
			return err
		}
		if err := mergeIncidents(ctx, tx, target, src, "system:investigation", link.Reason); err != nil {
			return err
		}
		if _, err := s.rederive(ctx, tx, target, utc(time.Now())); err != nil {
			return err
		}
		link.MergedIncident = &src
		merged = true
		return insertLink(ctx, tx, link)
	})
	if err == nil && merged {
		s.publish(incidentChanged(src))
	}
	return merged, err
}

func insertLink(ctx context.Context, tx *sqlx.Tx, l records.EvidenceLink) error {
	if l.At.IsZero() {
		l.At = time.Now()
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO evidence_links
		(incident_id, entity_key, from_key, step, reason, merged_incident, found_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (incident_id, entity_key, from_key) DO NOTHING`),
		l.IncidentID, l.Entity, l.From, l.Step, l.Reason, l.MergedIncident, utc(l.At))
	if err != nil {
		return fmt.Errorf("record that %s was found from %s: %w", l.Entity, l.From, err)
	}
	return nil
}

// EvidenceLinks returns the incident's graph edges in the order they were
// found, with those of the incidents merged into it (directly or through a
// chain of merges).
func (s *Store) EvidenceLinks(ctx context.Context, incidentID int64) ([]records.EvidenceLink, error) {
	out := []records.EvidenceLink{}
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(mergedInto+`
		SELECT incident_id, entity_key, from_key, step, reason, merged_incident, found_at
		FROM evidence_links WHERE incident_id = ? OR incident_id IN (SELECT id FROM merged)
		ORDER BY found_at, entity_key`), incidentID, incidentID)
	if err != nil {
		return nil, fmt.Errorf("read the evidence graph of incident %d: %w", incidentID, err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}
