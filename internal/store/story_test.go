package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func ipRole(ip string, roles ...string) domain.Evidence {
	return domain.Evidence{Type: "ipEvidence", Verdict: domain.VerdictUnknown, Roles: roles, Entity: &domain.Entity{
		Key: domain.EntityKey("ip:" + ip), Kind: domain.KindIP, Name: ip}}
}

// TestPivotAcrossBatches: the roles and device of a sighting are stored,
// so that a later batch's alert whose source was an earlier incident's
// destination, on another host, links it (correlate/story.go).
func TestPivotAcrossBatches(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	attacked := det(alertAt("a1", t0, domain.SeverityHigh, host("web01"), ipRole("203.0.113.9", "attacker"),
		ipRole("10.0.0.5", "destination")), "dump", "CredentialAccess")
	moved := func(rules correlate.Rules, tactic string) {
		forEachStore(t, func(t *testing.T, s *store.Store) {
			a := mustIngest(t, s, rules, attacked)[0]
			b := mustIngest(t, s, rules, det(alertAt("a2", t0.Add(3*time.Hour), domain.SeverityHigh, host("db01"),
				ipRole("10.0.0.5", "source"), ipRole("10.0.0.9", "destination")), "psexec", tactic))[0]
			pivots := rules.Pivot >= 0 && tactic != "Execution"
			if (a.IncidentID == b.IncidentID) != pivots {
				t.Errorf("pivot %v, %s: a1 in %d, a2 in %d", rules.Pivot, tactic, a.IncidentID, b.IncidentID)
			}
			if !pivots {
				return
			}
			log, err := s.IncidentActivity(context.Background(), a.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			want := "high: alert a2 — joined: pivot: ip:10.0.0.5 was the destination in the incident on device:web01 3h0m0s " +
				"earlier and is the source here on device:db01 — the attacker moved from there; still credential access"
			if !slices.ContainsFunc(log, func(e records.AuditEntry) bool { return e.Verb == "alert.joined" && e.After == want }) {
				t.Errorf("activity log %+v, want alert.joined %q", log, want)
			}
		})
	}
	moved(correlate.Rules{}, "CredentialAccess") // the same tactic: not earlier
	moved(correlate.Rules{}, "Execution")        // earlier in the kill chain
	moved(correlate.Rules{Pivot: -1}, "CredentialAccess")
}
