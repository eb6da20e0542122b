package correlate

import (
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func TestRoleOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		roles []string
		want  Role
		text  string
	}{
		{nil, 0, ""},
		{[]string{"contextual", "created"}, 0, ""},
		{[]string{"source"}, RoleSource, "source"},
		{[]string{"Attacker"}, RoleSource, "source"},
		{[]string{"destination"}, RoleTarget, "destination"},
		{[]string{"compromised"}, RoleTarget, "destination"},
		{[]string{"attacked", "scanned"}, RoleTarget, "destination"},
		{[]string{"source", "destination"}, RoleSource | RoleTarget, "source and destination"},
	}
	for _, tt := range tests {
		got := RoleOf(tt.roles)
		if got != tt.want || got.String() != tt.text {
			t.Errorf("RoleOf(%v) = %d %q, want %d %q", tt.roles, got, got.String(), tt.want, tt.text)
		}
	}
}

func TestKeyRoleAndHost(t *testing.T) {
	t.Parallel()
	a := &domain.Alert{Evidence: []domain.Evidence{
		{Entity: &domain.Entity{Key: "ip:10.0.0.5", Kind: domain.KindIP}, Roles: []string{"source"}},
		{Entity: &domain.Entity{Key: "device:db01", Kind: domain.KindDevice}},
		{Entity: &domain.Entity{Key: "ip:10.0.0.5", Kind: domain.KindIP}, Roles: []string{"compromised"}},
		{Entity: &domain.Entity{Key: "device:web01", Kind: domain.KindDevice}},
	}}
	if r := KeyRole(a, "ip:10.0.0.5"); r != RoleSource|RoleTarget {
		t.Errorf("KeyRole = %v, want both (roles of every item naming the key)", r)
	}
	if r := KeyRole(a, "device:db01"); r != 0 {
		t.Errorf("KeyRole of a device without roles = %v", r)
	}
	if h := AlertHost(a); h != "device:db01" {
		t.Errorf("AlertHost = %q, want the first device", h)
	}
	if !onDevice(a, "device:web01") || onDevice(a, "device:mail") || onDevice(a, "") {
		t.Error("onDevice: wrong")
	}
}

func TestWhereWhen(t *testing.T) {
	t.Parallel()
	where := []struct {
		k, host domain.EntityKey
		same    bool
		want    string
	}{
		{"ip:10.0.0.5", "device:web01", false, " on device:web01"},
		{"ip:10.0.0.5", "device:web01", true, " on the same device"},
		{"ip:10.0.0.5", "", false, ""},
		{"device:web01", "device:web01", true, ""}, // the key is the device
	}
	for _, tt := range where {
		if got := Where(tt.k, tt.host, tt.same); got != tt.want {
			t.Errorf("Where(%s, %s, %v) = %q, want %q", tt.k, tt.host, tt.same, got, tt.want)
		}
	}
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	when := []struct {
		t, seen time.Time
		want    string
	}{
		{t0, t0.Add(-4 * time.Minute), "4m0s earlier"},
		{t0, t0.Add(2*time.Minute + 400*time.Millisecond), "2m0s later"},
		{t0, t0, "at the same time"},
	}
	for _, tt := range when {
		if got := When(tt.t, tt.seen); got != tt.want {
			t.Errorf("When(%v) = %q, want %q", tt.t.Sub(tt.seen), got, tt.want)
		}
	}
}

func TestProgression(t *testing.T) {
	t.Parallel()
	cred, lat, exec := TacticRank("CredentialAccess"), TacticRank("LateralMovement"), TacticRank("Execution")
	tests := []struct {
		from, to  int
		want      string
		stepWords string
	}{
		{cred, lat, "lateral movement after credential access", "lateral movement after credential access"},
		{TacticRank("InitialAccess"), TacticRank("CommandAndControl"), "command and control after initial access",
			"command and control after initial access"},
		{lat, lat, "", "still lateral movement"},
		{lat, exec, "", ""}, // backwards: no progression
		{0, lat, "", ""},    // the incident has no tactic
		{lat, 0, "", ""},    // the alert has none
	}
	for _, tt := range tests {
		if got := Progression(tt.from, tt.to); got != tt.want {
			t.Errorf("Progression(%d, %d) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
		if got := chainStep(tt.from, tt.to); got != tt.stepWords {
			t.Errorf("chainStep(%d, %d) = %q, want %q", tt.from, tt.to, got, tt.stepWords)
		}
	}
}

func TestSameKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		here, there Role
		want        string
	}{
		{0, 0, "same ip:10.0.0.5"},
		{RoleSource, RoleSource, "same source ip:10.0.0.5"},
		{RoleSource, RoleTarget, "same ip:10.0.0.5 (source here, destination in the incident)"},
		{RoleTarget, 0, "same ip:10.0.0.5 (destination here)"},
		{0, RoleSource, "same ip:10.0.0.5 (source in the incident)"},
	}
	for _, tt := range tests {
		if got := sameKey("ip:10.0.0.5", tt.here, tt.there); got != tt.want {
			t.Errorf("sameKey(%v, %v) = %q, want %q", tt.here, tt.there, got, tt.want)
		}
	}
}

// TestPivots is the pivot rule's decision by table.
func TestPivots(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	cred, lat, exec := TacticRank("CredentialAccess"), TacticRank("LateralMovement"), TacticRank("Execution")
	target := Sighting{IncidentID: 1, LastSeen: t0, Roles: RoleTarget, Host: "device:web01"}
	ok := PivotCheck{At: t0.Add(3 * time.Hour), Role: RoleSource, Tactic: lat, Incident: cred, Open: 1, Targets: 1}
	with := func(f func(*PivotCheck)) PivotCheck { p := ok; f(&p); return p }
	tests := []struct {
		name  string
		rules Rules
		s     Sighting
		p     PivotCheck
		want  bool
	}{
		{"a destination that becomes a source on another host pivots", Rules{}, target, ok, true},
		{"the same tactic is not earlier: pivots", Rules{}, target, with(func(p *PivotCheck) { p.Tactic = cred }), true},
		{"a key both source and destination in the incident pivots", Rules{},
			Sighting{LastSeen: t0, Roles: RoleSource | RoleTarget}, ok, true},
		{"reversed kill-chain order does not", Rules{}, target, with(func(p *PivotCheck) { p.Tactic = exec }), false},
		{"no tactic on the alert does not", Rules{}, target, with(func(p *PivotCheck) { p.Tactic = 0 }), false},
		{"no tactic in the incident does not", Rules{}, target, with(func(p *PivotCheck) { p.Incident = 0 }), false},
		{"outside the window does not", Rules{}, target, with(func(p *PivotCheck) { p.At = t0.Add(25 * time.Hour) }), false},
		{"a shorter window", Rules{Pivot: 2 * time.Hour}, target, ok, false},
		{"never beyond the correlation window", Rules{Pivot: 48 * time.Hour, Window: 2 * time.Hour}, target, ok, false},
		{"before the incident saw it does not", Rules{}, target, with(func(p *PivotCheck) { p.At = t0.Add(-time.Minute) }), false},
		{"Pivot < 0 disables", Rules{Pivot: -1}, target, ok, false},
		{"the same host is not a pivot", Rules{}, target, with(func(p *PivotCheck) { p.SameHost = true }), false},
		{"a source in the incident is not a target", Rules{}, Sighting{LastSeen: t0, Roles: RoleSource}, ok, false},
		{"no roles in the incident", Rules{}, Sighting{LastSeen: t0}, ok, false},
		{"a destination here is not a source", Rules{}, target, with(func(p *PivotCheck) { p.Role = RoleTarget }), false},
		{"common keys never pivot", Rules{}, target, with(func(p *PivotCheck) { p.Open = 26 }), false},
		{"common after a setting", Rules{CommonAfter: 3}, target, with(func(p *PivotCheck) { p.Open = 4 }), false},
		{"common detection off", Rules{CommonAfter: -1}, target, with(func(p *PivotCheck) { p.Open = 400 }), true},
		{"the target of two incidents is shared infrastructure", Rules{}, target,
			with(func(p *PivotCheck) { p.Targets = 2 }), false},
	}
	for _, tt := range tests {
		if got := tt.rules.Pivots(tt.s, tt.p); got != tt.want {
			t.Errorf("%s: Pivots = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStories correlates small attacks across hosts in memory, as
// `starter correlate` does, and checks grouping and reasons.
func TestStories(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ev := func(key domain.EntityKey, roles ...string) domain.Evidence {
		kind := domain.EntityKind(strings.SplitN(string(key), ":", 2)[0])
		return domain.Evidence{Type: string(kind) + "Evidence", Roles: roles, Entity: &domain.Entity{Key: key, Kind: kind}}
	}
	at := func(id string, d time.Duration, tactic string, evs ...domain.Evidence) *domain.Alert {
		tm := t0.Add(d)
		return &domain.Alert{ID: id, Title: "detection " + id, DetectorID: "det-" + id, Category: tactic,
			CreatedDateTime: tm, LastUpdateDateTime: tm, LastActivityDateTime: &tm, Evidence: evs}
	}
	// web01 (10.0.0.5) is attacked from outside and its credentials dumped;
	// three hours later 10.0.0.5 is the source of lateral movement to db01.
	attacked := at("a1", 0, "CredentialAccess", ev("device:web01"), ev("ip:203.0.113.9", "attacker"),
		ev("ip:10.0.0.5", "destination"))
	moved := func(d time.Duration, tactic string) *domain.Alert {
		return at("a2", d, tactic, ev("device:db01"), ev("ip:10.0.0.5", "source"), ev("ip:10.0.0.9", "destination"))
	}
	tests := []struct {
		name   string
		rules  Rules
		alerts []*domain.Alert
		joined bool   // a2 joins a1's incident
		reason string // a2's first reason contains
	}{
		{"pivot", Rules{}, []*domain.Alert{attacked, moved(3*time.Hour, "LateralMovement")}, true,
			"joined incident 1: pivot: ip:10.0.0.5 was the destination in the incident on device:web01 3h0m0s earlier " +
				"and is the source here on device:db01 — the attacker moved from there; lateral movement after credential access"},
		{"same tactic pivots", Rules{}, []*domain.Alert{attacked, moved(3*time.Hour, "CredentialAccess")}, true,
			"still credential access"},
		{"reversed kill chain does not", Rules{}, []*domain.Alert{attacked, moved(3*time.Hour, "Execution")}, false,
			"opened a new incident"},
		// Below, a2 stays at the incident's tactic: a later one would link
		// anyway within the whole window (time proximity, rule 3).
		{"outside the window does not", Rules{Pivot: 2 * time.Hour}, []*domain.Alert{attacked, moved(3*time.Hour, "CredentialAccess")},
			false, "opened a new incident"},
		{"Pivot < 0 disables", Rules{Pivot: -1}, []*domain.Alert{attacked, moved(3*time.Hour, "CredentialAccess")}, false,
			"opened a new incident"},
		// "other" (mail01 attacked too, 90 minutes later) opens an incident
		// of its own: then 10.0.0.5 is in two.
		{"common keys never pivot", Rules{CommonAfter: 1}, []*domain.Alert{attacked,
			at("other", 90*time.Minute, "CredentialAccess", ev("device:mail01"), ev("ip:10.0.0.5", "destination")),
			moved(3*time.Hour, "CredentialAccess")}, false,
			"no open incident saw device:db01, ip:10.0.0.9 close enough in time"}, // 10.0.0.5 is too common to link
		{"the target of two incidents is shared infrastructure: no pivot", Rules{}, []*domain.Alert{attacked,
			at("other", 90*time.Minute, "CredentialAccess", ev("device:mail01"), ev("ip:10.0.0.5", "destination")),
			moved(3*time.Hour, "CredentialAccess")}, false, "opened a new incident: no open incident saw"},
		{"within the link gap: a richer reason", Rules{}, []*domain.Alert{attacked, moved(4*time.Minute, "LateralMovement")}, true,
			"pivot: ip:10.0.0.5 was the destination in the incident on device:web01 4m0s earlier"},
		{"time proximity explains roles, device and progression", Rules{Pivot: -1},
			[]*domain.Alert{attacked, moved(4*time.Minute, "LateralMovement")}, true,
			"joined incident 1: same ip:10.0.0.5 (source here, destination in the incident) seen 4m0s earlier on device:web01, " +
				"lateral movement after credential access"},
		{"same source on another device", Rules{}, []*domain.Alert{attacked,
			at("a2", 10*time.Minute, "", ev("device:web02"), ev("ip:203.0.113.9", "attacker"))}, true,
			"joined incident 1: same source ip:203.0.113.9 seen 10m0s earlier on device:web01"},
	}
	for _, tt := range tests {
		m := NewMemory(tt.rules)
		if _, err := m.Ingest(tt.alerts); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.IncidentOf("a2") == m.IncidentOf("a1"); got != tt.joined {
			t.Errorf("%s: a2 joined a1's incident = %v, want %v (%q)", tt.name, got, tt.joined, m.Explained["a2"].Reasons)
		}
		if rs := m.Explained["a2"].Reasons; len(rs) == 0 || !strings.Contains(rs[0], tt.reason) {
			t.Errorf("%s: reasons %q, want one containing %q", tt.name, rs, tt.reason)
		}
	}
}

func TestJoinReason(t *testing.T) {
	t.Parallel()
	real := map[int64]int64{-2: 42}
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Outcome: Created, Reasons: []string{"joined incident 7: same ip:10.0.0.5 seen 4m0s earlier",
			"merged incident 8 into 7: same user:bob"}}, "same ip:10.0.0.5 seen 4m0s earlier"},
		{Decision{Outcome: Created, Reasons: []string{"joined incident 7: attack under way: incident -2 has 600 notable alerts"}},
			"attack under way: incident 42 has 600 notable alerts"},
		{Decision{Outcome: Created, Reasons: []string{`routine: "x" fired…`, "joined the recurring-noise incident 3 of device:a"}},
			"the recurring-noise incident 3 of device:a"},
		{Decision{Outcome: Created, NewIncident: true, Reasons: []string{"opened a new incident: no entity that links"}}, ""},
		{Decision{Outcome: Updated, Reasons: []string{"newer version of an alert of incident 7"}}, ""},
	}
	for _, tt := range tests {
		if got := JoinReason(tt.d, real); got != tt.want {
			t.Errorf("JoinReason(%q) = %q, want %q", tt.d.Reasons, got, tt.want)
		}
	}
}
