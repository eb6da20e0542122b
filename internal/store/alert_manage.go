package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// AlertManaged is what ManageAlert did: the alert before and after, and
// the change it cascaded to the alert's incident (nil when none).
type AlertManaged struct {
	Before, After  domain.Alert
	IncidentID     int64
	IncidentBefore *domain.Incident
	IncidentAfter  *domain.Incident
}

// ManageAlert applies a change to one alert as actor, in one transaction,
// with the incident's rules: every field that changes goes to the
// incident's activity log (verb alert.<field>, object alert:ID); resolving
// stamps resolvedDateTime, reopening clears it. It cascades to the
// incident as Defender does: reopening an alert of a resolved incident
// reopens the incident (active), and resolving the last alert that was
// not resolved resolves the incident. An alert of a merged-away incident
// cannot be changed (it moved with the merge).
func (s *Store) ManageAlert(ctx context.Context, alertID string, ch records.AlertChange, actor string) (*AlertManaged, error) {
	if err := ch.Check(); err != nil {
		return nil, err
	}
	out := &AlertManaged{}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockNames(ctx, tx, []string{"alert:" + alertID}); err != nil {
			return err
		}
		var row struct {
			IncidentID int64  `db:"incident_id"`
			Doc        string `db:"doc"`
		}
		err := tx.GetContext(ctx, &row, tx.Rebind(`SELECT incident_id, doc FROM alerts WHERE id = ?`), alertID)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "alert %q not found", alertID)
		}
		if err != nil {
			return fmt.Errorf("read alert %q: %w", alertID, err)
		}
		inc, err := s.lockManaged(ctx, tx, row.IncidentID)
		if err != nil {
			return err
		}
		out.IncidentID = inc.ID
		var a domain.Alert
		if err := json.Unmarshal([]byte(row.Doc), &a); err != nil {
			return fmt.Errorf("decode stored alert %q: %w", alertID, err)
		}
		out.Before = a
		now := utc(time.Now())
		var audits []records.AuditEntry
		audit := func(field, before, after string) {
			audits = append(audits, records.AuditEntry{At: now, Actor: actor, Verb: "alert." + field, Object: "alert:" + alertID,
				IncidentID: &inc.ID, Before: before, After: after})
		}
		if ch.Status != nil && *ch.Status != a.Status {
			audit("status", string(a.Status), string(*ch.Status))
			a.Status = *ch.Status
			if a.Status == domain.AlertResolved {
				a.ResolvedDateTime = &now
			} else {
				a.ResolvedDateTime = nil
			}
		}
		if ch.Classification != nil || ch.Determination != nil {
			c, d := a.Classification, a.Determination
			if ch.Classification != nil {
				c = *ch.Classification
				if ch.Determination == nil {
					d = "" // a new classification needs its own determination, unless unknown
				}
			}
			if ch.Determination != nil {
				d = *ch.Determination
			}
			if c == "" {
				c = domain.ClassificationUnknown
			}
			c, d, err = domain.CheckClassification(c, d)
			if err != nil {
				return err
			}
			if c != a.Classification {
				audit("classification", orUnknown(a.Classification), c)
			}
			if d != a.Determination {
				audit("determination", orUnknown(a.Determination), d)
			}
			a.Classification, a.Determination = c, d
		}
		if ch.AssignedTo != nil && *ch.AssignedTo != a.AssignedTo {
			audit("assignedTo", a.AssignedTo, *ch.AssignedTo)
			a.AssignedTo = *ch.AssignedTo
		}
		if ch.Comment != "" {
			audit("comment", "", ch.Comment)
		}
		if len(audits) == 0 {
			out.After = a
			return nil
		}
		a.LastUpdateDateTime = now
		doc, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE alerts SET status = ?, assigned_to = ?, doc = ?, last_update = ? WHERE id = ?`),
			string(a.Status), a.AssignedTo, string(doc), now, alertID); err != nil {
			return fmt.Errorf("update alert %q: %w", alertID, err)
		}
		out.After = a
		st, err := s.rederive(ctx, tx, inc.ID, now)
		if err != nil {
			return err
		}
		for _, e := range audits {
			if err := appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		// The incident follows its alerts: the summary just counted the
		// ones not resolved.
		open := st.sum.ActiveAlerts
		var status domain.IncidentStatus
		switch {
		case inc.Status == domain.IncidentResolved && open > 0:
			status = domain.IncidentActive
		case inc.Status.Open() && open == 0:
			status = domain.IncidentResolved
		default:
			return nil
		}
		after, err := s.manageTx(ctx, tx, inc, records.IncidentChange{Status: &status}, actor)
		if err != nil {
			return err
		}
		out.IncidentBefore, out.IncidentAfter = inc, after
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(incidentChanged(out.IncidentID))
	return out, nil
}

func orUnknown(s string) string {
	if s == "" {
		return domain.ClassificationUnknown
	}
	return s
}
