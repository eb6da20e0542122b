package store_test

import (
	"context"
	"testing"

	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func importKnowledge(t *testing.T, s *store.Store, name string, k *intel.Knowledge) *records.IntelFeed {
	t.Helper()
	ctx := context.Background()
	im, err := s.BeginIntelImport(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.AddKnowledge(ctx, k); err != nil {
		t.Fatal(err)
	}
	f, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatSTIX, ImportedBy: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAttackKnowledgeFollowsItsFeed(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := &intel.Knowledge{
			Tactics: []intel.Tactic{{ID: "TA0001", Name: "Initial Access", ShortName: "initial-access"}},
			Techniques: []intel.Technique{
				{ID: "T1566", Name: "Phishing", Tactics: []string{"TA0001"},
					Mitigations: []intel.Mitigation{{ID: "M1017", Name: "User Training", How: "train users"}}},
				{ID: "T1059.001", Name: "PowerShell", Tactics: []string{"TA0002"}},
			},
		}
		if f := importKnowledge(t, s, "attack", k); f.Techniques != 2 {
			t.Errorf("feed counts %d techniques, want 2", f.Techniques)
		}
		got, err := s.AttackKnowledge(ctx, []string{"TA0001", "TA0040"}, []string{"T1566.002", "T1059.001", "T9999"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Tactics["TA0001"].Name != "Initial Access" || len(got.Tactics) != 1 {
			t.Errorf("tactics %+v", got.Tactics)
		}
		// T1566.002 is not held: its parent comes instead, under its own id.
		if p := got.Techniques["T1566"]; p.Name != "Phishing" || len(p.Mitigations) != 1 || p.Mitigations[0].Name != "User Training" {
			t.Errorf("T1566 = %+v", p)
		}
		if got.Techniques["T1059.001"].Name != "PowerShell" || len(got.Techniques) != 2 {
			t.Errorf("techniques %+v", got.Techniques)
		}

		// Re-importing replaces; deleting the feed forgets.
		importKnowledge(t, s, "attack", &intel.Knowledge{Techniques: []intel.Technique{{ID: "T1566", Name: "Phishing v2"}}})
		got, _ = s.AttackKnowledge(ctx, nil, []string{"T1566", "T1059.001"})
		if got.Techniques["T1566"].Name != "Phishing v2" || len(got.Techniques) != 1 {
			t.Errorf("after re-import: %+v", got.Techniques)
		}
		if _, err := s.DeleteIntelFeed(ctx, "attack", "tester"); err != nil {
			t.Fatal(err)
		}
		got, _ = s.AttackKnowledge(ctx, nil, []string{"T1566"})
		if len(got.Techniques) != 0 {
			t.Errorf("after delete: %+v", got.Techniques)
		}
	})
}
