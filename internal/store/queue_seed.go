package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// SeedQueue fills an empty store with n synthetic incidents for measuring
// the queue (`starter bench queue`): six months of them, most older ones
// resolved, with summaries (priority, sources, tactics, impacted assets),
// tags, assignees, and device and user entities linked to them so that
// search by asset and the device-group filter have something to find.
// Devices are named ws-00000…, users user00000@corp.example; analysts
// analyst01…analyst20. It writes in bulk (COPY on PostgreSQL) and calls
// progress after each chunk with the incidents written so far. Alerts are
// not written: the queue reads incidents, their summaries and entities.
func (s *Store) SeedQueue(ctx context.Context, n int, now time.Time, progress func(done int)) error {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	devices, users := max(1, n/5), max(1, n/10)
	groups := []string{"Workstations", "Servers", "Laptops", "Kiosks", "Domain Controllers"}
	now = now.UTC()
	// Entities first.
	for start := 0; start < devices+users; start += 5000 {
		var rows [][]any
		for i := start; i < min(start+5000, devices+users); i++ {
			if i < devices {
				name := fmt.Sprintf("ws-%05d", i)
				attrs := fmt.Sprintf(`{"deviceGroup":%q}`, groups[i%len(groups)])
				rows = append(rows, []any{"device:" + name, "device", name, attrs, now, now})
			} else {
				name := fmt.Sprintf("user%05d@corp.example", i-devices)
				rows = append(rows, []any{"user:" + name, "user", name, "{}", now, now})
			}
		}
		if err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			return s.copyRows(ctx, tx, "entities", "key, kind, name, attrs, first_seen, last_seen", rows)
		}); err != nil {
			return fmt.Errorf("seed entities: %w", err)
		}
	}
	sources := []string{"microsoftDefenderForEndpoint", "microsoftDefenderForOffice365", "microsoftDefenderForIdentity",
		"microsoftDefenderForCloudApps"}
	detections := []string{"antivirus", "microsoftDefenderForEndpoint", "customTi", "automatedInvestigation", "smartScreen"}
	tags := []string{"phishing-campaign", "vip", "red-team", "wave-1", "ransomware"}
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	span := 180 * 24 * time.Hour
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		var incRows, sumRows, entRows [][]any
		for id := start + 1; id <= min(start+chunk, n); id++ {
			created := now.Add(-time.Duration(rng.Int64N(int64(span))))
			updated := created.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
			if updated.After(now) {
				updated = now
			}
			recent := now.Sub(updated) < 7*24*time.Hour
			status := domain.IncidentResolved
			switch r := rng.IntN(100); {
			case recent && r < 60, !recent && r < 5:
				status = domain.IncidentActive
			case recent && r < 85, !recent && r < 10:
				status = domain.IncidentInProgress
			}
			sev := []domain.Severity{domain.SeverityHigh, domain.SeverityMedium, domain.SeverityMedium, domain.SeverityLow,
				domain.SeverityLow, domain.SeverityInformational}[rng.IntN(6)]
			cats := []string{pick(correlate.Tactics)}
			if rng.IntN(3) == 0 {
				cats = addUnique(cats, pick(correlate.Tactics))
			}
			srcs := []string{pick(sources)}
			if rng.IntN(5) == 0 {
				srcs = addUnique(srcs, pick(sources))
			}
			var devs, usrs []string
			for range 1 + rng.IntN(3) {
				devs = addUnique(devs, fmt.Sprintf("ws-%05d", rng.IntN(devices)))
			}
			for range rng.IntN(3) {
				usrs = addUnique(usrs, fmt.Sprintf("user%05d@corp.example", rng.IntN(users)))
			}
			for _, d := range devs {
				entRows = append(entRows, []any{id, "device:" + d, "suspicious", updated})
			}
			for _, u := range usrs {
				entRows = append(entRows, []any{id, "user:" + u, "unknown", updated})
			}
			assignee := ""
			if rng.IntN(2) == 0 {
				assignee = fmt.Sprintf("analyst%02d", 1+rng.IntN(20))
			}
			custom := domain.StringList{}
			if rng.IntN(12) == 0 {
				custom = domain.StringList{pick(tags)}
			}
			alerts := 1 + rng.IntN(8)
			class, determ := "unknown", "unknown"
			var resolved any
			if status == domain.IncidentResolved {
				class, determ = "truePositive", "malware"
				if rng.IntN(2) == 0 {
					class, determ = "falsePositive", "notMalicious"
				}
				resolved = updated
			}
			score, factors := correlate.Priority(correlate.PriorityInput{Severity: sev, Tactics: cats,
				MaliciousEntities: rng.IntN(3), Devices: len(devs), Users: len(usrs), ServiceSources: len(srcs), Alerts: alerts})
			fb, err := json.Marshal(factors)
			if err != nil {
				return err
			}
			name := domain.IncidentName(cats, len(devs), len(usrs), srcs)
			incRows = append(incRows, []any{id, name, sev, status, class, determ, assignee, "successfullyRemediated",
				custom, alerts, created, updated, created, updated, resolved, score})
			active := alerts
			if status == domain.IncidentResolved {
				active = 0
			}
			sumRows = append(sumRows, []any{id, domain.StringList(cats), domain.StringList(srcs),
				domain.StringList{pick(detections)}, domain.StringList(devs), domain.StringList(usrs), len(devs), len(usrs),
				active, score, string(fb)})
		}
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			if err := s.copyRows(ctx, tx, "incidents", `id, display_name, severity, status, classification, determination,
				assigned_to, investigation_state, custom_tags, alert_count, first_activity, last_activity, created_at, updated_at,
				resolved_at, priority_score`, incRows); err != nil {
				return err
			}
			if err := s.copyRows(ctx, tx, "incident_summary", `incident_id, categories, service_sources, detection_sources,
				devices, users, device_count, user_count, active_alerts, priority_score, priority_factors`, sumRows); err != nil {
				return err
			}
			return s.copyRows(ctx, tx, "incident_entities", "incident_id, entity_key, verdict, last_seen", entRows)
		})
		if err != nil {
			return fmt.Errorf("seed incidents: %w", err)
		}
		if progress != nil {
			progress(min(start+chunk, n))
		}
	}
	if s.dialect == Postgres {
		if _, err := s.db.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('incidents', 'id'), (SELECT MAX(id) FROM incidents))`); err != nil {
			return fmt.Errorf("seed incidents: %w", err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}
