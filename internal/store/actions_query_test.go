package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// seedActionCenter makes two incidents — one on a workstation, one on a
// server — and actions on them:
//
//	a1 device.isolate ws1 (Workstations)  pending    automated  t0
//	a2 device.isolate srv1 (Servers)      pending    automated  t0+1h
//	a3 user.disable alice (incident 1)    succeeded  manual     t0+2h  decided by ana
//	a4 device.run_av_scan srv1            rejected   automated  t0+3h  decided by bob
func seedActionCenter(t *testing.T, s *store.Store, t0 time.Time) (inc1, inc2 int64) {
	t.Helper()
	ctx := context.Background()
	dev := func(id, group string) domain.Evidence {
		return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": group}}}
	}
	user := domain.Evidence{Type: "userEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
		Key: "user:alice@corp.example", Kind: domain.KindUser, Name: "alice@corp.example", Verdict: domain.VerdictSuspicious}}
	r1, err := s.IngestAlert(ctx, alertAt("al1", t0, domain.SeverityHigh, dev("ws1", "Workstations"), user), correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.IngestAlert(ctx, alertAt("al2", t0, domain.SeverityHigh, dev("srv1", "Servers")), correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string, inc int64, typ, target, name string, st domain.ActionStatus, src domain.ActionSource, at time.Time, by string) {
		a := &domain.Action{ID: id, IncidentID: inc, Playbook: "p", PlaybookVersion: 1, Step: "s", Type: typ,
			TargetKey: domain.EntityKey(target), TargetName: name, Params: []byte(`{}`), Source: src, RequestedBy: "ana",
			Status: st, Reason: "because", CreatedAt: at, IdempotencyKey: id, DecidedBy: by}
		if by != "" {
			a.DecidedAt = &at
		}
		if _, err := s.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	rec("a1", r1.IncidentID, "device.isolate", "device:ws1", "ws1", domain.ActionPending, domain.SourceAutomated, t0, "")
	rec("a2", r2.IncidentID, "device.isolate", "device:srv1", "srv1", domain.ActionPending, domain.SourceAutomated, t0.Add(time.Hour), "")
	rec("a3", r1.IncidentID, "user.disable", "user:alice@corp.example", "alice", domain.ActionSucceeded, domain.SourceManual, t0.Add(2*time.Hour), "ana")
	rec("a4", r2.IncidentID, "device.run_av_scan", "device:srv1", "srv1", domain.ActionRejected, domain.SourceAutomated, t0.Add(3*time.Hour), "bob")
	return r1.IncidentID, r2.IncidentID
}

func TestQueryActions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		inc1, inc2 := seedActionCenter(t, s, t0)
		pending := []domain.ActionStatus{domain.ActionPending}
		tests := []struct {
			name      string
			q         records.ActionQuery
			want      string // ids in order
			wantTotal int
		}{
			{"default: oldest first by creation", records.ActionQuery{}, "a1 a2 a3 a4", 4},
			{"newest first", records.ActionQuery{Desc: true}, "a4 a3 a2 a1", 4},
			{"pending", records.ActionQuery{Statuses: pending}, "a1 a2", 2},
			{"history", records.ActionQuery{NotStatuses: pending, Desc: true}, "a4 a3", 2},
			{"type", records.ActionQuery{Types: []string{"device.isolate", "user.disable"}}, "a1 a2 a3", 3},
			{"source", records.ActionQuery{Sources: []domain.ActionSource{domain.SourceManual}}, "a3", 1},
			{"incident", records.ActionQuery{IncidentIDs: []int64{inc2}}, "a2 a4", 2},
			{"decided by", records.ActionQuery{DecidedBy: []string{"bob"}}, "a4", 1},
			{"time range", records.ActionQuery{CreatedAfter: t0, CreatedBefore: t0.Add(2 * time.Hour)}, "a2 a3", 2},
			{"device group: device targets by their group, others by their incident's devices",
				records.ActionQuery{DeviceGroups: []string{"workstations"}}, "a1 a3", 2},
			{"scope", records.ActionQuery{Scope: []string{"Servers"}}, "a2 a4", 2},
			{"scope and group disjoint", records.ActionQuery{Scope: []string{"Servers"}, DeviceGroups: []string{"Workstations"}}, "", 0},
			{"sort by type, then id", records.ActionQuery{Sort: "type"}, "a1 a2 a4 a3", 4},
			{"sort by decidedAt: undecided last", records.ActionQuery{Sort: "decidedAt"}, "a3 a4 a1 a2", 4},
			{"sort by decidedAt desc: undecided still last", records.ActionQuery{Sort: "decidedAt", Desc: true}, "a4 a3 a2 a1", 4},
			{"paging", records.ActionQuery{Limit: 2, Offset: 1}, "a2 a3", 4},
		}
		for _, tt := range tests {
			page, err := s.QueryActions(ctx, tt.q)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var got []string
			for _, a := range page.Value {
				got = append(got, a.ID)
			}
			if strings.Join(got, " ") != tt.want || page.Total != tt.wantTotal {
				t.Errorf("%s: got %v (total %d), want %q (total %d)", tt.name, got, page.Total, tt.want, tt.wantTotal)
			}
		}
		page, err := s.QueryActions(ctx, records.ActionQuery{IncidentIDs: []int64{inc1}, Limit: 1})
		if err != nil || len(page.Value) != 1 || page.Value[0].IncidentName == "" {
			t.Errorf("rows carry the incident's name: %+v, %v", page, err)
		}
		if _, err := s.QueryActions(ctx, records.ActionQuery{Sort: "params; DROP TABLE actions"}); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("unknown sort column: got %v, want invalid", err)
		}

		scopeTests := []struct {
			id     string
			groups []string
			want   bool
		}{
			{"a1", []string{"Workstations"}, true},
			{"a1", []string{"Servers"}, false},
			{"a3", []string{"WORKSTATIONS"}, true},
			{"a3", []string{"Servers"}, false},
			{"a4", nil, true},
		}
		for _, tt := range scopeTests {
			if got, err := s.ActionInScope(ctx, tt.id, tt.groups); err != nil || got != tt.want {
				t.Errorf("ActionInScope(%s, %v) = %v, %v; want %v", tt.id, tt.groups, got, err, tt.want)
			}
		}
		in, err := s.IncidentsInGroups(ctx, []int64{inc1, inc2}, []string{"servers"})
		if err != nil || in[inc1] || !in[inc2] {
			t.Errorf("IncidentsInGroups(servers) = %v, %v; want only incident %d", in, err, inc2)
		}
	})
}
