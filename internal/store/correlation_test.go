package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func host(name string) domain.Evidence {
	return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictUnknown, Entity: &domain.Entity{
		Key: domain.EntityKey("device:" + name), Kind: domain.KindDevice, Name: name}}
}

func userEv(upn string, v domain.Verdict) domain.Evidence {
	return domain.Evidence{Type: "userEvidence", Verdict: v, Entity: &domain.Entity{
		Key: domain.EntityKey("user:" + upn), Kind: domain.KindUser, Name: upn, Verdict: v}}
}

func det(a *domain.Alert, detector, category string) *domain.Alert {
	a.DetectorID, a.Category = detector, category
	return a
}

func mustIngest(t *testing.T, s *store.Store, rules correlate.Rules, alerts ...*domain.Alert) []records.IngestResult {
	t.Helper()
	res, err := s.IngestAlerts(context.Background(), alerts, rules)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

func TestFloodSignalsOnlyMaterialChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		var alerts []*domain.Alert
		for i := range 3000 {
			alerts = append(alerts, det(alertAt(fmt.Sprintf("scan-%04d", i), t0.Add(time.Duration(i)*100*time.Millisecond),
				domain.SeverityLow, host("web1")), "scanner", "Discovery"))
		}
		// One alert in the flood brings a higher severity, one a new entity, one a new tactic.
		alerts[1000].Severity = domain.SeverityHigh
		alerts[2000].Evidence = append(alerts[2000].Evidence, userEv("eve@corp.example", domain.VerdictSuspicious))
		alerts[2500].Category = "CredentialAccess"
		res := mustIngest(t, s, correlate.Rules{}, alerts...)
		var notify []string
		inc := res[0].IncidentID
		for _, r := range res {
			if r.IncidentID != inc {
				t.Fatalf("alert %s in incident %d, the flood in %d: one scanner is one incident", r.AlertID, r.IncidentID, inc)
			}
			if r.Notify {
				notify = append(notify, r.AlertID)
			}
		}
		if want := []string{"scan-0000", "scan-1000", "scan-2000", "scan-2500"}; !slices.Equal(notify, want) {
			t.Errorf("notified %v, want only the material changes %v", notify, want)
		}
		d, err := s.IncidentDerived(ctx, inc)
		if err != nil {
			t.Fatal(err)
		}
		if d.QuietAlerts != 2996 {
			t.Errorf("quiet alerts = %d, want 2996", d.QuietAlerts)
		}
		log, err := s.IncidentActivity(ctx, inc)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) > 20 {
			t.Errorf("activity log has %d entries for a 3000-alert flood; want it not to grow per alert", len(log))
		}
		// Once the investigation acknowledged, quiet alerts stay quiet.
		if err := s.MarkNotified(ctx, inc, res[len(res)-1].NotifySeq); err != nil {
			t.Fatal(err)
		}
		more := mustIngest(t, s, correlate.Rules{}, det(alertAt("scan-late", t0.Add(5*time.Minute), domain.SeverityLow, host("web1")), "scanner", "Discovery"))
		if more[0].Notify || more[0].IncidentID != inc {
			t.Errorf("quiet alert after acknowledgement: %+v, want joined %d without notify", more[0], inc)
		}
	})
}

func TestUnacknowledgedChangeIsRetried(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		first := mustIngest(t, s, correlate.Rules{}, alertAt("a1", t0, domain.SeverityLow, host("ws1")))
		// The signal failed (no MarkNotified): the next quiet alert retries it.
		again := mustIngest(t, s, correlate.Rules{}, alertAt("a2", t0.Add(time.Minute), domain.SeverityLow, host("ws1")))
		if !again[0].Notify || again[0].IncidentID != first[0].IncidentID {
			t.Errorf("got %+v, want a retried notification for incident %d", again[0], first[0].IncidentID)
		}
	})
}

func TestUpsertUpdatesStatusSeverityEvidence(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r := mustIngest(t, s, correlate.Rules{}, alertAt("x", t0, domain.SeverityLow, host("ws1")))[0]
		upd := alertAt("x", t0, domain.SeverityHigh, host("ws1"), userEv("bob@corp.example", domain.VerdictMalicious))
		upd.Status, upd.LastUpdateDateTime = domain.AlertResolved, t0.Add(time.Hour)
		got := mustIngest(t, s, correlate.Rules{}, upd)[0]
		if got.Outcome != correlate.Updated || !got.Notify {
			t.Fatalf("update: got %+v, want updated and notified (higher severity, new entity)", got)
		}
		old := alertAt("x", t0, domain.SeverityInformational)
		old.LastUpdateDateTime = t0.Add(30 * time.Minute)
		if o := mustIngest(t, s, correlate.Rules{}, old)[0]; o.Outcome != correlate.Unchanged {
			t.Errorf("older update: got %s, want unchanged", o.Outcome)
		}
		alerts, err := s.IncidentAlerts(ctx, r.IncidentID)
		if err != nil || len(alerts) != 1 {
			t.Fatalf("alerts: %v, %v", alerts, err)
		}
		if a := alerts[0]; a.Status != domain.AlertResolved || a.Severity != domain.SeverityHigh || len(a.Evidence) != 2 {
			t.Errorf("stored alert: status %s, severity %s, %d evidence; want resolved, high, 2", a.Status, a.Severity, len(a.Evidence))
		}
		d, err := s.IncidentDerived(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if d.ActiveAlerts != 0 || d.ImpactedAssets.UserCount != 1 {
			t.Errorf("derived after update: active %d, users %d; want 0, 1", d.ActiveAlerts, d.ImpactedAssets.UserCount)
		}
	})
}

func TestRoutineNoiseKeptApart(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		var alerts []*domain.Alert
		// A detector that fires every 40 minutes on mail1 is routine after
		// three buckets; it keeps firing all day.
		for i := range 24 {
			alerts = append(alerts, det(alertAt(fmt.Sprintf("av-%02d", i), t0.Add(time.Duration(i)*40*time.Minute),
				domain.SeverityInformational, host("mail1")), "antivirus-update", ""))
		}
		res := mustIngest(t, s, correlate.Rules{}, alerts...)
		routineInc := res[20].IncidentID
		for i := 5; i < 24; i++ {
			if res[i].IncidentID != routineInc {
				t.Fatalf("routine alert %d in incident %d, want the noise incident %d", i, res[i].IncidentID, routineInc)
			}
		}
		// An attack alert on mail1 in the middle of the noise opens its own incident...
		attack := mustIngest(t, s, correlate.Rules{}, det(alertAt("atk", t0.Add(10*time.Hour+5*time.Minute), domain.SeverityHigh, host("mail1")), "webshell", "Persistence"))[0]
		if attack.IncidentID == routineInc {
			t.Errorf("attack alert joined the routine-noise incident %d", routineInc)
		}
		// ...a routine alert during the attack joins the attack (hot), not the noise...
		during := mustIngest(t, s, correlate.Rules{}, det(alertAt("av-hot", t0.Add(10*time.Hour+7*time.Minute), domain.SeverityInformational, host("mail1")), "antivirus-update", ""))[0]
		if during.IncidentID != attack.IncidentID {
			t.Errorf("routine alert during the attack went to %d, want the attack's incident %d", during.IncidentID, attack.IncidentID)
		}
		// ...and once the attack is cold again, the noise goes back to its incident.
		later := mustIngest(t, s, correlate.Rules{}, det(alertAt("av-later", t0.Add(10*time.Hour+30*time.Minute), domain.SeverityInformational, host("mail1")), "antivirus-update", ""))[0]
		if later.IncidentID != routineInc {
			t.Errorf("routine alert after the attack went to %d, want the routine incident %d", later.IncidentID, routineInc)
		}
		d, err := s.IncidentDerived(context.Background(), routineInc)
		if err != nil || d.Routine != "device:mail1" {
			t.Errorf("routine incident: %+v, %v", d, err)
		}
		inc, err := s.GetIncident(context.Background(), routineInc)
		if err != nil || inc.DisplayName != "Recurring alerts on mail1" {
			t.Errorf("routine incident name: %q, %v", inc.DisplayName, err)
		}
		// After an hour of silence the noise opens a new noise incident.
		quiet := mustIngest(t, s, correlate.Rules{}, det(alertAt("av-next-day", t0.Add(20*time.Hour), domain.SeverityInformational, host("mail1")), "antivirus-update", ""))[0]
		if quiet.IncidentID == routineInc {
			t.Errorf("noise after hours of silence joined the old noise incident %d", routineInc)
		}
	})
}

// TestNoiseKeptApartPerProduct: two sensors' routine noise on one host —
// an IDS flooding DNS alerts and the host agent relaying them — fills two
// recurring-noise incidents, one per product, each named after its
// product; alerts that name no product keep the host's shared one.
func TestNoiseKeptApartPerProduct(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		from := func(a *domain.Alert, product string) *domain.Alert { a.ProductName = product; return a }
		var alerts []*domain.Alert
		for i := range 12 {
			at := t0.Add(time.Duration(i) * 25 * time.Minute)
			alerts = append(alerts,
				from(det(alertAt(fmt.Sprintf("ids-%02d", i), at, domain.SeverityInformational, host("share1")), "dns-biz-query", ""), "Suricata"),
				from(det(alertAt(fmt.Sprintf("hids-%02d", i), at.Add(time.Second), domain.SeverityInformational, host("share1")), "ids-event", ""), "Wazuh"),
				det(alertAt(fmt.Sprintf("plain-%02d", i), at.Add(2*time.Second), domain.SeverityInformational, host("share1")), "cron-noise", ""))
		}
		res := mustIngest(t, s, correlate.Rules{}, alerts...)
		last := len(res) - 3
		ids, hids, plain := res[last].IncidentID, res[last+1].IncidentID, res[last+2].IncidentID
		if ids == hids || ids == plain || hids == plain {
			t.Fatalf("noise incidents: Suricata %d, Wazuh %d, no product %d: want three", ids, hids, plain)
		}
		for id, want := range map[int64]string{ids: "device:share1 from Suricata", hids: "device:share1 from Wazuh", plain: "device:share1"} {
			d, err := s.IncidentDerived(context.Background(), id)
			if err != nil || d.Routine != want {
				t.Errorf("incident %d: routine %q (%v), want %q", id, d.Routine, err, want)
			}
		}
		if inc, err := s.GetIncident(context.Background(), ids); err != nil || inc.DisplayName != "Recurring Suricata alerts on share1" {
			t.Errorf("Suricata noise incident name: %q, %v", inc.DisplayName, err)
		}
	})
}

// TestNoiseCampaignJoinsSensors: two network sensors see the same DNS
// flood, each firing the same rule within the same seconds: their noise is
// one recurring-noise incident (the first sensor's), whether the second
// sensor's noise starts after the first's or both had their own incident
// before the rule fired on both within the burst. Another rule's noise on
// the second sensor stays apart.
func TestNoiseCampaignJoinsSensors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ids := func(id, sensor string, at time.Time, rule string) *domain.Alert {
			a := det(alertAt(id, at, domain.SeverityInformational, host(sensor)), rule, "")
			a.ProductName = "Suricata"
			return a
		}
		var alerts []*domain.Alert
		for i := range 8 { // sensor-a alone: routine after three buckets
			alerts = append(alerts, ids(fmt.Sprintf("a-%02d", i), "sensor-a", t0.Add(time.Duration(i)*25*time.Minute), "dns-biz-query"))
		}
		for i := range 8 { // sensor-b's own routine rule, hours before the flood reaches it
			alerts = append(alerts, ids(fmt.Sprintf("b-own-%02d", i), "sensor-b", t0.Add(time.Duration(i)*25*time.Minute), "tls-chatter"))
		}
		for i := range 8 { // then the flood on both, seconds apart
			at := t0.Add(4*time.Hour + time.Duration(i)*25*time.Minute)
			alerts = append(alerts, ids(fmt.Sprintf("a-flood-%02d", i), "sensor-a", at, "dns-biz-query"),
				ids(fmt.Sprintf("b-flood-%02d", i), "sensor-b", at.Add(2*time.Second), "dns-biz-query"))
		}
		res := mustIngest(t, s, correlate.Rules{}, alerts...)
		final := func(i int) int64 {
			id, err := s.AlertIncident(context.Background(), res[i].AlertID)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		last := len(res) - 1
		if a, b := final(last-1), final(last); a != b {
			t.Errorf("the flood on sensor-a is in %d, on sensor-b in %d: want one noise incident", a, b)
		}
		if a, own := final(7), final(15); a == own {
			t.Errorf("sensor-b's other rule joined the flood's noise incident %d", a)
		}
	})
}

// TestFloodGetsItsOwnNoiseIncident: a detector that fires in every
// 10-minute bucket for more than six hours floods its host; from then on
// its alerts fill a recurring-noise incident of their own, named after it,
// apart from the same product's other noise on that host.
func TestFloodGetsItsOwnNoiseIncident(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ids := func(id string, at time.Time, rule string) *domain.Alert {
			a := det(alertAt(id, at, domain.SeverityInformational, host("share1")), rule, "")
			a.ProductName, a.Title = "Suricata", "ET INFO Observed DNS Query to .biz TLD"
			if rule != "dns-biz-query" {
				a.Title = "ET POLICY APT User-Agent"
			}
			return a
		}
		var alerts []*domain.Alert
		for i := range 48 { // eight hours, every ten minutes
			at := t0.Add(time.Duration(i) * 10 * time.Minute)
			alerts = append(alerts, ids(fmt.Sprintf("flood-%02d", i), at, "dns-biz-query"))
			if i%4 == 0 {
				alerts = append(alerts, ids(fmt.Sprintf("apt-%02d", i), at.Add(time.Second), "apt-user-agent"))
			}
		}
		res := mustIngest(t, s, correlate.Rules{}, alerts...)
		flood, other := res[len(res)-1].IncidentID, int64(0) // the last flood alert's, the last APT alert's
		for _, r := range res {
			if strings.HasPrefix(r.AlertID, "apt-") {
				other = r.IncidentID
			}
		}
		if flood == other {
			t.Fatalf("the flood and the host's other Suricata noise share incident %d", flood)
		}
		inc, err := s.GetIncident(context.Background(), flood)
		if err != nil || inc.DisplayName != `Recurring "ET INFO Observed DNS Query to .biz TLD" on share1` {
			t.Errorf("flood incident name: %q, %v", inc.DisplayName, err)
		}
		d, err := s.IncidentDerived(context.Background(), flood)
		if err != nil || d.Routine != "device:share1 from Suricata: dns-biz-query" {
			t.Errorf("flood incident: routine %q, %v", d.Routine, err)
		}
	})
}

func TestCorrelationRules(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		rules  correlate.Rules
		alerts []*domain.Alert
		same   [][2]int // pairs of alert indexes that must share an incident
		apart  [][2]int // pairs that must not
	}{
		{"shared entity within the gap links", correlate.Rules{},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0.Add(50*time.Minute), domain.SeverityLow, host("ws1"))},
			[][2]int{{0, 1}}, nil},
		{"beyond the gap does not", correlate.Rules{},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0.Add(3*time.Hour), domain.SeverityLow, host("ws1"))},
			nil, [][2]int{{0, 1}}},
		{"a later tactic links within the window", correlate.Rules{},
			[]*domain.Alert{det(alertAt("a", t0, domain.SeverityLow, host("ws1")), "d1", "InitialAccess"),
				det(alertAt("b", t0.Add(5*time.Hour), domain.SeverityLow, host("ws1")), "d2", "LateralMovement")},
			[][2]int{{0, 1}}, nil},
		{"link gap set to the window", correlate.Rules{LinkGap: 24 * time.Hour},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0.Add(20*time.Hour), domain.SeverityLow, host("ws1"))},
			[][2]int{{0, 1}}, nil},
		{"window bounds everything", correlate.Rules{Window: time.Hour, LinkGap: 24 * time.Hour},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0.Add(2*time.Hour), domain.SeverityLow, host("ws1"))},
			nil, [][2]int{{0, 1}}},
		{"stop-listed key does not link", correlate.Rules{StopList: []string{"device:dc1"}},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("dc1")), alertAt("b", t0.Add(time.Minute), domain.SeverityLow, host("dc1"))},
			nil, [][2]int{{0, 1}}},
		{"kinds: only users link", correlate.Rules{Kinds: []domain.EntityKind{domain.KindUser}},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0.Add(time.Minute), domain.SeverityLow, host("ws1"))},
			nil, [][2]int{{0, 1}}},
		{"cap opens a new incident", correlate.Rules{MaxAlerts: 2},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1")), alertAt("b", t0, domain.SeverityLow, host("ws1")),
				alertAt("c", t0, domain.SeverityLow, host("ws1"))},
			[][2]int{{0, 1}}, [][2]int{{0, 2}}},
		{"a key in too many incidents stops linking", correlate.Rules{CommonAfter: 2, MaxAlerts: 1},
			[]*domain.Alert{alertAt("a", t0, domain.SeverityLow, host("ws1"), host("gw")), alertAt("b", t0, domain.SeverityLow, host("ws2"), host("gw")),
				alertAt("c", t0, domain.SeverityLow, host("ws3"), host("gw")), alertAt("d", t0, domain.SeverityLow, host("ws4"), host("gw"))},
			nil, [][2]int{{0, 3}, {1, 3}, {2, 3}}},
		{"one detector on two hosts at once is a campaign", correlate.Rules{},
			[]*domain.Alert{det(alertAt("a", t0, domain.SeverityLow, host("ws1")), "nmap", "Discovery"),
				det(alertAt("b", t0.Add(20*time.Second), domain.SeverityLow, host("ws2")), "nmap", "Discovery")},
			[][2]int{{0, 1}}, nil},
		{"an attack under way takes a first-time detection next door", correlate.Rules{StormAlerts: 5},
			append(storm(t0, "web1", 6), det(alertAt("cpu", t0.Add(10*time.Minute), domain.SeverityLow, host("monitor")), "cpu-anomaly", "")),
			[][2]int{{0, 6}}, nil},
		{"storms can be turned off", correlate.Rules{StormAlerts: 5, StormGap: -1},
			append(storm(t0, "web1", 6), det(alertAt("cpu", t0.Add(10*time.Minute), domain.SeverityLow, host("monitor")), "cpu-anomaly", "")),
			nil, [][2]int{{0, 6}}},
		{"no storm, no time-only link", correlate.Rules{StormAlerts: 50},
			append(storm(t0, "web1", 6), det(alertAt("cpu", t0.Add(10*time.Minute), domain.SeverityLow, host("monitor")), "cpu-anomaly", "")),
			nil, [][2]int{{0, 6}}},
		{"campaigns can be turned off", correlate.Rules{Burst: -1},
			[]*domain.Alert{det(alertAt("a", t0, domain.SeverityLow, host("ws1")), "nmap", "Discovery"),
				det(alertAt("b", t0.Add(20*time.Second), domain.SeverityLow, host("ws2")), "nmap", "Discovery")},
			nil, [][2]int{{0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s *store.Store) {
				res := mustIngest(t, s, tt.rules, tt.alerts...)
				for _, p := range tt.same {
					if res[p[0]].IncidentID != res[p[1]].IncidentID {
						t.Errorf("alerts %d and %d in incidents %d and %d, want one", p[0], p[1], res[p[0]].IncidentID, res[p[1]].IncidentID)
					}
				}
				for _, p := range tt.apart {
					if res[p[0]].IncidentID == res[p[1]].IncidentID {
						t.Errorf("alerts %d and %d both in incident %d, want apart", p[0], p[1], res[p[0]].IncidentID)
					}
				}
			})
		})
	}
}

// storm returns n notable alerts of different detectors on one host, a
// second apart.
func storm(t0 time.Time, h string, n int) []*domain.Alert {
	var out []*domain.Alert
	for i := range n {
		out = append(out, det(alertAt(fmt.Sprintf("%s-%d", h, i), t0.Add(time.Duration(i)*time.Second), domain.SeverityMedium, host(h)),
			fmt.Sprintf("d%d", i), "Execution"))
	}
	return out
}

func TestMergeRedirectsTheSmaller(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		big := mustIngest(t, s, correlate.Rules{}, alertAt("a1", t0, domain.SeverityLow, host("ws1")), alertAt("a2", t0, domain.SeverityLow, host("ws1")))
		small := mustIngest(t, s, correlate.Rules{}, alertAt("b1", t0, domain.SeverityLow, userEv("bob@corp.example", domain.VerdictUnknown)))
		if err := s.AddIncidentTags(ctx, small[0].IncidentID, []string{"vip"}, "ana"); err != nil {
			t.Fatal(err)
		}
		link := mustIngest(t, s, correlate.Rules{}, alertAt("c1", t0.Add(time.Minute), domain.SeverityMedium, host("ws1"), userEv("bob@corp.example", domain.VerdictUnknown)))[0]
		target, source := big[0].IncidentID, small[0].IncidentID
		if link.IncidentID != target || !slices.Equal(link.Merged, []int64{source}) {
			t.Fatalf("linking alert: %+v; want incident %d with %d merged into it", link, target, source)
		}
		src, err := s.GetIncident(ctx, source)
		if err != nil {
			t.Fatal(err)
		}
		if src.Status != domain.IncidentRedirected || src.RedirectIncidentID == nil || *src.RedirectIncidentID != target {
			t.Errorf("source: status %s, redirect %v; want redirected to %d", src.Status, src.RedirectIncidentID, target)
		}
		d, err := s.IncidentDerived(ctx, source)
		if err != nil || !slices.Contains(d.SystemTags, "Redirected") {
			t.Errorf("source system tags: %+v, %v; want Redirected", d, err)
		}
		dst, err := s.GetIncident(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if dst.AlertCount != 4 || !slices.Contains(dst.CustomTags, "vip") {
			t.Errorf("target: %d alerts, tags %v; want 4 alerts and the source's tag", dst.AlertCount, dst.CustomTags)
		}
		for _, id := range []int64{source, target} {
			log, err := s.IncidentActivity(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(log, func(e records.AuditEntry) bool { return strings.HasPrefix(e.Verb, "incident.merged") }) {
				t.Errorf("incident %d's activity log lacks the merge", id)
			}
		}
		// Later alerts of the source's entities go to the target.
		late := mustIngest(t, s, correlate.Rules{}, alertAt("d1", t0.Add(2*time.Minute), domain.SeverityLow, userEv("bob@corp.example", domain.VerdictUnknown)))[0]
		if late.IncidentID != target {
			t.Errorf("alert on the merged entity went to %d, want %d", late.IncidentID, target)
		}
	})
}

func TestMoveAlert(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r := mustIngest(t, s, correlate.Rules{}, alertAt("a1", t0, domain.SeverityHigh, host("ws1")),
			alertAt("a2", t0, domain.SeverityLow, host("ws1"), userEv("eve@corp.example", domain.VerdictUnknown)))
		other := mustIngest(t, s, correlate.Rules{}, alertAt("z", t0, domain.SeverityLow, host("ws9")))[0]
		to, created, err := s.MoveAlert(ctx, "a1", 0, "ana")
		if err != nil || !created || to == r[0].IncidentID {
			t.Fatalf("move to new: %d, %v, %v", to, created, err)
		}
		src, _ := s.GetIncident(ctx, r[0].IncidentID)
		if src.AlertCount != 1 || src.Severity != domain.SeverityLow {
			t.Errorf("source after move: %d alerts, %s; want 1, low (derived again)", src.AlertCount, src.Severity)
		}
		if _, _, err := s.MoveAlert(ctx, "a2", other.IncidentID, "ana"); err != nil {
			t.Fatal(err)
		}
		emptied, _ := s.GetIncident(ctx, r[0].IncidentID)
		if emptied.Status != domain.IncidentResolved {
			t.Errorf("emptied incident is %s, want resolved", emptied.Status)
		}
		ents, _ := s.IncidentEntities(ctx, other.IncidentID)
		if len(ents) != 3 {
			t.Errorf("destination entities: %+v, want ws9, ws1, eve", ents)
		}
		log, _ := s.IncidentActivity(ctx, other.IncidentID)
		if !slices.ContainsFunc(log, func(e records.AuditEntry) bool { return e.Verb == "alert.moved_in" && e.Actor == "ana" }) {
			t.Errorf("destination log lacks the move: %+v", log)
		}
		if _, _, err := s.MoveAlert(ctx, "nope", 0, "ana"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown alert: %v, want not found", err)
		}
		if _, _, err := s.MoveAlert(ctx, "a2", r[0].IncidentID, "ana"); domain.KindOf(err) != domain.KindConflict {
			t.Errorf("move to a resolved incident: %v, want conflict", err)
		}
	})
}

func TestDerivedFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		a := det(alertAt("a", t0, domain.SeverityMedium, host("ws1"), userEv("eve@corp.example", domain.VerdictMalicious)), "d1", "InitialAccess")
		a.MitreTechniques = []string{"T1566"}
		b := det(alertAt("b", t0.Add(time.Hour+30*time.Minute), domain.SeverityHigh, host("ws1")), "d2", "LateralMovement")
		b.ServiceSource, b.MitreTechniques = "microsoftDefenderForIdentity", []string{"T1021"}
		r := mustIngest(t, s, correlate.Rules{}, a, b)
		if r[0].IncidentID != r[1].IncidentID {
			t.Fatalf("kill-chain progression split: %d, %d", r[0].IncidentID, r[1].IncidentID)
		}
		inc, _ := s.GetIncident(ctx, r[0].IncidentID)
		// Named from what happened: the most severe alert's title (b is
		// high, a medium) and the main asset (a device before a user).
		if want := "alert b — ws1"; inc.DisplayName != want {
			t.Errorf("name = %q, want %q", inc.DisplayName, want)
		}
		if !inc.FirstActivity.Equal(t0) || !inc.LastActivity.Equal(t0.Add(90*time.Minute)) || inc.Severity != domain.SeverityHigh {
			t.Errorf("span %v–%v, severity %s", inc.FirstActivity, inc.LastActivity, inc.Severity)
		}
		d, err := s.IncidentDerived(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Categories, []string{"InitialAccess", "LateralMovement"}) || !slices.Equal(d.MitreTechniques, []string{"T1021", "T1566"}) {
			t.Errorf("categories %v, techniques %v", d.Categories, d.MitreTechniques)
		}
		if len(d.ServiceSources) != 2 || d.ImpactedAssets.DeviceCount != 1 || d.ImpactedAssets.Users[0] != "eve@corp.example" {
			t.Errorf("sources %v, assets %+v", d.ServiceSources, d.ImpactedAssets)
		}
		if d.PriorityScore < 60 || d.PriorityScore > 100 || len(d.PriorityFactors) < 4 || d.PriorityFactors[0].Name != "severity" {
			t.Errorf("priority %d with %+v; want a high score explained, severity first", d.PriorityScore, d.PriorityFactors)
		}
	})
}

// TestConcurrentIngestersOnPostgres runs two ingesters, each with its own
// connection pool (as two worker processes would), sending batches of
// related alerts at the same moment: linked alerts must never land in two
// incidents, and neither ingester may fail or hang.
func TestConcurrentIngestersOnPostgres(t *testing.T) {
	first, second := openPostgresPair(t)
	if first == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set under CI")
		}
		t.Skip("TEST_DATABASE_URL not set: the concurrency test needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const rounds = 20
	for round := range rounds {
		var wg sync.WaitGroup
		res := make([][]records.IngestResult, 2)
		errs := make([]error, 2)
		for w, st := range []*store.Store{first, second} {
			wg.Go(func() {
				var batch []*domain.Alert
				for i := range 50 {
					// Both ingesters name hosts h<round>-<i%5> and, crosswise, users: every alert of a
					// round links to the others of its group through one of them.
					g := i % 5
					a := alertAt(fmt.Sprintf("r%d-w%d-%d", round, w, i), t0.Add(time.Duration(round)*48*time.Hour), domain.SeverityLow,
						host(fmt.Sprintf("h%d-%d", round, g)))
					if i%2 == w {
						a.Evidence = append(a.Evidence, userEv(fmt.Sprintf("u%d-%d@corp.example", round, g), domain.VerdictUnknown))
					}
					batch = append(batch, a)
				}
				res[w], errs[w] = st.IngestAlerts(ctx, batch, correlate.Rules{})
			})
		}
		wg.Wait()
		for w := range 2 {
			if errs[w] != nil {
				t.Fatalf("round %d ingester %d: %v", round, w, errs[w])
			}
		}
		groups := map[int]map[int64]bool{}
		for w := range 2 {
			for i, r := range res[w] {
				g := i % 5
				if groups[g] == nil {
					groups[g] = map[int64]bool{}
				}
				groups[g][r.IncidentID] = true
			}
		}
		for g, incs := range groups {
			// A merge may redirect one incident into another; follow it.
			final := map[int64]bool{}
			for id := range incs {
				inc, err := first.GetIncident(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if inc.RedirectIncidentID != nil {
					id = *inc.RedirectIncidentID
				}
				final[id] = true
			}
			if len(final) != 1 {
				t.Errorf("round %d group %d: linked alerts in incidents %v", round, g, final)
			}
		}
	}
}

// openPostgresPair opens two stores, each with its own connection pool, on
// one fresh schema; nil when TEST_DATABASE_URL is unset.
func openPostgresPair(t *testing.T) (*store.Store, *store.Store) {
	t.Helper()
	dsn := postgresSchemaURL(t)
	if dsn == "" {
		return nil, nil
	}
	var out [2]*store.Store
	for i := range out {
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out[0], out[1]
}

func TestShortHostNamesJoinTheirFQDN(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		short := mustIngest(t, s, correlate.Rules{}, alertAt("s1", t0, domain.SeverityLow, host("ws-042")))[0]
		fqdn := mustIngest(t, s, correlate.Rules{}, alertAt("f1", t0.Add(time.Minute), domain.SeverityLow, host("ws-042.corp.example")))[0]
		if fqdn.IncidentID != short.IncidentID {
			t.Errorf("FQDN alert in incident %d, short-name alert in %d: one device", fqdn.IncidentID, short.IncidentID)
		}
		again := mustIngest(t, s, correlate.Rules{}, alertAt("s2", t0.Add(2*time.Minute), domain.SeverityLow, host("ws-042")))[0]
		if again.IncidentID != short.IncidentID {
			t.Errorf("short-name alert after the FQDN is known went to %d, want %d", again.IncidentID, short.IncidentID)
		}
		ents, err := s.IncidentEntities(ctx, short.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range ents {
			keys = append(keys, string(e.Key))
		}
		if !slices.Contains(keys, "device:ws-042.corp.example") {
			t.Errorf("entities %v lack the FQDN", keys)
		}
		// A second domain makes the short name ambiguous: it links to neither.
		mustIngest(t, s, correlate.Rules{}, alertAt("l1", t0.Add(3*time.Hour), domain.SeverityLow, host("ws-042.lab.example")))
		amb := mustIngest(t, s, correlate.Rules{}, alertAt("s3", t0.Add(3*time.Hour+time.Minute), domain.SeverityLow, host("ws-042")))[0]
		alerts, err := s.IncidentAlerts(ctx, amb.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			if a.ID == "l1" {
				t.Errorf("ambiguous short name joined ws-042.lab.example's incident")
			}
		}
	})
}

// TestBatchOfManyHostNames ingests one batch naming 600 hosts by short
// name, one of which is known by its FQDN: looking their names up once
// failed on SQLite ("Expression tree is too large") from 500 on.
func TestBatchOfManyHostNames(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		known := mustIngest(t, s, correlate.Rules{}, alertAt("fqdn", t0, domain.SeverityLow, host("ws-0599.corp.example")))[0]
		var batch []*domain.Alert
		for i := range 600 {
			batch = append(batch, alertAt(fmt.Sprintf("m%04d", i), t0.Add(time.Minute), domain.SeverityLow, host(fmt.Sprintf("ws-%04d", i))))
		}
		got := mustIngest(t, s, correlate.Rules{}, batch...)
		if got[599].IncidentID != known.IncidentID {
			t.Errorf("ws-0599 by short name went to incident %d, want its FQDN's %d", got[599].IncidentID, known.IncidentID)
		}
	})
}

func TestLongIncidentCountsAnEntityOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		var last records.IngestResult
		// Recurring noise on one host for 40 hours, one batch per alert: the
		// noise incident outlives the 24-hour window.
		for i := range 60 {
			last = mustIngest(t, s, correlate.Rules{}, det(alertAt(fmt.Sprintf("n%02d", i), t0.Add(time.Duration(i)*40*time.Minute),
				domain.SeverityLow, host("mail1")), "dovecot", ""))[0]
			if i < 59 && last.Notify { // the pipeline acknowledges what it signalled
				if err := s.MarkNotified(context.Background(), last.IncidentID, last.NotifySeq); err != nil {
					t.Fatal(err)
				}
			}
		}
		d, err := s.IncidentDerived(context.Background(), last.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if d.ImpactedAssets.DeviceCount != 1 {
			t.Errorf("device count = %d, want 1", d.ImpactedAssets.DeviceCount)
		}
		if last.Notify {
			t.Errorf("the 60th alert of the same noise was signalled: %+v", last)
		}
	})
}

func TestNoMergeAcrossAssignees(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "air.db")
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a := mustIngest(t, s, correlate.Rules{}, alertAt("a1", t0, domain.SeverityLow, host("ws1")))[0]
	b := mustIngest(t, s, correlate.Rules{}, alertAt("b1", t0, domain.SeverityLow, userEv("bob@corp.example", domain.VerdictUnknown)))[0]
	// Someone assigns one of them (the management API is not this test's).
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE incidents SET assigned_to = 'ana' WHERE id = ?`, b.IncidentID); err != nil {
		t.Fatal(err)
	}
	link := mustIngest(t, s, correlate.Rules{}, alertAt("c1", t0.Add(time.Minute), domain.SeverityLow, host("ws1"), userEv("bob@corp.example", domain.VerdictUnknown)))[0]
	if len(link.Merged) != 0 {
		t.Fatalf("merged %v across different assignees", link.Merged)
	}
	inc, err := s.GetIncident(context.Background(), b.IncidentID)
	if err != nil || inc.Status == domain.IncidentRedirected {
		t.Errorf("assigned incident: %+v, %v; want it left alone", inc, err)
	}
	log, err := s.IncidentActivity(context.Background(), link.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(log, func(e records.AuditEntry) bool {
		return e.Verb == "incident.merge_refused" && strings.Contains(e.After, "assignees")
	}) {
		t.Errorf("refusal not in the activity log of %d (a: %d): %+v", link.IncidentID, a.IncidentID, log)
	}
}
