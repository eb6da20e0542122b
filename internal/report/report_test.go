package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/store"
)

func TestParsePeriods(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	d := func(m time.Month, day int) time.Time { return time.Date(2026, m, day, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		what         string
		parse        func(string, time.Time) (Period, error)
		in, name     string
		since, until time.Time
		toDate       bool
	}{
		{"date", ParseDate, "2026-11-20", "2026-11-20", d(11, 20), d(11, 21), false},
		{"today", ParseDate, "", "2026-12-05", d(12, 5), now, true},
		{"month", ParseMonth, "2026-11", "2026-11", d(11, 1), d(12, 1), false},
		{"this month", ParseMonth, "", "2026-12", d(12, 1), now, true},
		{"quarter", ParseQuarter, "2026-q3", "2026-Q3", d(7, 1), d(10, 1), false},
		{"this quarter", ParseQuarter, "", "2026-Q4", d(10, 1), now, true},
	} {
		p, err := c.parse(c.in, now)
		if err != nil || p.Name != c.name || !p.Since.Equal(c.since) || !p.Until.Equal(c.until) || p.ToDate != c.toDate {
			t.Errorf("%s %q: %+v, %v; want %s [%s, %s) toDate %v", c.what, c.in, p, err, c.name, c.since, c.until, c.toDate)
		}
	}
	for _, c := range []struct {
		parse func(string, time.Time) (Period, error)
		in    string
		field string
	}{
		{ParseDate, "2026-12-06", "date"}, {ParseDate, "20261205", "date"}, {ParseMonth, "2027-01", "month"},
		{ParseMonth, "2026-1", "month"}, {ParseQuarter, "2026-Q0", "quarter"}, {ParseQuarter, "26-Q1", "quarter"},
		{ParseQuarter, "2027-Q1", "quarter"},
	} {
		_, err := c.parse(c.in, now)
		var de *domain.Error
		if !domainErr(err, &de) || de.Field != c.field || de.Kind != domain.KindInvalid {
			t.Errorf("%q: %v, want invalid %s", c.in, err, c.field)
		}
	}
}

func domainErr(err error, out **domain.Error) bool {
	de, ok := err.(*domain.Error)
	*out = de
	return ok
}

func TestSLAJSON(t *testing.T) {
	t.Parallel()
	var s SLA
	if err := json.Unmarshal([]byte(`{"acknowledge":{"high":"30m","medium":"2d","low":"1h30m"}}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Acknowledge["high"] != Duration(30*time.Minute) || s.Acknowledge["medium"] != Duration(48*time.Hour) ||
		s.Acknowledge["low"] != Duration(90*time.Minute) || s.Validate() != nil {
		t.Errorf("decoded %+v", s)
	}
	b, _ := json.Marshal(DefaultSLA())
	if string(b) != `{"acknowledge":{"high":"1h","low":"24h","medium":"4h"}}` {
		t.Errorf("default SLA as JSON: %s", b)
	}
	for _, bad := range []string{`{"acknowledge":{"high":"soon"}}`, `{"acknowledge":{"high":3600}}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	if err := (SLA{Acknowledge: map[domain.Severity]Duration{"urgent": Duration(time.Hour)}}).Validate(); err == nil {
		t.Error("an unknown severity passed")
	}
	if err := (SLA{Acknowledge: map[domain.Severity]Duration{"high": 0}}).Validate(); err == nil {
		t.Error("a zero time passed")
	}
}

// TestSuggestions checks each suggestion at and below its threshold.
func TestSuggestions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	decided := func(typ, group string, approved, rejected int) []store.DecidedAction {
		var out []store.DecidedAction
		for i := range approved + rejected {
			st := domain.ActionApproved
			if i >= approved {
				st = domain.ActionRejected
			}
			a := store.DecidedAction{DeviceGroup: group}
			a.Type, a.Status, a.DecidedBy, a.DecidedAt = typ, st, "ana", &at
			out = append(out, a)
		}
		return out
	}
	var f MonthlyFacts
	// 19 of 20 = 95%: suggested. 18 of 19 = 94.7%, and only 19: not.
	f.Decided = append(f.Decided, decided("device.isolate", "Servers", 19, 1)...)
	f.Decided = append(f.Decided, decided("device.isolate", "Kiosks", 18, 1)...)
	// Without a device group: an approval rule.
	f.Decided = append(f.Decided, decided("user.revoke_sessions", "", 20, 0)...)
	// det-noisy: 8 of 10 false positives, suggested; det-ok: 7 of 10, not.
	for i := range 10 {
		class := "truePositive"
		if i < 8 {
			class = "falsePositive"
		}
		f.Detectors = append(f.Detectors, store.DetectorIncident{IncidentID: int64(i), Classification: class, Detector: "det-noisy"})
		if i >= 7 {
			class = "truePositive"
		}
		f.Detectors = append(f.Detectors, store.DetectorIncident{IncidentID: int64(100 + i), Classification: class, Detector: "det-ok"})
	}
	// file.stop_and_quarantine ran 10 times, 3 undone: 30% ≥ 20%.
	f.Executed = []store.ExecutedCount{{Type: "file.stop_and_quarantine", ActionRun: store.ActionRun{Executed: 10}}}
	for range 3 {
		u := store.UndoneAction{}
		u.Type = "file.stop_and_quarantine"
		f.Undone = append(f.Undone, u)
	}
	m := BuildMonthly(Period{Name: "2026-11"}, f, at)
	var got []string
	for _, s := range m.Suggestions {
		got = append(got, s.Kind+" "+s.Subject)
	}
	want := "approval-rule user.revoke_sessions|automate device.isolate in Servers|review-step file.stop_and_quarantine|tune-detector det-noisy"
	if strings.Join(got, "|") != want {
		t.Errorf("suggestions\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	for _, s := range m.Suggestions {
		if s.Subject == "device.isolate in Servers" && (s.Count != 19 || s.Of != 20 || !strings.Contains(s.Text, "19 of 20 times (95%)")) {
			t.Errorf("automate suggestion %+v", s)
		}
	}
}

func TestCountKindsAndNames(t *testing.T) {
	t.Parallel()
	ta, tq := countKinds([]store.AlertKinds{
		{Category: "CredentialAccess", Techniques: `["T1003.001","T1003.001"]`, Alerts: 4},
		{Category: "Malware", Techniques: `not json`, Alerts: 2},
		{Category: "", Techniques: `["T1566.002"]`, Alerts: 1},
	})
	Name(ta, tq, &store.Attack{Tactics: map[string]intel.Tactic{"TA0006": {Name: "Credential Access"}},
		Techniques: map[string]intel.Technique{"T1003.001": {Name: "LSASS Memory"}, "T1566": {Name: "Phishing"}}})
	if len(ta) != 2 || ta[0].Category != "CredentialAccess" || ta[0].ID != "TA0006" || ta[0].Name != "Credential Access" ||
		ta[0].Alerts != 4 || ta[1].Category != "Malware" || ta[1].ID != "" {
		t.Errorf("tactics %+v", ta)
	}
	if len(tq) != 2 || tq[0].ID != "T1003.001" || tq[0].Alerts != 4 || tq[0].Name != "LSASS Memory" ||
		tq[1].Name != "Phishing (parent technique)" {
		t.Errorf("techniques %+v", tq)
	}
}

func TestAgeBuckets(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 0, time.Hour - 1: 0, time.Hour: 1, 4 * time.Hour: 2, 24 * time.Hour: 3,
		7*24*time.Hour - 1: 3, 7 * 24 * time.Hour: 4} {
		if got := ageBucket(d); got != want {
			t.Errorf("age %s: bucket %d, want %d", d, got, want)
		}
	}
}
