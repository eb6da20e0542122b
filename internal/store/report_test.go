package store_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/store"
)

// reportFixture is five incidents, six actions and an undo with known
// times, in November 2026 and one in October (all times UTC):
//
//	I1 high   ws1 Servers      det-A CredentialAccess [T1003.001]  created 11-20 08:00, ack 08:30, contained 09:00, resolved 12:00, truePositive
//	I2 medium ws2 Servers      det-A CredentialAccess [T1003.001]  created 11-20 10:00, ack 16:00, contained 11-21 09:05, inProgress, falsePositive
//	I3 high   ws3 Workstations det-B Execution [T1059.001 T1003.001] + a second alert Execution []  created 11-20 21:00, active
//	I4 low    ws4 Workstations no detector, title "Odd login", InitialAccess []                   created 11-10 00:00, active
//	I5 medium ws5 Servers      det-A CredentialAccess [T1003]      created 10-15 09:00, ack 09:20, contained 09:25, resolved 11:00, falsePositive
//
//	A1 I1 device.isolate ws1   policy-approved 11-20 08:50, ran 08:55–09:00, succeeded
//	A2 I2 device.isolate ws2   created 11-20 11:00, approved by ana 11-21 09:00 "confirmed beacon", ran 09:01–09:05
//	A3 I3 device.run_av_scan ws3 created 11-20 22:00, pending
//	A4 I4 user.disable user:bob created 11-12 00:00, rejected by ben 11-12 01:00 "bob is travelling"
//	A5 I5 device.isolate ws5   created 10-15 09:10, approved by ana 09:20, ran 09:21–09:25; undone
//	U1 I5 device.release ws5   undo of A5 asked by ana 11-03 10:00 "false positive", ran 10:01–10:02
//	A6 I3 device.isolate ws3   created 11-20 21:30, expired 11-27 21:30
type reportFixture struct {
	inc [6]int64 // 1-based: inc[1] is I1
}

func day(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, time.UTC) }

func newReportFixture(t *testing.T, s *store.Store) *reportFixture {
	t.Helper()
	ctx := context.Background()
	f := &reportFixture{}
	dev := func(id, group string) domain.Evidence {
		return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": group}}}
	}
	ingest := func(id, title, detector, category string, techniques []string, sev domain.Severity, at time.Time, ev domain.Evidence) int64 {
		t.Helper()
		a := &domain.Alert{ID: id, Title: title, DetectorID: detector, Category: category, MitreTechniques: techniques,
			Status: domain.AlertNew, Severity: sev, ServiceSource: "microsoftDefenderForEndpoint",
			CreatedDateTime: at, LastUpdateDateTime: at, Evidence: []domain.Evidence{ev}}
		r, err := s.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			t.Fatalf("ingest %s: %v", id, err)
		}
		return r.IncidentID
	}
	f.inc[1] = ingest("al1", "Mimikatz", "det-A", "CredentialAccess", []string{"T1003.001"}, domain.SeverityHigh, day(11, 20, 8, 0), dev("ws1", "Servers"))
	f.inc[2] = ingest("al2", "Mimikatz", "det-A", "CredentialAccess", []string{"T1003.001"}, domain.SeverityMedium, day(11, 20, 10, 0), dev("ws2", "Servers"))
	f.inc[3] = ingest("al3", "PowerShell", "det-B", "Execution", []string{"T1059.001", "T1003.001"}, domain.SeverityHigh, day(11, 20, 21, 0), dev("ws3", "Workstations"))
	if got := ingest("al3b", "PowerShell again", "det-B", "Execution", nil, domain.SeverityHigh, day(11, 20, 21, 10), dev("ws3", "Workstations")); got != f.inc[3] {
		t.Fatalf("al3b opened incident %d, want it in I3 (%d)", got, f.inc[3])
	}
	f.inc[4] = ingest("al4", "Odd login", "", "InitialAccess", nil, domain.SeverityLow, day(11, 10, 0, 0), dev("ws4", "Workstations"))
	f.inc[5] = ingest("al5", "Mimikatz", "det-A", "CredentialAccess", []string{"T1003"}, domain.SeverityMedium, day(10, 15, 9, 0), dev("ws5", "Servers"))

	at := func(t time.Time) *time.Time { return &t }
	record := func(a domain.Action, updates ...func(*domain.Action)) {
		t.Helper()
		a.Playbook, a.PlaybookVersion, a.Step, a.Params, a.Reason, a.IdempotencyKey = "p", 1, "s", []byte(`{}`), "test", a.ID
		if a.Reason == "" {
			a.Reason = "test"
		}
		if a.Source == "" {
			a.Source, a.RequestedBy = domain.SourceAutomated, "playbook"
		}
		if a.TargetName == "" {
			a.TargetName = string(a.TargetKey)[len("device:"):]
		}
		if _, err := s.RecordAction(ctx, &a, nil); err != nil {
			t.Fatal(err)
		}
		for _, u := range updates {
			u(&a)
			if err := s.UpdateAction(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}
	}
	ran := func(start, end time.Time) func(*domain.Action) {
		return func(a *domain.Action) {
			a.Status, a.StartedAt, a.FinishedAt = domain.ActionSucceeded, at(start), at(end)
		}
	}
	decide := func(st domain.ActionStatus, by string, when time.Time, comment string) func(*domain.Action) {
		return func(a *domain.Action) {
			a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = st, by, at(when), comment
		}
	}
	record(domain.Action{ID: "A1", IncidentID: f.inc[1], Type: "device.isolate", TargetKey: "device:ws1", Status: domain.ActionApproved,
		DecidedBy: domain.PolicyActor, DecidedAt: at(day(11, 20, 8, 50)), CreatedAt: day(11, 20, 8, 50)}, ran(day(11, 20, 8, 55), day(11, 20, 9, 0)))
	record(domain.Action{ID: "A2", IncidentID: f.inc[2], Type: "device.isolate", TargetKey: "device:ws2", Status: domain.ActionPending,
		CreatedAt: day(11, 20, 11, 0)}, decide(domain.ActionApproved, "ana", day(11, 21, 9, 0), "confirmed beacon"), ran(day(11, 21, 9, 1), day(11, 21, 9, 5)))
	record(domain.Action{ID: "A3", IncidentID: f.inc[3], Type: "device.run_av_scan", TargetKey: "device:ws3", Status: domain.ActionPending,
		CreatedAt: day(11, 20, 22, 0)})
	record(domain.Action{ID: "A4", IncidentID: f.inc[4], Type: "user.disable", TargetKey: "user:bob", TargetName: "bob", Status: domain.ActionPending,
		CreatedAt: day(11, 12, 0, 0)}, decide(domain.ActionRejected, "ben", day(11, 12, 1, 0), "bob is travelling"))
	record(domain.Action{ID: "A5", IncidentID: f.inc[5], Type: "device.isolate", TargetKey: "device:ws5", Status: domain.ActionPending,
		CreatedAt: day(10, 15, 9, 10)}, decide(domain.ActionApproved, "ana", day(10, 15, 9, 20), ""), ran(day(10, 15, 9, 21), day(10, 15, 9, 25)),
		func(a *domain.Action) { a.Status = domain.ActionUndone })
	record(domain.Action{ID: "U1", IncidentID: f.inc[5], Type: "device.release", TargetKey: "device:ws5", Source: domain.SourceManual,
		RequestedBy: "ana", Status: domain.ActionApproved, DecidedBy: "ana", DecidedAt: at(day(11, 3, 10, 0)), UndoOf: "A5",
		CreatedAt: day(11, 3, 10, 0)}, ran(day(11, 3, 10, 1), day(11, 3, 10, 2)))
	record(domain.Action{ID: "A6", IncidentID: f.inc[3], Type: "device.isolate", TargetKey: "device:ws3", Status: domain.ActionPending,
		CreatedAt: day(11, 20, 21, 30)}, decide(domain.ActionExpired, "system:expiry", day(11, 27, 21, 30), ""))

	// The store stamps creation with the wall clock and milestones as
	// things happen: pin them to the fixture's times.
	pin := func(i int, status domain.IncidentStatus, class string, created time.Time, ack, cont, res *time.Time) {
		t.Helper()
		if err := s.ExecArgsForTest(ctx, `UPDATE incidents SET status = ?, classification = ?, created_at = ?,
			acknowledged_at = ?, contained_at = ?, resolved_at = ? WHERE id = ?`, status, class, created, ack, cont, res, f.inc[i]); err != nil {
			t.Fatal(err)
		}
	}
	pin(1, domain.IncidentResolved, "truePositive", day(11, 20, 8, 0), at(day(11, 20, 8, 30)), at(day(11, 20, 9, 0)), at(day(11, 20, 12, 0)))
	pin(2, domain.IncidentInProgress, "falsePositive", day(11, 20, 10, 0), at(day(11, 20, 16, 0)), at(day(11, 21, 9, 5)), nil)
	pin(3, domain.IncidentActive, "unknown", day(11, 20, 21, 0), nil, nil, nil)
	pin(4, domain.IncidentActive, "unknown", day(11, 10, 0, 0), nil, nil, nil)
	pin(5, domain.IncidentResolved, "falsePositive", day(10, 15, 9, 0), at(day(10, 15, 9, 20)), at(day(10, 15, 9, 25)), at(day(10, 15, 11, 0)))
	return f
}

// now is when the fixture's reports are made: 2026-12-05 12:00 UTC.
var reportNow = day(12, 5, 12, 0)

// TestDailyReport checks the daily report of 2026-11-20 against figures
// worked out by hand from the fixture.
func TestDailyReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := newReportFixture(t, s)
		p, err := report.ParseDate("2026-11-20", reportNow)
		if err != nil {
			t.Fatal(err)
		}
		d, err := report.DailyReport(ctx, s, p, report.DefaultSLA(), nil, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		// The queue is read at 11-21 00:00. Open: I2 (inProgress, 14 h
		// old), I3 (3 h), I4 (11 days); I1 was resolved at 12:00, I5 in
		// October.
		if !d.At.Equal(day(11, 21, 0, 0)) || d.Open.Total != 3 {
			t.Errorf("at %s, %d open; want 2026-11-21 00:00, 3 open", d.At, d.Open.Total)
		}
		if got, want := counts(d.Open.BySeverity), "high 1, medium 1, low 1"; got != want {
			t.Errorf("by severity %s, want %s", got, want)
		}
		if got, want := counts(d.Open.ByAge), "< 1 h 0, 1–4 h 1, 4–24 h 1, 1–7 d 0, > 7 d 1"; got != want {
			t.Errorf("by age %s, want %s", got, want)
		}
		// Pending at midnight, oldest first: A2 (11:00, approved only the
		// next morning: 13 h), A6 (21:30, expired a week later: 2h30m),
		// A3 (22:00, still pending: 2 h).
		var got []string
		for _, a := range d.Pending.Oldest {
			got = append(got, a.ID+" "+a.Waited)
		}
		if want := []string{"A2 13h0m0s", "A6 2h30m0s", "A3 2h0m0s"}; d.Pending.Total != 3 || !slices.Equal(got, want) {
			t.Errorf("pending %d %v, want 3 %v", d.Pending.Total, got, want)
		}
		// Breaches (SLA high 1 h, medium 4 h, low 24 h): I4 due 11-11
		// 00:00, unacknowledged at 11-21 00:00: 240 h over; I2 due 14:00,
		// acknowledged 16:00: 2 h late; I3 due 22:00, unacknowledged: 2 h
		// over. I1 was acknowledged after 30 min, within its hour.
		got = nil
		for _, b := range d.Breaches {
			got = append(got, "I"+itoa(int64(slices.Index(f.inc[:], b.ID)))+" "+b.Over+map[bool]string{true: " ack", false: ""}[b.Acknowledged])
		}
		if want := []string{"I4 240h0m0s", "I2 2h0m0s ack", "I3 2h0m0s"}; !slices.Equal(got, want) {
			t.Errorf("breaches %v, want %v", got, want)
		}

		// Scoped to Workstations: I3 and I4, and the actions on ws3.
		d, err = report.DailyReport(ctx, s, p, report.DefaultSLA(), []string{"Workstations"}, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		if d.Open.Total != 2 || d.Pending.Total != 2 || len(d.Breaches) != 2 || !d.Scoped {
			t.Errorf("scoped to Workstations: %d open, %d pending, %d breaches; want 2, 2, 2", d.Open.Total, d.Pending.Total, len(d.Breaches))
		}
	})
}

// TestMonthlyReport checks the automation review of November 2026.
func TestMonthlyReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := newReportFixture(t, s)
		p, err := report.ParseMonth("2026-11", reportNow)
		if err != nil {
			t.Fatal(err)
		}
		m, err := report.MonthlyReport(ctx, s, p, nil, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		// Started in November: A1 (policy: automated), A2 (ana), U1 (the
		// undo, ana): 1 of 3 automated. A5 ran in October.
		if m.Automation.Executed != 3 || m.Automation.Automated != 1 {
			t.Errorf("automation %+v, want 1 of 3", m.Automation)
		}
		line := func(l report.AutomationLine) string {
			return l.Type + "/" + l.DeviceGroup + " " + itoa(l.Automated) + "/" + itoa(l.Executed)
		}
		var got []string
		for _, l := range append(m.ByType, m.ByGroup...) {
			got = append(got, line(l))
		}
		want := []string{"device.isolate/ 1/2", "device.release/ 0/1", "device.isolate/Servers 1/2", "device.release/Servers 0/1"}
		if !slices.Equal(got, want) {
			t.Errorf("by type and group %v, want %v", got, want)
		}
		// Decided in November: A2 approved (Servers), A6 expired
		// (Workstations), A4 rejected (user, no group). A1 was policy's,
		// U1 an undo.
		got = nil
		for _, l := range m.Decisions {
			got = append(got, l.Type+"/"+l.DeviceGroup+" "+itoa(int64(l.Approved))+" "+itoa(int64(l.Rejected))+" "+itoa(int64(l.Expired)))
		}
		if want := []string{"device.isolate/Servers 1 0 0", "device.isolate/Workstations 0 0 1", "user.disable/ 0 1 0"}; !slices.Equal(got, want) {
			t.Errorf("decisions %v, want %v", got, want)
		}
		got = nil
		for _, c := range m.Comments {
			got = append(got, c.Decision+" "+c.ActionID+": "+c.Comment)
		}
		if want := []string{"rejected A4: bob is travelling", "approved A2: confirmed beacon"}; !slices.Equal(got, want) {
			t.Errorf("comments %v, want %v", got, want)
		}
		if len(m.Undone) != 1 || m.Undone[0].ID != "A5" || m.Undone[0].UndoID != "U1" || m.Undone[0].UndoneBy != "ana" ||
			!m.Undone[0].UndoneAt.Equal(day(11, 3, 10, 0)) {
			t.Errorf("undone %+v, want A5 undone by ana with U1 on 11-03 10:00", m.Undone)
		}
		// Created in November: I1, I2 (det-A; I2 a false positive), I3
		// (det-B), I4 (no detector: its title). I5 is October's.
		got = nil
		for _, d := range m.Detectors {
			got = append(got, d.Detector+" "+itoa(int64(d.Incidents))+" "+itoa(int64(d.FalsePositives)))
		}
		if want := []string{"det-A 2 1", "Odd login 1 0", "det-B 1 0"}; !slices.Equal(got, want) {
			t.Errorf("detectors %v, want %v", got, want)
		}
		if len(m.Suggestions) != 0 {
			t.Errorf("suggestions from a handful of decisions: %+v", m.Suggestions)
		}

		// Scoped to Workstations: nothing ran there; A6 (ws3) and A4 (a
		// user in I4, whose device is a workstation) were decided.
		m, err = report.MonthlyReport(ctx, s, p, []string{"Workstations"}, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		if m.Automation.Executed != 0 || len(m.Decisions) != 2 || len(m.Undone) != 0 || len(m.Detectors) != 3-1 {
			t.Errorf("scoped: %+v executed, %d decision lines, %d undone, %d detectors; want 0, 2, 0, 2",
				m.Automation, len(m.Decisions), len(m.Undone), len(m.Detectors))
		}

		// Settings changes are the month's: made now, they are in this
		// month's review; a scoped reader sees the settings, not the tags.
		if err := s.PutSetting(ctx, report.SLAKey, report.SLA{Acknowledge: map[domain.Severity]report.Duration{"high": report.Duration(time.Hour / 2)}}, "root"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEntityTags(ctx, "device:ws1", []string{"critical"}, "root"); err != nil {
			t.Fatal(err)
		}
		cur, err := report.ParseMonth("", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m, err = report.MonthlyReport(ctx, s, cur, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(m.SettingsChanges) != 2 || m.SettingsChanges[0].Object != "settings:sla" || m.SettingsChanges[1].Verb != "entity.tags" {
			t.Errorf("settings changes %+v, want the SLA then the tags", m.SettingsChanges)
		}
		m, err = report.MonthlyReport(ctx, s, cur, []string{"Workstations"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(m.SettingsChanges) != 1 {
			t.Errorf("scoped settings changes %+v, want the SLA only", m.SettingsChanges)
		}
		_ = f
	})
}

// TestQuarterlyReport checks the report of 2026-Q4, made on 12-05.
func TestQuarterlyReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := newReportFixture(t, s)
		p, err := report.ParseQuarter("2026-Q4", reportNow)
		if err != nil {
			t.Fatal(err)
		}
		q, err := report.QuarterlyReport(ctx, s, p, nil, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Months) != 3 || !q.Months[2].Period.ToDate || !q.Months[2].Period.Until.Equal(reportNow) {
			t.Fatalf("months %+v, want October, November and December to date", q.Months)
		}
		type row struct {
			incidents          int
			mtta, mttc, mttr   string
			automated, started int64
		}
		var got []row
		for _, m := range q.Months {
			got = append(got, row{m.Incidents, m.TimeToAcknowledge.Mean, m.TimeToContain.Mean, m.TimeToResolve.Mean,
				m.Automation.Automated, m.Automation.Executed})
		}
		want := []row{
			// October: I5, acknowledged after 20m, contained after 25m,
			// resolved after 2h; A5 ran on ana's approval.
			{1, "20m0s", "25m0s", "2h0m0s", 0, 1},
			// November: I1–I4 created. Acknowledged: I1 30m, I2 6h → mean
			// 3h15m. Contained: I1 1h, I2 23h5m → mean 12h2m30s.
			// Resolved: I1 4h. Ran: A1 (policy), A2, U1 → 1 of 3.
			{4, "3h15m0s", "12h2m30s", "4h0m0s", 1, 3},
			// December so far: nothing.
			{0, "", "", "", 0, 0},
		}
		if !slices.Equal(got, want) {
			t.Errorf("months\n got %+v\nwant %+v", got, want)
		}
		// Alerts: CredentialAccess al1, al2, al5; Execution al3, al3b;
		// InitialAccess al4. T1003.001 on al1, al2, al3; T1003 on al5;
		// T1059.001 on al3.
		var tactics, techniques []string
		for _, t := range q.Tactics {
			tactics = append(tactics, t.Category+" "+t.ID+" "+itoa(int64(t.Alerts)))
		}
		for _, t := range q.Techniques {
			techniques = append(techniques, t.ID+" "+itoa(int64(t.Alerts)))
		}
		if want := []string{"CredentialAccess TA0006 3", "Execution TA0002 2", "InitialAccess TA0001 1"}; !slices.Equal(tactics, want) {
			t.Errorf("tactics %v, want %v", tactics, want)
		}
		if want := []string{"T1003.001 3", "T1003 1", "T1059.001 1"}; !slices.Equal(techniques, want) {
			t.Errorf("techniques %v, want %v", techniques, want)
		}
		// Biggest: I3 (2 alerts), then one alert each by severity: I1
		// high, I2 and I5 medium (by id), I4 low.
		var ids []int64
		for _, b := range q.Biggest {
			ids = append(ids, b.ID)
		}
		if want := []int64{f.inc[3], f.inc[1], f.inc[2], f.inc[5], f.inc[4]}; !slices.Equal(ids, want) {
			t.Errorf("biggest %v, want %v", ids, want)
		}
		// Scoped to Servers: I1, I2, I5 and their alerts.
		q, err = report.QuarterlyReport(ctx, s, p, []string{"servers"}, reportNow)
		if err != nil {
			t.Fatal(err)
		}
		if q.Months[1].Incidents != 2 || len(q.Biggest) != 3 || len(q.Tactics) != 1 {
			t.Errorf("scoped to Servers: %d November incidents, %d biggest, tactics %v; want 2, 3, CredentialAccess",
				q.Months[1].Incidents, len(q.Biggest), q.Tactics)
		}
	})
}

func counts(cs []report.Count) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Label+" "+itoa(int64(c.Count)))
	}
	return strings.Join(out, ", ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
