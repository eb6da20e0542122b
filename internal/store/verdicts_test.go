package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestAnalystVerdict: an analyst's verdict wins over the provider's when
// the incident is read, keeps the provider's beside it with who, why and
// when, is audited, survives more alerts about the entity, and can be
// withdrawn; bad verdicts and unknown entities are refused by field.
func TestAnalystVerdict(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r := mustIngest(t, s, correlate.Rules{}, alertAt("v1", t0, domain.SeverityHigh, userEv("ana@corp.example", domain.VerdictMalicious)))
		inc, key := r[0].IncidentID, domain.EntityKey("user:ana@corp.example")

		for _, c := range []struct {
			ch    records.VerdictChange
			field string
		}{
			{records.VerdictChange{Verdict: "evil", Reason: "x"}, "verdict"},
			{records.VerdictChange{Verdict: domain.VerdictNoThreatsFound}, "reason"},
		} {
			var de *domain.Error
			if _, err := s.SetVerdict(ctx, inc, key, c.ch, "ana"); !asDomain(err, &de) || de.Field != c.field {
				t.Errorf("%+v: %v, want invalid naming %q", c.ch, err, c.field)
			}
		}
		if _, err := s.SetVerdict(ctx, inc, "user:nobody@corp.example", records.VerdictChange{Verdict: domain.VerdictSuspicious, Reason: "x"}, "ana"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("an entity of no incident: %v, want not found", err)
		}

		e, err := s.SetVerdict(ctx, inc, key, records.VerdictChange{Verdict: domain.VerdictNoThreatsFound, Reason: "travel confirmed with her manager"}, "ana")
		if err != nil {
			t.Fatal(err)
		}
		if e.Verdict != domain.VerdictNoThreatsFound || e.ProviderVerdict != domain.VerdictMalicious || e.Decision == nil ||
			e.Decision.Source != "analyst" || e.Decision.By != "ana" || e.Decision.Reason != "travel confirmed with her manager" || e.Decision.At.IsZero() {
			t.Errorf("after the analyst's verdict: %+v (%+v)", e, e.Decision)
		}
		// More evidence from the provider does not overwrite it.
		mustIngest(t, s, correlate.Rules{}, alertAt("v2", t0.Add(time.Minute), domain.SeverityHigh, userEv("ana@corp.example", domain.VerdictMalicious)))
		ents, err := s.IncidentEntities(ctx, inc)
		if err != nil || len(ents) != 1 || ents[0].Verdict != domain.VerdictNoThreatsFound {
			t.Errorf("after another alert: %+v, %v; want the analyst's verdict", ents, err)
		}
		audit, err := s.IncidentActivity(ctx, inc)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range audit {
			if a.Verb == "entity.verdict" && a.Actor == "ana" && a.Before == "malicious" && a.After == "noThreatsFound: travel confirmed with her manager" {
				found = true
			}
		}
		if !found {
			t.Errorf("no entity.verdict audit entry from malicious to noThreatsFound: %+v", audit)
		}
		// Withdrawn: the provider's verdict again.
		if e, err = s.SetVerdict(ctx, inc, key, records.VerdictChange{}, "ana"); err != nil || e.Verdict != domain.VerdictMalicious || e.Decision != nil {
			t.Errorf("withdrawn: %+v, %v; want the provider's malicious", e, err)
		}
	})
}

// TestRuleVerdict: a playbook rule's verdict is recorded with the playbook
// and step as its source and audited once however many passes decide it
// again; an analyst's verdict stands over a rule's.
func TestRuleVerdict(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		r := mustIngest(t, s, correlate.Rules{}, alertAt("rv1", t0, domain.SeverityHigh, userEv("bo@corp.example", domain.VerdictSuspicious)))
		inc, key := r[0].IncidentID, domain.EntityKey("user:bo@corp.example")
		rule := records.VerdictChange{Verdict: domain.VerdictMalicious, Reason: "signed in from a named C2 address"}
		for range 2 {
			e, err := s.SetRuleVerdict(ctx, inc, key, rule, "spray", "judge")
			if err != nil || e.Verdict != domain.VerdictMalicious || e.Decision == nil || e.Decision.Source != "rule" || e.Decision.By != "spray/judge" {
				t.Fatalf("the rule's verdict: %+v, %v", e, err)
			}
		}
		audit, err := s.IncidentActivity(ctx, inc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range audit {
			if a.Verb == "entity.verdict" && a.Actor == "system:playbook:spray" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d audit entries for the rule's verdict decided twice, want 1", n)
		}
		if _, err := s.SetVerdict(ctx, inc, key, records.VerdictChange{Verdict: domain.VerdictNoThreatsFound, Reason: "her own VPN"}, "ana"); err != nil {
			t.Fatal(err)
		}
		e, err := s.SetRuleVerdict(ctx, inc, key, rule, "spray", "judge")
		if err != nil || e.Verdict != domain.VerdictNoThreatsFound || e.Decision.Source != "analyst" {
			t.Errorf("a rule after the analyst: %+v, %v; want the analyst's verdict to stand", e, err)
		}
	})
}
