package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func groupDevice(name, group string) domain.Evidence {
	return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
		Key: domain.EntityKey("device:" + name), Kind: domain.KindDevice, Name: name, Verdict: domain.VerdictSuspicious,
		Attrs: map[string]string{"deviceGroup": group}}}
}

// queueFixture holds four incidents:
//
//	a  high, CredentialAccess, device ws-a (Workstations) and alice; assigned to ana, tagged vip, truePositive/malware
//	b  medium, Execution, device srv-b (Servers), detection source antivirus; inProgress, investigation running
//	c  low, two service sources, user carol; active
//	d  informational, device ws-d (Workstations); resolved
type queueFixture struct{ a, b, c, d int64 }

func seedQueue(t *testing.T, s *store.Store) queueFixture {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC()
	a := alertAt("qa1", t0, domain.SeverityHigh, groupDevice("ws-a", "Workstations"), userEv("alice@corp.example", domain.VerdictSuspicious))
	a.Category, a.Title = "CredentialAccess", "LSASS memory read by an unsigned process"
	b := alertAt("qb1", t0.Add(time.Minute), domain.SeverityMedium, groupDevice("srv-b", "Servers"))
	b.DetectionSource = "antivirus"
	c1 := alertAt("qc1", t0.Add(2*time.Minute), domain.SeverityLow, userEv("carol@corp.example", domain.VerdictUnknown))
	c2 := alertAt("qc2", t0.Add(3*time.Minute), domain.SeverityLow, userEv("carol@corp.example", domain.VerdictUnknown))
	c2.ServiceSource = "microsoftDefenderForOffice365"
	d := alertAt("qd1", t0.Add(4*time.Minute), domain.SeverityInformational, groupDevice("ws-d", "Workstations"))
	var f queueFixture
	for _, x := range []struct {
		id *int64
		as []*domain.Alert
	}{{&f.a, []*domain.Alert{a}}, {&f.b, []*domain.Alert{b}}, {&f.c, []*domain.Alert{c1, c2}}, {&f.d, []*domain.Alert{d}}} {
		res := mustIngest(t, s, correlate.Rules{}, x.as...)
		*x.id = res[0].IncidentID
		for _, r := range res[1:] {
			if r.IncidentID != *x.id {
				t.Fatalf("alerts of one fixture incident split: %+v", res)
			}
		}
	}
	manage := func(id int64, ch records.IncidentChange) {
		t.Helper()
		if _, _, err := s.ManageIncident(ctx, id, ch, "ana"); err != nil {
			t.Fatalf("manage %d: %v", id, err)
		}
	}
	manage(f.a, records.IncidentChange{AssignedTo: ptr("ana"), AddTags: []string{"vip"}, Classification: ptr("truePositive"),
		Determination: ptr("malware")})
	manage(f.b, records.IncidentChange{Status: ptr(domain.IncidentInProgress)})
	manage(f.d, records.IncidentChange{Status: ptr(domain.IncidentResolved)})
	if err := s.SetInvestigationState(ctx, f.b, domain.InvestigationRunning); err != nil {
		t.Fatal(err)
	}
	return f
}

func ptr[T any](v T) *T { return &v }

func ids(p *records.IncidentPage) []int64 {
	out := []int64{}
	for _, r := range p.Value {
		out = append(out, r.ID)
	}
	return out
}

func TestQueryIncidentsFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := seedQueue(t, s)
		now := time.Now()
		for _, tc := range []struct {
			name string
			q    records.IncidentQuery
			want []int64
		}{
			{"everything", records.IncidentQuery{}, []int64{f.a, f.b, f.c, f.d}},
			{"status", records.IncidentQuery{Statuses: []domain.IncidentStatus{domain.IncidentActive}}, []int64{f.a, f.c}},
			{"statuses", records.IncidentQuery{Statuses: []domain.IncidentStatus{domain.IncidentInProgress, domain.IncidentResolved}}, []int64{f.b, f.d}},
			{"severity", records.IncidentQuery{Severities: []domain.Severity{domain.SeverityHigh, domain.SeverityMedium}}, []int64{f.a, f.b}},
			{"assigned", records.IncidentQuery{AssignedTo: []string{"ana"}}, []int64{f.a}},
			{"unassigned", records.IncidentQuery{AssignedTo: []string{""}}, []int64{f.b, f.c, f.d}},
			{"tag", records.IncidentQuery{Tags: []string{"vip", "nope"}}, []int64{f.a}},
			{"tag is a whole element", records.IncidentQuery{Tags: []string{"vi"}}, []int64{}},
			{"service source", records.IncidentQuery{ServiceSources: []string{"microsoftDefenderForOffice365"}}, []int64{f.c}},
			{"detection source", records.IncidentQuery{DetectionSources: []string{"antivirus"}}, []int64{f.b}},
			{"category", records.IncidentQuery{Categories: []string{"CredentialAccess"}}, []int64{f.a}},
			{"category is exact on both databases", records.IncidentQuery{Categories: []string{"credentialaccess"}}, []int64{}},
			{"tag is exact on both databases", records.IncidentQuery{Tags: []string{"VIP"}}, []int64{}},
			{"classification", records.IncidentQuery{Classifications: []string{"truePositive"}}, []int64{f.a}},
			{"determination", records.IncidentQuery{Determinations: []string{"malware", "phishing"}}, []int64{f.a}},
			{"investigation state", records.IncidentQuery{InvestigationStates: []domain.InvestigationState{domain.InvestigationRunning}}, []int64{f.b}},
			{"device group, any case", records.IncidentQuery{DeviceGroups: []string{"SERVERS"}}, []int64{f.b}},
			{"entity by key", records.IncidentQuery{Entity: "device:ws-a"}, []int64{f.a}},
			{"entity by name, any case", records.IncidentQuery{Entity: "WS-D"}, []int64{f.d}},
			{"multiple service sources", records.IncidentQuery{MultipleServiceSources: ptr(true)}, []int64{f.c}},
			{"one service source", records.IncidentQuery{MultipleServiceSources: ptr(false)}, []int64{f.a, f.b, f.d}},
			{"since the future", records.IncidentQuery{Since: now.Add(time.Hour)}, []int64{}},
			{"until the past", records.IncidentQuery{Until: now.Add(-time.Hour)}, []int64{}},
			{"last hour", records.IncidentQuery{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, []int64{f.a, f.b, f.c, f.d}},
			{"search name", records.IncidentQuery{Search: "lsass MEMORY"}, []int64{f.a}},
			{"search id", records.IncidentQuery{Search: fmt.Sprint(f.c)}, []int64{f.c}},
			{"search #id", records.IncidentQuery{Search: fmt.Sprintf("#%d", f.b)}, []int64{f.b}},
			{"search asset prefix", records.IncidentQuery{Search: "SRV"}, []int64{f.b}},
			{"search user", records.IncidentQuery{Search: "carol@"}, []int64{f.c}},
			{"search entity key", records.IncidentQuery{Search: "device:ws-d"}, []int64{f.d}},
			{"search wildcard is literal", records.IncidentQuery{Search: "%"}, []int64{}},
			{"combined", records.IncidentQuery{Statuses: []domain.IncidentStatus{domain.IncidentActive, domain.IncidentInProgress},
				DeviceGroups: []string{"Workstations", "Servers"}}, []int64{f.a, f.b}},
		} {
			tc.q.Sort = "id"
			p, err := s.QueryIncidents(ctx, tc.q)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if got := ids(p); !slices.Equal(got, tc.want) || p.Total != len(tc.want) {
				t.Errorf("%s: got %v (total %d), want %v", tc.name, got, p.Total, tc.want)
			}
		}
	})
}

func TestQueryIncidentsSortPageScope(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := seedQueue(t, s)
		q := func(q records.IncidentQuery) *records.IncidentPage {
			t.Helper()
			p, err := s.QueryIncidents(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			return p
		}
		for _, tc := range []struct {
			sort string
			want []int64
		}{
			{"severity", []int64{f.d, f.c, f.b, f.a}}, // by rank: informational < low < medium < high
			{"-severity", []int64{f.a, f.b, f.c, f.d}},
			{"id", []int64{f.a, f.b, f.c, f.d}},
			{"-id", []int64{f.d, f.c, f.b, f.a}},
			{"-alertCount", []int64{f.c, f.d, f.b, f.a}}, // c has two alerts; ties by id, descending
			{"assignedTo", []int64{f.b, f.c, f.d, f.a}},
			{"status", []int64{f.a, f.c, f.b, f.d}}, // active < inProgress < resolved
		} {
			if got := ids(q(records.IncidentQuery{Sort: tc.sort})); !slices.Equal(got, tc.want) {
				t.Errorf("sort %s: got %v, want %v", tc.sort, got, tc.want)
			}
		}
		// Priority: non-increasing scores, and the scores are the derived ones.
		p := q(records.IncidentQuery{Sort: "-priorityScore"})
		for i, r := range p.Value {
			d, err := s.IncidentDerived(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.PriorityScore != d.PriorityScore || len(r.PriorityFactors) != len(d.PriorityFactors) {
				t.Errorf("incident %d: score %d with %d factors, derived %d with %d", r.ID, r.PriorityScore,
					len(r.PriorityFactors), d.PriorityScore, len(d.PriorityFactors))
			}
			if i > 0 && r.PriorityScore > p.Value[i-1].PriorityScore {
				t.Errorf("-priorityScore: %d (%d) after %d (%d)", r.ID, r.PriorityScore, p.Value[i-1].ID, p.Value[i-1].PriorityScore)
			}
		}
		if p.Value[0].PriorityScore == p.Value[len(p.Value)-1].PriorityScore {
			t.Errorf("fixture scores all equal (%d): the sort is not tested", p.Value[0].PriorityScore)
		}
		// The row carries the derived fields.
		a := q(records.IncidentQuery{Search: "ws-a"}).Value
		if len(a) != 1 || !slices.Equal(a[0].ImpactedAssets.Devices, []string{"ws-a"}) || a[0].ImpactedAssets.UserCount != 1 ||
			!slices.Equal(a[0].Categories, []string{"CredentialAccess"}) || a[0].ActiveAlerts != 1 || a[0].AssignedTo != "ana" {
			t.Errorf("row of a: %+v", a)
		}

		// Paging.
		p1 := q(records.IncidentQuery{Sort: "id", Limit: 3})
		p2 := q(records.IncidentQuery{Sort: "id", Limit: 3, Offset: 3})
		p3 := q(records.IncidentQuery{Sort: "id", Limit: 3, Offset: 4})
		if !slices.Equal(ids(p1), []int64{f.a, f.b, f.c}) || !slices.Equal(ids(p2), []int64{f.d}) || len(p3.Value) != 0 ||
			p1.Total != 4 || p2.Total != 4 || p3.Total != 4 || p1.Limit != 3 || p2.Offset != 3 {
			t.Errorf("pages: %v %v %v, totals %d %d %d", ids(p1), ids(p2), ids(p3), p1.Total, p2.Total, p3.Total)
		}
		if d := q(records.IncidentQuery{}); d.Limit != records.DefaultIncidentPage {
			t.Errorf("default limit %d, want %d", d.Limit, records.DefaultIncidentPage)
		}

		// Scope applies before the limit: the one Servers incident is found
		// although three others were updated later.
		sc := q(records.IncidentQuery{Sort: "id", Limit: 1, Scope: []string{"servers"}})
		if !slices.Equal(ids(sc), []int64{f.b}) || sc.Total != 1 {
			t.Errorf("scoped to Servers, limit 1: %v (total %d), want [%d]", ids(sc), sc.Total, f.b)
		}
		if sc := q(records.IncidentQuery{Scope: []string{"Nowhere"}}); sc.Total != 0 {
			t.Errorf("scoped to an unknown group: %v", ids(sc))
		}

		for _, bad := range []struct {
			q     records.IncidentQuery
			field string
		}{{records.IncidentQuery{Sort: "nope"}, "sort"}, {records.IncidentQuery{Limit: 1001}, "limit"}, {records.IncidentQuery{Offset: -1}, "offset"}} {
			_, err := s.QueryIncidents(ctx, bad.q)
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Field != bad.field {
				t.Errorf("%+v: %v, want invalid %s", bad.q, err, bad.field)
			}
		}

		// EachIncident streams every match in order, or the first Limit.
		var got []int64
		if err := s.EachIncident(ctx, records.IncidentQuery{Sort: "-id"}, func(r *records.IncidentRow) error {
			got = append(got, r.ID)
			return nil
		}); err != nil || !slices.Equal(got, []int64{f.d, f.c, f.b, f.a}) {
			t.Errorf("each: %v, %v", got, err)
		}
		got = nil
		stop := errors.New("stop")
		err := s.EachIncident(ctx, records.IncidentQuery{Sort: "id", Limit: 2, Scope: []string{"Workstations"}}, func(r *records.IncidentRow) error {
			got = append(got, r.ID)
			if len(got) == 5 {
				return stop
			}
			return nil
		})
		if err != nil || !slices.Equal(got, []int64{f.a, f.d}) {
			t.Errorf("each, limit 2, Workstations: %v, %v", got, err)
		}
	})
}

func activityVerbs(t *testing.T, s *store.Store, id int64) map[string]records.AuditEntry {
	t.Helper()
	log, err := s.IncidentActivity(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]records.AuditEntry{}
	for _, e := range log {
		out[e.Verb] = e
	}
	return out
}

func TestManageIncident(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().Add(-time.Hour).UTC()
		res := mustIngest(t, s, correlate.Rules{}, alertAt("m1", t0, domain.SeverityMedium, groupDevice("ws-m", "Workstations")),
			alertAt("m2", t0.Add(time.Minute), domain.SeverityLow, groupDevice("ws-m", "Workstations")))
		id := res[0].IncidentID
		manage := func(ch records.IncidentChange, actor string) *domain.Incident {
			t.Helper()
			_, after, err := s.ManageIncident(ctx, id, ch, actor)
			if err != nil {
				t.Fatalf("%+v: %v", ch, err)
			}
			return after
		}
		if inc, _ := s.GetIncident(ctx, id); inc.AcknowledgedDateTime != nil {
			t.Fatalf("acknowledged before anyone touched it: %v", inc.AcknowledgedDateTime)
		}

		// Automation changes do not acknowledge; a person's first does.
		inc := manage(records.IncidentChange{AddTags: []string{"auto"}}, "system:playbook:triage")
		if inc.AcknowledgedDateTime != nil || inc.LastModifiedBy != "system:playbook:triage" {
			t.Errorf("after automation: acknowledged %v, last modified by %q", inc.AcknowledgedDateTime, inc.LastModifiedBy)
		}
		inc = manage(records.IncidentChange{DisplayName: ptr("  Ransomware on ws-m "), AssignedTo: ptr("ana"),
			Classification: ptr("truePositive"), Determination: ptr("compromisedUser"), Comment: "looking"}, "ana")
		if inc.DisplayName != "Ransomware on ws-m" || inc.AssignedTo != "ana" || inc.Determination != "compromisedAccount" ||
			inc.Classification != "truePositive" || inc.AcknowledgedDateTime == nil || inc.LastModifiedBy != "ana" {
			t.Errorf("after ana's change: %+v", inc)
		}
		ack := *inc.AcknowledgedDateTime
		alerts, err := s.IncidentAlerts(ctx, id)
		if err != nil || len(alerts) != 2 {
			t.Fatalf("alerts: %v %v", alerts, err)
		}
		for _, a := range alerts {
			if a.AssignedTo != "ana" {
				t.Errorf("alert %s assigned to %q, want ana (assignment cascades)", a.ID, a.AssignedTo)
			}
		}
		log := activityVerbs(t, s, id)
		for verb, want := range map[string][2]string{
			"incident.displayName":    {"", "Ransomware on ws-m"},
			"incident.assignedTo":     {"", "ana"},
			"incident.classification": {"unknown", "truePositive"},
			"incident.determination":  {"unknown", "compromisedAccount"},
			"incident.comment":        {"", "looking"},
			"incident.tags":           {"[]", `["auto"]`},
		} {
			e, ok := log[verb]
			if !ok {
				t.Errorf("activity log lacks %s", verb)
				continue
			}
			if (want[0] != "" && e.Before != want[0]) || e.After != want[1] {
				t.Errorf("%s: %q → %q, want %q → %q", verb, e.Before, e.After, want[0], want[1])
			}
		}
		if log["incident.assignedTo"].Actor != "ana" || log["incident.tags"].Actor != "system:playbook:triage" {
			t.Errorf("actors: %q, %q", log["incident.assignedTo"].Actor, log["incident.tags"].Actor)
		}
		if cs, _ := s.IncidentComments(ctx, id); len(cs) != 1 || cs[0].Comment != "looking" || cs[0].CreatedByDisplayName != "ana" {
			t.Errorf("comments: %+v", cs)
		}

		// A tag to remove is trimmed like one to add.
		if inc := manage(records.IncidentChange{AddTags: []string{"spare"}, RemoveTags: []string{" auto "}}, "ana"); !slices.Equal(inc.CustomTags, domain.StringList{"spare"}) {
			t.Errorf("tags after removing \" auto \": %q, want the removal trimmed like the addition", inc.CustomTags)
		}

		// Set by hand, name and severity survive ingest.
		manage(records.IncidentChange{Severity: ptr(domain.SeverityLow)}, "ana")
		mustIngest(t, s, correlate.Rules{}, alertAt("m3", t0.Add(2*time.Minute), domain.SeverityHigh, groupDevice("ws-m", "Workstations")))
		inc, _ = s.GetIncident(ctx, id)
		if inc.DisplayName != "Ransomware on ws-m" || inc.Severity != domain.SeverityLow || inc.AlertCount != 3 {
			t.Errorf("after a high alert joined: name %q, severity %s, %d alerts; want the hand-set name and low",
				inc.DisplayName, inc.Severity, inc.AlertCount)
		}
		if inc.AcknowledgedDateTime == nil || !inc.AcknowledgedDateTime.Equal(ack) {
			t.Errorf("acknowledged moved from %v to %v", ack, inc.AcknowledgedDateTime)
		}

		// Bad pairs and statuses name their field and change nothing.
		for _, bad := range []struct {
			ch    records.IncidentChange
			field string
		}{
			{records.IncidentChange{Determination: ptr("notMalicious")}, "determination"},                                  // a falsePositive one on truePositive
			{records.IncidentChange{Classification: ptr("falsePositive")}, "determination"},                                // a new classification needs its determination
			{records.IncidentChange{Classification: ptr("falsePositive"), Determination: ptr("malware")}, "determination"}, // does not fit
			{records.IncidentChange{Classification: ptr("bogus"), Determination: ptr("other")}, "classification"},
			{records.IncidentChange{Determination: ptr("bogus")}, "determination"},
			{records.IncidentChange{Status: ptr(domain.IncidentStatus("closed"))}, "status"},
			{records.IncidentChange{Status: ptr(domain.IncidentRedirected)}, "status"},
			{records.IncidentChange{Severity: ptr(domain.Severity("severe"))}, "severity"},
			{records.IncidentChange{Status: ptr(domain.IncidentActive), ResolvingComment: "done"}, "resolvingComment"},
			{records.IncidentChange{DisplayName: ptr(" ")}, "displayName"},
			{records.IncidentChange{AddTags: []string{"ok", ""}}, "addTags[1]"},
			{records.IncidentChange{}, ""},
		} {
			_, _, err := s.ManageIncident(ctx, id, bad.ch, "ana")
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Field != bad.field {
				t.Errorf("%+v: %v, want invalid %q", bad.ch, err, bad.field)
			}
		}
		if inc, _ := s.GetIncident(ctx, id); inc.Classification != "truePositive" || inc.Determination != "compromisedAccount" {
			t.Errorf("a refused change changed the classification: %s/%s", inc.Classification, inc.Determination)
		}
		// Aliases, and a fitting pair.
		for alias, canon := range map[string][2]string{"clean": {"falsePositive", "notMalicious"},
			"insufficientData": {"falsePositive", "notEnoughDataToValidate"}, "confirmedUserActivity": {"informationalExpectedActivity", "confirmedActivity"}} {
			inc := manage(records.IncidentChange{Classification: ptr(canon[0]), Determination: ptr(alias)}, "ana")
			if inc.Classification != canon[0] || inc.Determination != canon[1] {
				t.Errorf("alias %s: stored %s/%s, want %s/%s", alias, inc.Classification, inc.Determination, canon[0], canon[1])
			}
		}
		if inc := manage(records.IncidentChange{Classification: ptr("unknown")}, "ana"); inc.Determination != "unknown" {
			t.Errorf("classification unknown: determination %q, want unknown", inc.Determination)
		}

		// Resolve: the active alerts resolve with it; reopen clears the time.
		inc = manage(records.IncidentChange{Status: ptr(domain.IncidentResolved), ResolvingComment: "reimaged"}, "ana")
		if inc.Status != domain.IncidentResolved || inc.ResolvingComment != "reimaged" || inc.ResolvedDateTime == nil {
			t.Errorf("resolved: %+v", inc)
		}
		alerts, _ = s.IncidentAlerts(ctx, id)
		for _, a := range alerts {
			if a.Status != domain.AlertResolved || a.ResolvedDateTime == nil {
				t.Errorf("alert %s after resolve: %s, resolved at %v", a.ID, a.Status, a.ResolvedDateTime)
			}
		}
		if d, _ := s.IncidentDerived(ctx, id); d.ActiveAlerts != 0 {
			t.Errorf("active alerts after resolve: %d", d.ActiveAlerts)
		}
		if e := activityVerbs(t, s, id)["incident.alerts.status"]; !strings.Contains(e.After, "3 active alerts resolved") {
			t.Errorf("alert cascade in the log: %+v", e)
		}
		resolved := records.IncidentQuery{Statuses: []domain.IncidentStatus{domain.IncidentResolved}}
		if p, _ := s.QueryIncidents(ctx, resolved); p.Total != 1 {
			t.Errorf("resolved incidents: %d", p.Total)
		}
		// A resolving comment alone edits a resolved incident's ...
		if inc = manage(records.IncidentChange{ResolvingComment: "reimaged twice"}, "ana"); inc.ResolvingComment != "reimaged twice" ||
			inc.Status != domain.IncidentResolved {
			t.Errorf("resolving comment edited: %+v", inc)
		}
		inc = manage(records.IncidentChange{Status: ptr(domain.IncidentActive)}, "ana")
		if inc.Status != domain.IncidentActive || inc.ResolvedDateTime != nil || inc.ResolvingComment != "reimaged twice" {
			t.Errorf("reopened: status %s, resolved at %v, resolving comment %q", inc.Status, inc.ResolvedDateTime, inc.ResolvingComment)
		}
		// ... and does not resolve one reopened meanwhile.
		if _, _, err := s.ManageIncident(ctx, id, records.IncidentChange{ResolvingComment: "stale form"}, "bob"); domain.KindOf(err) != domain.KindConflict {
			t.Errorf("a resolving comment on a reopened incident: %v, want a conflict", err)
		}
		// A change to the same value is no change.
		before := len(activityVerbs(t, s, id))
		if inc := manage(records.IncidentChange{AssignedTo: ptr("ana")}, "bob"); inc.LastModifiedBy != "ana" {
			t.Errorf("a no-op change recorded bob")
		}
		if after := len(activityVerbs(t, s, id)); after != before {
			t.Errorf("a no-op change logged something")
		}
		if _, _, err := s.ManageIncident(ctx, 999999, records.IncidentChange{Comment: "x"}, "ana"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown incident: %v", err)
		}
	})
}

func TestManageRedirectedIncidentConflicts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		mustIngest(t, s, correlate.Rules{}, alertAt("r1", t0, domain.SeverityLow, host("ws1")), alertAt("r2", t0, domain.SeverityLow, host("ws1")))
		small := mustIngest(t, s, correlate.Rules{}, alertAt("r3", t0, domain.SeverityLow, userEv("bob@corp.example", domain.VerdictUnknown)))[0]
		link := mustIngest(t, s, correlate.Rules{}, alertAt("r4", t0.Add(time.Minute), domain.SeverityLow, host("ws1"), userEv("bob@corp.example", domain.VerdictUnknown)))[0]
		if len(link.Merged) != 1 || link.Merged[0] != small.IncidentID {
			t.Fatalf("no merge: %+v", link)
		}
		_, _, err := s.ManageIncident(context.Background(), small.IncidentID, records.IncidentChange{Comment: "x"}, "ana")
		if domain.KindOf(err) != domain.KindConflict || !strings.Contains(err.Error(), fmt.Sprintf("merged into incident %d", link.IncidentID)) {
			t.Errorf("managing a redirected incident: %v, want a conflict naming %d", err, link.IncidentID)
		}
	})
}

func TestActionsAcknowledgeAndContain(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		id := mustIngest(t, s, correlate.Rules{}, alertAt("x1", t0, domain.SeverityHigh, groupDevice("ws-x", "Workstations")))[0].IncidentID
		rec := func(aid, typ string, st domain.ActionStatus, by string) *domain.Action {
			t.Helper()
			a := &domain.Action{ID: aid, IncidentID: id, Type: typ, TargetKey: "device:ws-x", TargetName: "ws-x", Status: st,
				Playbook: "p", PlaybookVersion: 1, Step: "s", Params: []byte(`{}`), Source: domain.SourceAutomated,
				RequestedBy: "playbook", Reason: "r", IdempotencyKey: aid, CreatedAt: t0, DecidedBy: by}
			if _, err := s.RecordAction(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
			return a
		}
		scan := rec("scan", "device.run_av_scan", domain.ActionApproved, domain.PolicyActor)
		iso := rec("iso", "device.isolate", domain.ActionPending, "")
		update := func(a *domain.Action, st domain.ActionStatus, by string, at time.Time) {
			t.Helper()
			a.Status, a.DecidedBy = st, by
			if st == domain.ActionApproved {
				a.DecidedAt = &at
			} else {
				a.FinishedAt = &at
			}
			if err := s.UpdateAction(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		update(scan, domain.ActionSucceeded, domain.PolicyActor, t0.Add(time.Minute)) // no containment, no person
		if inc, _ := s.GetIncident(ctx, id); inc.AcknowledgedDateTime != nil || inc.ContainedDateTime != nil {
			t.Errorf("after a policy scan: acknowledged %v, contained %v", inc.AcknowledgedDateTime, inc.ContainedDateTime)
		}
		update(iso, domain.ActionApproved, "rita", t0.Add(2*time.Minute))
		update(iso, domain.ActionSucceeded, "rita", t0.Add(3*time.Minute))
		inc, _ := s.GetIncident(ctx, id)
		if inc.AcknowledgedDateTime == nil || !inc.AcknowledgedDateTime.Equal(t0.Add(2*time.Minute)) ||
			inc.ContainedDateTime == nil || !inc.ContainedDateTime.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("after rita approved an isolation that succeeded: acknowledged %v, contained %v; want %v and %v",
				inc.AcknowledgedDateTime, inc.ContainedDateTime, t0.Add(2*time.Minute), t0.Add(3*time.Minute))
		}
	})
}
