package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// The store's tests open stores like the packages above it do
// (internal/store/storetest): a fresh SQLite file and, when
// TEST_DATABASE_URL is set, a fresh PostgreSQL schema.
var (
	forEachStore      = storetest.Each
	OpenSQLite        = storetest.SQLite
	OpenPostgres      = storetest.Postgres
	postgresSchemaURL = storetest.SchemaURL
)

func device(id string, v domain.Verdict) domain.Evidence {
	return domain.Evidence{Type: "deviceEvidence", Verdict: v, Entity: &domain.Entity{
		Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: v,
		Attrs: map[string]string{"deviceGroup": "Workstations"}}}
}

func alertAt(id string, at time.Time, sev domain.Severity, ev ...domain.Evidence) *domain.Alert {
	return &domain.Alert{ID: id, Title: "alert " + id, Status: domain.AlertNew, Severity: sev,
		Category: "Execution", ServiceSource: "microsoftDefenderForEndpoint",
		CreatedDateTime: at, LastUpdateDateTime: at, Evidence: ev}
}

func TestIngestCorrelatesByEntityWithinWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		ingest := func(a *domain.Alert) records.IngestResult {
			t.Helper()
			r, err := s.IngestAlert(ctx, a, correlate.Rules{})
			if err != nil {
				t.Fatalf("ingest %s: %v", a.ID, err)
			}
			return r
		}
		first := ingest(alertAt("a1", t0, domain.SeverityMedium, device("ws1", domain.VerdictSuspicious)))
		if first.Outcome != correlate.Created || !first.NewIncident {
			t.Fatalf("first alert: got %+v, want created in a new incident", first)
		}
		same := ingest(alertAt("a2", t0.Add(time.Hour), domain.SeverityHigh, device("ws1", domain.VerdictMalicious), device("ws2", domain.VerdictUnknown)))
		if same.IncidentID != first.IncidentID || same.NewIncident {
			t.Errorf("related alert: got incident %d (new=%v), want %d", same.IncidentID, same.NewIncident, first.IncidentID)
		}
		late := ingest(alertAt("a3", t0.Add(50*time.Hour), domain.SeverityLow, device("ws1", domain.VerdictUnknown)))
		if late.IncidentID == first.IncidentID {
			t.Errorf("alert outside the 24 h window joined incident %d", late.IncidentID)
		}
		other := ingest(alertAt("a4", t0, domain.SeverityLow, device("ws9", domain.VerdictUnknown)))
		if other.IncidentID == first.IncidentID {
			t.Errorf("unrelated alert joined incident %d", other.IncidentID)
		}

		inc, err := s.GetIncident(ctx, first.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Severity != domain.SeverityHigh || inc.AlertCount != 2 {
			t.Errorf("incident: got severity %s, %d alerts; want high, 2", inc.Severity, inc.AlertCount)
		}
		// The high alert's title names it, with the first device and the count of the others.
		if want := "alert a2 — ws1 and 1 more device"; inc.DisplayName != want {
			t.Errorf("display name: got %q, want %q", inc.DisplayName, want)
		}
		ents, err := s.IncidentEntities(ctx, first.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 2 || ents[0].Key != "device:ws1" || ents[0].Verdict != domain.VerdictMalicious {
			t.Errorf("entities: got %+v, want ws1 malicious and ws2", ents)
		}
		if ents[0].Attrs["deviceGroup"] != "Workstations" {
			t.Errorf("entity attrs lost: %+v", ents[0].Attrs)
		}
		alerts, err := s.IncidentAlerts(ctx, first.IncidentID)
		if err != nil || len(alerts) != 2 || alerts[1].Evidence[0].Entity.Key != "device:ws1" {
			t.Errorf("alerts: got %+v, %v", alerts, err)
		}
	})
}

func TestIngestUpsertsByIDAndLastUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		a := alertAt("x", t0, domain.SeverityLow, device("ws1", domain.VerdictUnknown))
		r1, err := s.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil || again.Outcome != correlate.Unchanged || again.IncidentID != r1.IncidentID {
			t.Fatalf("same alert again: got %+v, %v; want unchanged in incident %d", again, err, r1.IncidentID)
		}
		newer := alertAt("x", t0, domain.SeverityHigh, device("ws1", domain.VerdictMalicious))
		newer.LastUpdateDateTime = t0.Add(time.Minute)
		up, err := s.IngestAlert(ctx, newer, correlate.Rules{})
		if err != nil || up.Outcome != correlate.Updated {
			t.Fatalf("newer version: got %+v, %v; want updated", up, err)
		}
		older := alertAt("x", t0, domain.SeverityInformational)
		older.LastUpdateDateTime = t0.Add(-time.Minute)
		old, err := s.IngestAlert(ctx, older, correlate.Rules{})
		if err != nil || old.Outcome != correlate.Unchanged {
			t.Fatalf("older version: got %+v, %v; want unchanged", old, err)
		}
		inc, err := s.GetIncident(ctx, r1.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if inc.AlertCount != 1 || inc.Severity != domain.SeverityHigh {
			t.Errorf("incident after upserts: %d alerts, severity %s; want 1, high", inc.AlertCount, inc.Severity)
		}
		incs, err := s.ListIncidents(ctx, store.IncidentFilter{})
		if err != nil || len(incs) != 1 {
			t.Errorf("incidents: got %d (%v), want 1", len(incs), err)
		}
	})
}

func TestConcurrentIngestOpensOneIncident(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		results := make([]records.IngestResult, 8)
		errs := make([]error, 8)
		for i := range 8 {
			wg.Go(func() {
				a := alertAt(fmt.Sprintf("c%d", i), t0, domain.SeverityMedium, device("shared", domain.VerdictUnknown))
				results[i], errs[i] = s.IngestAlert(ctx, a, correlate.Rules{})
			})
		}
		wg.Wait()
		for i := range 8 {
			if errs[i] != nil {
				t.Fatalf("ingest %d: %v", i, errs[i])
			}
			if results[i].IncidentID != results[0].IncidentID {
				t.Errorf("alert %d in incident %d, alert 0 in %d: related alerts split", i, results[i].IncidentID, results[0].IncidentID)
			}
		}
	})
}

func TestActionsRecordOnceAndUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r, err := s.IngestAlert(ctx, alertAt("a", time.Now(), domain.SeverityHigh, device("ws1", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		a := &domain.Action{ID: "act1", IncidentID: r.IncidentID, Playbook: "p", PlaybookVersion: 1, Step: "isolate",
			Type: "device.isolate", TargetKey: "device:ws1", TargetName: "ws1", Params: []byte(`{"isolationType":"Full"}`),
			Source: domain.SourceAutomated, Status: domain.ActionPending, Reason: "semi-all",
			CreatedAt: time.Now(), IdempotencyKey: "k1"}
		if _, err := s.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		dup := *a
		dup.Status = domain.ActionApproved
		got, err := s.RecordAction(ctx, &dup, nil)
		if err != nil || got.Status != domain.ActionPending {
			t.Fatalf("recording twice: got %+v, %v; want the first row (pending)", got, err)
		}
		now := time.Now()
		a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = domain.ActionApproved, "ana", &now, "go"
		if err := s.UpdateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetAction(ctx, "act1")
		if err != nil || got.Status != domain.ActionApproved || got.DecidedBy != "ana" || got.DecidedAt == nil {
			t.Fatalf("after approve: got %+v, %v", got, err)
		}
		pending, err := s.ListActions(ctx, store.ActionFilter{Statuses: []domain.ActionStatus{domain.ActionPending}})
		if err != nil || len(pending) != 0 {
			t.Errorf("pending after approve: got %d, %v; want 0", len(pending), err)
		}
		if _, err := s.GetAction(ctx, "nope"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("missing action: got %v, want not found", err)
		}
		log, err := s.IncidentActivity(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var sawDecision bool
		for _, e := range log {
			if e.Verb == "action.status" && e.Actor == "ana" && e.Before == "pending" && e.After == "approved: go" {
				sawDecision = true
			}
		}
		if !sawDecision {
			t.Errorf("activity log lacks the approval: %+v", log)
		}
		if err := s.UpdateAction(ctx, &domain.Action{ID: "nope", IncidentID: r.IncidentID, Status: domain.ActionRunning}); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("updating a missing action: got %v, want not found", err)
		}
	})
}

// TestUpdateActionLifecycle walks actions through their statuses and
// checks what each update leaves: the audit entries (who, from, to, with
// the decision's comment and the connector), the incident's first
// acknowledgement (a person's decision, not policy's) and containment (a
// containment action's success, not another's), and nothing audited for
// an update that keeps the status.
func TestUpdateActionLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
		r, err := s.IngestAlert(ctx, alertAt("a", t0, domain.SeverityHigh, device("ws1", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		times := func() store.IncidentTimes {
			t.Helper()
			ts, err := s.ResponseTimes(ctx, t0.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ts {
				if x.ID == r.IncidentID {
					return x
				}
			}
			return store.IncidentTimes{}
		}
		record := func(id, typ string, st domain.ActionStatus, by string) *domain.Action {
			a := &domain.Action{ID: id, IncidentID: r.IncidentID, Playbook: "p", PlaybookVersion: 1, Step: id, Type: typ,
				TargetKey: "device:ws1", TargetName: "ws1", Source: domain.SourceAutomated, Status: st, DecidedBy: by,
				CreatedAt: t0, IdempotencyKey: id}
			if _, err := s.RecordAction(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
			return a
		}
		update := func(a *domain.Action, f func(a *domain.Action)) {
			t.Helper()
			f(a)
			if err := s.UpdateAction(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		// Policy approves a scan that runs and succeeds: no acknowledgement,
		// and a scan contains nothing.
		scan := record("scan", "device.run_av_scan", domain.ActionApproved, domain.PolicyActor)
		update(scan, func(a *domain.Action) { a.Status, a.StartedAt = domain.ActionRunning, at(time.Minute) })
		update(scan, func(a *domain.Action) {
			a.Status, a.FinishedAt, a.Result, a.Connector = domain.ActionSucceeded, at(2*time.Minute), "scanned", "lab"
		})
		if x := times(); x.AcknowledgedAt != nil || x.ContainedAt != nil {
			t.Errorf("after the policy's scan: acknowledged %v, contained %v; want neither", x.AcknowledgedAt, x.ContainedAt)
		}
		// A person approves an isolation with a comment; it runs, the same
		// status is written again, and it succeeds through a connector.
		iso := record("iso", "device.isolate", domain.ActionPending, "")
		update(iso, func(a *domain.Action) {
			a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = domain.ActionApproved, "ana", at(3*time.Minute), "contain it"
		})
		update(iso, func(a *domain.Action) { a.Status, a.StartedAt = domain.ActionRunning, at(4*time.Minute) })
		update(iso, func(a *domain.Action) { a.Reason = "still running" })
		update(iso, func(a *domain.Action) {
			a.Status, a.FinishedAt, a.Connector, a.ConnectorNote = domain.ActionSucceeded, at(5*time.Minute), "mde", "machine action 42"
		})
		x := times()
		if x.AcknowledgedAt == nil || !x.AcknowledgedAt.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("acknowledged at %v, want the decision's time %v", x.AcknowledgedAt, t0.Add(3*time.Minute))
		}
		if x.ContainedAt == nil || !x.ContainedAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("contained at %v, want the isolation's finish %v", x.ContainedAt, t0.Add(5*time.Minute))
		}
		// A second person's decision and a second containment move neither.
		again := record("again", "device.isolate", domain.ActionPending, "")
		update(again, func(a *domain.Action) {
			a.Status, a.DecidedBy, a.DecidedAt = domain.ActionApproved, "bob", at(6*time.Minute)
		})
		update(again, func(a *domain.Action) { a.Status, a.FinishedAt = domain.ActionSucceeded, at(7*time.Minute) })
		if y := times(); !y.AcknowledgedAt.Equal(*x.AcknowledgedAt) || !y.ContainedAt.Equal(*x.ContainedAt) {
			t.Errorf("later decision and containment moved the first ones: %+v", y)
		}
		got, err := s.GetAction(ctx, "iso")
		if err != nil || got.Status != domain.ActionSucceeded || got.Reason != "still running" || got.DecisionComment != "contain it" ||
			got.Connector != "mde" || got.ConnectorNote != "machine action 42" || got.FinishedAt == nil || !got.FinishedAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("stored isolation = %+v, %v", got, err)
		}
		log, err := s.IncidentActivity(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var changes []string
		for _, e := range log {
			if e.Verb == "action.status" {
				if e.IncidentID == nil || *e.IncidentID != r.IncidentID {
					t.Errorf("audit entry %+v not on incident %d", e, r.IncidentID)
				}
				changes = append(changes, e.Actor+" "+e.Object+" "+e.Before+" → "+e.After)
			}
		}
		want := []string{
			"system:investigation action:scan approved → running",
			"system:investigation action:scan running → succeeded via lab",
			"ana action:iso pending → approved: contain it",
			"system:investigation action:iso approved → running",
			"system:investigation action:iso running → succeeded via mde (machine action 42)",
			"bob action:again pending → approved",
			"system:investigation action:again approved → succeeded",
		}
		if !slices.Equal(changes, want) {
			t.Errorf("audited status changes:\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestLabIsolationIsExactlyOncePerKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		op, err := s.LabSetIsolation(ctx, "k1", "dev1", "ws1", true)
		if err != nil || !op.Changed || op.Result != "isolated" {
			t.Fatalf("first isolate: got %+v, %v", op, err)
		}
		again, err := s.LabSetIsolation(ctx, "k1", "dev1", "ws1", true)
		if err != nil || !again.Changed || again.Result != "isolated" {
			t.Fatalf("retried isolate: got %+v, %v; want the recorded first result", again, err)
		}
		other, err := s.LabSetIsolation(ctx, "k2", "dev1", "ws1", true)
		if err != nil || other.Changed || other.Result != "already isolated" {
			t.Fatalf("second isolate: got %+v, %v; want a no-op", other, err)
		}
		ops, err := s.LabOperations(ctx)
		if err != nil || len(ops) != 2 {
			t.Fatalf("operations: got %d, %v; want 2", len(ops), err)
		}
		devs, err := s.LabDevices(ctx)
		if err != nil || len(devs) != 1 || !devs[0].Isolated {
			t.Fatalf("devices: got %+v, %v", devs, err)
		}
	})
}

func TestInvestigationStateProjection(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r, err := s.IngestAlert(ctx, alertAt("a", time.Now(), domain.SeverityHigh), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetInvestigationState(ctx, r.IncidentID, domain.InvestigationPendingApproval); err != nil {
			t.Fatal(err)
		}
		inc, err := s.GetIncident(ctx, r.IncidentID)
		if err != nil || inc.InvestigationState != domain.InvestigationPendingApproval {
			t.Fatalf("got %+v, %v", inc, err)
		}
		// The same state again changes nothing and audits nothing.
		if err := s.SetInvestigationState(ctx, r.IncidentID, domain.InvestigationPendingApproval); err != nil {
			t.Fatal(err)
		}
		if err := s.SetInvestigationState(ctx, r.IncidentID, domain.InvestigationBenign); err != nil {
			t.Fatal(err)
		}
		log, err := s.IncidentActivity(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var changes []string
		for _, e := range log {
			if e.Verb == "investigation.state" {
				changes = append(changes, e.Actor+" "+e.Object+" "+e.Before+" → "+e.After)
			}
		}
		want := []string{
			fmt.Sprintf("system:investigation incident:%d %s → %s", r.IncidentID, domain.InvestigationQueued, domain.InvestigationPendingApproval),
			fmt.Sprintf("system:investigation incident:%d %s → %s", r.IncidentID, domain.InvestigationPendingApproval, domain.InvestigationBenign),
		}
		if !slices.Equal(changes, want) {
			t.Errorf("audited state changes:\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
		}
		if err := s.SetInvestigationState(ctx, 999, domain.InvestigationRunning); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown incident: got %v, want not found", err)
		}
		// Scope: several keys at once, again without duplicates.
		keys := []domain.EntityKey{"device:a", "user:b"}
		for range 2 {
			if err := s.AddToScope(ctx, r.IncidentID, keys); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddToScope(ctx, r.IncidentID, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.InvestigationScope(ctx, r.IncidentID); err != nil || !slices.Equal(got, keys) {
			t.Errorf("scope = %v, %v; want %v", got, err, keys)
		}
	})
}

func TestRateGuardrailHoldsBackAutomation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r, err := s.IngestAlert(ctx, alertAt("a", time.Now(), domain.SeverityHigh, device("ws1", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		cap := &store.RateCap{Max: 2, Per: time.Hour}
		record := func(id string, at time.Time) *domain.Action {
			t.Helper()
			a := &domain.Action{ID: id, IncidentID: r.IncidentID, Playbook: "p", Step: "s", Type: "device.isolate",
				TargetKey: domain.EntityKey("device:" + id), Source: domain.SourceAutomated, Status: domain.ActionApproved,
				DecidedBy: domain.PolicyActor, DecidedAt: &at, Reason: "automation level full", CreatedAt: at, IdempotencyKey: id}
			got, err := s.RecordAction(ctx, a, cap)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		for i, tt := range []struct {
			at   time.Time
			want domain.ActionStatus
		}{
			{t0, domain.ActionApproved},
			{t0.Add(time.Minute), domain.ActionApproved},
			{t0.Add(2 * time.Minute), domain.ActionPending},   // third within the hour
			{t0.Add(61 * time.Minute), domain.ActionApproved}, // the first left the window
			{t0.Add(62 * time.Minute), domain.ActionApproved}, // the second left too; held-back ones never count
			{t0.Add(63 * time.Minute), domain.ActionPending},  // the fourth and fifth are in it
		} {
			got := record(fmt.Sprintf("r%d", i), tt.at)
			if got.Status != tt.want {
				t.Errorf("action %d at +%s: got %s (%s), want %s", i, tt.at.Sub(t0), got.Status, got.Reason, tt.want)
			}
			if tt.want == domain.ActionPending && (got.DecidedBy != "" || !strings.Contains(got.Reason, "guardrail")) {
				t.Errorf("held-back action %d: decided by %q, reason %q; want undecided with the guardrail as reason", i, got.DecidedBy, got.Reason)
			}
		}
	})
}

func TestSettingsAndEntityTagsAreAudited(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var got map[string]string
		if ok, err := s.Setting(ctx, "automation", &got); ok || err != nil {
			t.Fatalf("unset setting: got %v, %v", ok, err)
		}
		if err := s.PutSetting(ctx, "automation", map[string]string{"default": "full"}, "root"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Setting(ctx, "automation", &got); !ok || err != nil || got["default"] != "full" {
			t.Fatalf("setting: got %v %v %v", got, ok, err)
		}
		if err := s.SetEntityTags(ctx, "device:dc1", []string{"critical", "dc", "critical"}, "root"); err != nil {
			t.Fatal(err)
		}
		tags, err := s.EntityTags(ctx, []domain.EntityKey{"device:dc1", "device:other"})
		if err != nil || len(tags["device:dc1"]) != 2 || len(tags["device:other"]) != 0 {
			t.Errorf("tags: got %v, %v", tags, err)
		}
	})
}

func TestMergedActionsFollowTheMerge(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		small, err := s.IngestAlert(ctx, alertAt("m1", now, domain.SeverityHigh, device("ws1", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		a := &domain.Action{ID: "m-act", IncidentID: small.IncidentID, Playbook: "p", PlaybookVersion: 1, Step: "isolate",
			Type: "device.isolate", TargetKey: "device:ws1", TargetName: "ws1", Params: []byte(`{}`),
			Source: domain.SourceAutomated, Status: domain.ActionPending, Reason: "semi-all", CreatedAt: now, IdempotencyKey: "m-k"}
		if _, err := s.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		var big records.IngestResult
		for i, ev := range [][]domain.Evidence{{device("ws2", domain.VerdictSuspicious)}, {device("ws2", domain.VerdictSuspicious)},
			{device("ws2", domain.VerdictSuspicious), device("ws1", domain.VerdictMalicious)}} {
			r, err := s.IngestAlert(ctx, alertAt(fmt.Sprint("m", i+2), now.Add(time.Duration(i+1)*time.Minute), domain.SeverityMedium, ev...), correlate.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			big = r
		}
		if !slices.Contains(big.Merged, small.IncidentID) {
			t.Fatalf("incident %d not merged into %d: %+v", small.IncidentID, big.IncidentID, big)
		}
		got, err := s.MergedActions(ctx, big.IncidentID, 10)
		if err != nil || len(got) != 1 || got[0].ID != "m-act" {
			t.Errorf("merged actions of %d: %+v, %v", big.IncidentID, got, err)
		}
		if got, err := s.MergedActions(ctx, small.IncidentID, 10); err != nil || len(got) != 0 {
			t.Errorf("merged actions of the merged incident: %+v, %v; want none", got, err)
		}
	})
}

func TestIncidentResolvesWhenEveryAlertIs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().UTC().Add(-time.Hour)
		ingest := func(a *domain.Alert) records.IngestResult {
			t.Helper()
			r, err := s.IngestAlert(ctx, a, correlate.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		first := ingest(alertAt("r1", t0, domain.SeverityHigh, device("ws9", domain.VerdictSuspicious)))
		ingest(alertAt("r2", t0.Add(time.Minute), domain.SeverityHigh, device("ws9", domain.VerdictSuspicious)))
		resolved := func(id string, at time.Time) *domain.Alert {
			a := alertAt(id, at, domain.SeverityHigh, device("ws9", domain.VerdictSuspicious))
			a.Status, a.LastUpdateDateTime = domain.AlertResolved, at.Add(30*time.Minute)
			return a
		}
		ingest(resolved("r1", t0))
		if inc, err := s.GetIncident(ctx, first.IncidentID); err != nil || inc.Status != domain.IncidentActive {
			t.Fatalf("one of two alerts resolved: %+v, %v; want the incident still active", inc, err)
		}
		ingest(resolved("r2", t0.Add(time.Minute)))
		inc, err := s.GetIncident(ctx, first.IncidentID)
		if err != nil || inc.Status != domain.IncidentResolved || inc.ResolvedDateTime == nil || inc.LastModifiedBy != "system:ingest" {
			t.Fatalf("every alert resolved: %+v, %v; want the incident resolved by system:ingest", inc, err)
		}
		log, err := s.IncidentActivity(ctx, first.IncidentID)
		if err != nil || !slices.ContainsFunc(log, func(e records.AuditEntry) bool {
			return e.Verb == "incident.status" && e.Before == "active" && e.After == "resolved" && e.Actor == "system:ingest"
		}) {
			t.Errorf("activity log lacks the resolution: %+v, %v", log, err)
		}
	})
}

// TestAddIncidentTags: tags are added once each, in order, with an audit
// entry per change and none for a change that adds nothing; writers at
// the same time all get their tag in; an unknown incident is not found.
func TestAddIncidentTags(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r, err := s.IngestAlert(ctx, alertAt("a", time.Now(), domain.SeverityHigh), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tags := range [][]string{{"vip", "ransomware"}, {"vip"}, {"", "ransomware", "lateral"}} {
			if err := s.AddIncidentTags(ctx, r.IncidentID, tags, "ana"); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				errs[i] = s.AddIncidentTags(ctx, r.IncidentID, []string{fmt.Sprintf("t%d", i)}, "system:playbook:p")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		inc, err := s.GetIncident(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		got := []string(inc.CustomTags)
		if len(got) != 11 || !slices.Equal(got[:3], []string{"vip", "ransomware", "lateral"}) {
			t.Errorf("tags = %v, want vip, ransomware, lateral and t0…t7", got)
		}
		for i := range 8 {
			if !slices.Contains(got, fmt.Sprintf("t%d", i)) {
				t.Errorf("tag t%d lost: %v", i, got)
			}
		}
		log, err := s.IncidentActivity(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var changes []string
		for _, e := range log {
			if e.Verb == "incident.tags" {
				changes = append(changes, e.Actor+" "+e.Before+" → "+e.After)
			}
		}
		if len(changes) != 10 || changes[0] != `ana [] → ["vip","ransomware"]` || changes[1] != `ana ["vip","ransomware"] → ["vip","ransomware","lateral"]` {
			t.Errorf("audited tag changes:\n%s", strings.Join(changes, "\n"))
		}
		if err := s.AddIncidentTags(ctx, 999999, []string{"x"}, "ana"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown incident: %v, want not found", err)
		}
	})
}
