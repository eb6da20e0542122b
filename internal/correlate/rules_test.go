package correlate

import (
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func ev(kind domain.EntityKind, key string) domain.Evidence {
	return domain.Evidence{Entity: &domain.Entity{Kind: kind, Key: domain.EntityKey(key)}}
}

func TestLinkKeys(t *testing.T) {
	t.Parallel()
	a := &domain.Alert{Evidence: []domain.Evidence{ev(domain.KindUser, "user:bob@x"), ev(domain.KindDevice, "device:ws1"),
		ev("registryKey", "registryKey:hklm\\run"), ev(domain.KindIP, "ip:10.0.0.53"), ev(domain.KindDevice, "device:ws1"), {Type: "mailClusterEvidence"}}}
	tests := []struct {
		name  string
		rules Rules
		open  map[domain.EntityKey]int
		want  []domain.EntityKey
	}{
		{"defaults: no registry keys, sorted, distinct", Rules{}, nil, []domain.EntityKey{"device:ws1", "ip:10.0.0.53", "user:bob@x"}},
		{"stop-list by key", Rules{StopList: []string{"ip:10.0.0.53"}}, nil, []domain.EntityKey{"device:ws1", "user:bob@x"}},
		{"stop-list by kind", Rules{StopList: []string{"user:*"}}, nil, []domain.EntityKey{"device:ws1", "ip:10.0.0.53"}},
		{"kinds", Rules{Kinds: []domain.EntityKind{domain.KindUser}}, nil, []domain.EntityKey{"user:bob@x"}},
		{"too common", Rules{CommonAfter: 3}, map[domain.EntityKey]int{"ip:10.0.0.53": 4, "device:ws1": 3}, []domain.EntityKey{"device:ws1", "user:bob@x"}},
		{"default common threshold", Rules{}, map[domain.EntityKey]int{"ip:10.0.0.53": 26}, []domain.EntityKey{"device:ws1", "user:bob@x"}},
		{"common detection off", Rules{CommonAfter: -1}, map[domain.EntityKey]int{"ip:10.0.0.53": 1000}, []domain.EntityKey{"device:ws1", "ip:10.0.0.53", "user:bob@x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rules.LinkKeys(a, func(k domain.EntityKey) int { return tt.open[k] })
			if !slices.Equal(got, tt.want) {
				t.Errorf("LinkKeys = %v, want %v", got, tt.want)
			}
		})
	}
	if got := Anchor(a, []domain.EntityKey{"device:ws1", "user:bob@x"}); got != "device:ws1" {
		t.Errorf("Anchor = %q, want the device", got)
	}
	if got := Anchor(a, []domain.EntityKey{"ip:10.0.0.53", "user:bob@x"}); got != "user:bob@x" {
		t.Errorf("Anchor without device = %q, want the user", got)
	}
}

func TestJoins(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	seen := func(ago time.Duration, notableAgo time.Duration) Sighting {
		s := Sighting{IncidentID: 1, LastSeen: t0.Add(-ago)}
		if notableAgo >= 0 {
			s.LastNotable = t0.Add(-notableAgo)
		}
		return s
	}
	tests := []struct {
		name     string
		rules    Rules
		routine  bool
		s        Sighting
		advances bool
		want     bool
	}{
		{"notable within the gap", Rules{}, false, seen(59*time.Minute, -1), false, true},
		{"notable beyond the gap", Rules{}, false, seen(61*time.Minute, -1), false, false},
		{"out of order arrival counts too", Rules{}, false, seen(-30*time.Minute, -1), false, true},
		{"kill chain advances: the window", Rules{}, false, seen(20*time.Hour, -1), true, true},
		{"beyond the window even so", Rules{}, false, seen(25*time.Hour, -1), true, false},
		{"gap capped by the window", Rules{Window: 30 * time.Minute}, false, seen(45*time.Minute, -1), false, false},
		{"routine joins a hot incident", Rules{}, true, seen(time.Minute, 5*time.Minute), false, true},
		{"routine does not join a cold one", Rules{}, true, seen(time.Minute, 15*time.Minute), false, false},
		{"routine needs a notable alert", Rules{}, true, seen(time.Minute, -1), false, false},
	}
	for _, tt := range tests {
		if got := tt.rules.Joins(tt.routine, t0, tt.s, tt.advances); got != tt.want {
			t.Errorf("%s: Joins = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRoutine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rules   Rules
		buckets int
		want    bool
	}{
		{Rules{}, 2, false},
		{Rules{}, 3, true},
		{Rules{RoutineBuckets: 5}, 4, false},
		{Rules{RoutineBuckets: -1}, 100, false},
	}
	for _, tt := range tests {
		if got := tt.rules.Routine(tt.buckets); got != tt.want {
			t.Errorf("Routine(%d) with %+v = %v, want %v", tt.buckets, tt.rules, got, tt.want)
		}
	}
	r := Rules{}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if r.Bucket(t0) == r.Bucket(t0.Add(10*time.Minute)) || r.Bucket(t0) != r.Bucket(t0.Add(9*time.Minute)) {
		t.Errorf("buckets are not ten minutes wide")
	}
	if r.FirstBucket(t0) != r.Bucket(t0.Add(-24*time.Hour)) {
		t.Errorf("routine window is not 24 hours")
	}
}

func TestTacticsAndAdvances(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cat     string
		maxRank int
		want    bool
	}{
		{"LateralMovement", TacticRank("InitialAccess"), true},
		{"InitialAccess", TacticRank("LateralMovement"), false},
		{"Execution", 0, false}, // nothing to advance from
		{"NotATactic", 3, false},
		{"credentialaccess", TacticRank("Execution"), true},
	}
	for _, tt := range tests {
		if got := Advances(tt.cat, tt.maxRank); got != tt.want {
			t.Errorf("Advances(%q, %d) = %v, want %v", tt.cat, tt.maxRank, got, tt.want)
		}
	}
}

func TestChooseAndMerge(t *testing.T) {
	t.Parallel()
	target, others := Choose([]Candidate{{IncidentID: 7, Alerts: 3}, {IncidentID: 4, Alerts: 10}, {IncidentID: 2, Alerts: 10}})
	if target != 2 || !slices.Equal(others, []int64{4, 7}) {
		t.Errorf("Choose = %d, %v; want 2 (most alerts, then oldest), [4 7]", target, others)
	}
	if target, others := Choose(nil); target != 0 || others != nil {
		t.Errorf("Choose(nil) = %d, %v", target, others)
	}
	open := MergeSide{Status: domain.IncidentActive, Classification: "unknown", Determination: "unknown"}
	tests := []struct {
		name   string
		source MergeSide
		want   bool
	}{
		{"same", open, true},
		{"resolved", MergeSide{Status: domain.IncidentResolved, Classification: "unknown", Determination: "unknown"}, false},
		{"other assignee", MergeSide{Status: domain.IncidentInProgress, AssignedTo: "ana", Classification: "unknown", Determination: "unknown"}, false},
		{"other classification", MergeSide{Status: domain.IncidentActive, Classification: "truePositive", Determination: "malware"}, false},
	}
	for _, tt := range tests {
		if got, why := CanMerge(open, tt.source); got != tt.want || (!got && why == "") {
			t.Errorf("%s: CanMerge = %v (%q), want %v with a reason when refused", tt.name, got, why, tt.want)
		}
	}
}

func TestMaterial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Change
		want bool
	}{
		{"nothing new", Change{Severity: domain.SeverityLow, Was: domain.SeverityHigh}, false},
		{"new incident", Change{NewIncident: true}, true},
		{"new entity", Change{NewEntities: 1}, true},
		{"higher severity", Change{Severity: domain.SeverityHigh, Was: domain.SeverityMedium}, true},
		{"same severity", Change{Severity: domain.SeverityMedium, Was: domain.SeverityMedium}, false},
		{"new tactic", Change{NewTactic: true}, true},
	}
	for _, tt := range tests {
		if got := tt.c.Material(); got != tt.want {
			t.Errorf("%s: Material = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPriority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        PriorityInput
		wantMin   int
		wantMax   int
		wantFirst string
	}{
		{"informational single alert", PriorityInput{Severity: domain.SeverityInformational, Alerts: 1}, 0, 10, "severity"},
		{"high multi-stage", PriorityInput{Severity: domain.SeverityHigh, Tactics: []string{"InitialAccess", "Execution", "LateralMovement"},
			MaliciousEntities: 2, Devices: 3, Users: 1, ServiceSources: 2, Alerts: 40}, 80, 100, "severity"},
		{"capped at 100", PriorityInput{Severity: domain.SeverityHigh, Tactics: Tactics, MaliciousEntities: 10, Devices: 50,
			CriticalAssets: 3, ServiceSources: 4, Alerts: 100000}, 100, 100, "severity"},
	}
	for _, tt := range tests {
		score, factors := Priority(tt.in)
		if score < tt.wantMin || score > tt.wantMax {
			t.Errorf("%s: score %d, want %d–%d", tt.name, score, tt.wantMin, tt.wantMax)
		}
		if len(factors) == 0 || factors[0].Name != tt.wantFirst {
			t.Errorf("%s: factors %+v, want %s first", tt.name, factors, tt.wantFirst)
		}
		sum := 0
		for _, f := range factors {
			sum += f.Points
			if f.Detail == "" {
				t.Errorf("%s: factor %s has no detail", tt.name, f.Name)
			}
		}
		if min(sum, 100) != score {
			t.Errorf("%s: factors add to %d, score %d", tt.name, sum, score)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rules Rules
		field string
	}{
		{Rules{}, ""},
		{Rules{Window: -time.Second}, "correlation.window"},
		{Rules{MaxAlerts: -1}, "correlation.maxAlerts"},
		{Rules{StopList: []string{"nokind"}}, "correlation.stopList"},
	}
	for _, tt := range tests {
		err := tt.rules.Validate()
		var got string
		if e, ok := err.(*domain.Error); ok {
			got = e.Field
		}
		if got != tt.field || (tt.field == "") != (err == nil) {
			t.Errorf("Validate(%+v) = %v, want field %q", tt.rules, err, tt.field)
		}
	}
}

func TestStorm(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		rules   Rules
		notable int
		want    bool
	}{
		{Rules{}, 499, false},
		{Rules{}, 500, true},
		{Rules{StormAlerts: 20}, 20, true},
		{Rules{StormGap: -1}, 10000, false},
	}
	for _, tt := range tests {
		if got := tt.rules.Storm(tt.notable); got != tt.want {
			t.Errorf("Storm(%d) with %+v = %v, want %v", tt.notable, tt.rules, got, tt.want)
		}
	}
	from, to := Rules{}.StormWindow(t0)
	if r := (Rules{}); from != r.Bucket(t0.Add(-40*time.Minute)) || to != r.Bucket(t0.Add(40*time.Minute)) {
		t.Errorf("storm window = %d–%d, want ±40 minutes of buckets", from, to)
	}
}
