package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Stories across hosts (issue #15). A multi-stage attack moves: the
// address attacked on one host is the source of the next step on another,
// the user whose credentials were taken logs on to the next machine. Two
// things here:
//
//   - Join reasons say which key linked, its role on each side where the
//     evidence gave one (source, destination), how long before and on
//     which device the incident saw it, and how the kill chain progresses
//     ("same source ip:10.0.0.5 seen 4m0s earlier on device:web01, lateral
//     movement after credential access").
//   - The pivot rule (Rules.Pivot): a key that was a destination or target
//     in an earlier incident and is the source of a later alert on another
//     host links them beyond the link gap — the attacker moved from there —
//     but only in kill-chain order, only when one open incident had the key
//     as a target (a key many incidents were aimed at is a server everyone
//     talks to: a DNS server, a proxy, a domain controller), and never for
//     a key too common to link (Rules.Common) or stop-listed: pivots are
//     looked for among the link keys only, and only on the key itself, not
//     through its aliases.

// Role is what an entity was in the activity an alert reports, from the
// evidence's roles: a bit set.
type Role uint8

// Roles.
const (
	// RoleSource: where the activity came from (Graph roles source,
	// attacker).
	RoleSource Role = 1 << iota
	// RoleTarget: where it went or what it hit (destination, attacked,
	// compromised, scanned).
	RoleTarget
)

// RoleOf maps an evidence item's Graph roles to a Role; other roles
// (contextual, created, loaded, …) say nothing of direction.
func RoleOf(roles []string) Role {
	var r Role
	for _, s := range roles {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "source", "attacker":
			r |= RoleSource
		case "destination", "attacked", "compromised", "scanned":
			r |= RoleTarget
		}
	}
	return r
}

// String names a role in an analyst's words; "" when unknown.
func (r Role) String() string {
	switch r {
	case RoleSource:
		return "source"
	case RoleTarget:
		return "destination"
	case RoleSource | RoleTarget:
		return "source and destination"
	}
	return ""
}

// KeyRole returns the roles an alert's evidence gives a key.
func KeyRole(a *domain.Alert, k domain.EntityKey) Role {
	var r Role
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key == k && len(ev.Roles) > 0 {
			r |= RoleOf(ev.Roles)
		}
	}
	return r
}

// AlertHost returns the device an alert is about: its first device
// evidence; "" for none.
func AlertHost(a *domain.Alert) domain.EntityKey {
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Kind == domain.KindDevice && ev.Entity.Key != "" {
			return ev.Entity.Key
		}
	}
	return ""
}

// onDevice reports whether an alert names the device.
func onDevice(a *domain.Alert, host domain.EntityKey) bool {
	return host != "" && slices.ContainsFunc(a.Evidence, func(ev domain.Evidence) bool {
		return ev.Entity != nil && ev.Entity.Key == host
	})
}

// Where says on which device an incident saw key k, for a reason:
// " on device:web01", " on the same device" when the alert names that
// device too, "" when unknown or when the key is the device itself.
func Where(k, host domain.EntityKey, same bool) string {
	switch {
	case host == "" || host == k:
		return ""
	case same:
		return " on the same device"
	}
	return " on " + string(host)
}

// When says when the incident saw a key relative to the alert at t:
// "4m0s earlier", "2m0s later" (alerts arrive out of order), "at the same
// time".
func When(t, seen time.Time) string {
	d := t.Sub(seen).Round(time.Second)
	switch {
	case d > 0:
		return d.String() + " earlier"
	case d < 0:
		return (-d).String() + " later"
	}
	return "at the same time"
}

// tacticWords spells a tactic rank as words: "lateral movement"; "" for 0.
func tacticWords(rank int) string {
	if rank <= 0 || rank > len(Tactics) {
		return ""
	}
	var b strings.Builder
	for i, c := range Tactics[rank-1] {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Progression says how an alert's tactic (rank to) moves an incident whose
// furthest tactic has rank from along the kill chain: "lateral movement
// after credential access"; "" unless it advances.
func Progression(from, to int) string {
	if from <= 0 || to <= from || to > len(Tactics) {
		return ""
	}
	return tacticWords(to) + " after " + tacticWords(from)
}

// chainStep is Progression, or "still X" when the alert stays at the
// incident's furthest tactic.
func chainStep(from, to int) string {
	if from > 0 && from == to {
		return "still " + tacticWords(to)
	}
	return Progression(from, to)
}

// sameKey says which key links and its role on each side: "same source
// ip:10.0.0.5" when both sides agree, else "same ip:10.0.0.5 (source
// here, destination in the incident)", leaving out what is unknown.
func sameKey(k domain.EntityKey, here, there Role) string {
	if here != 0 && here == there {
		return "same " + here.String() + " " + string(k)
	}
	var parts []string
	if here != 0 {
		parts = append(parts, here.String()+" here")
	}
	if there != 0 {
		parts = append(parts, there.String()+" in the incident")
	}
	if len(parts) == 0 {
		return "same " + string(k)
	}
	return "same " + string(k) + " (" + strings.Join(parts, ", ") + ")"
}

// PivotOrDefault returns the pivot window: 0 when disabled, never more
// than the correlation window (older sightings are not loaded).
func (r Rules) PivotOrDefault() time.Duration {
	if r.Pivot < 0 {
		return 0
	}
	return min(orDur(r.Pivot, 24*time.Hour), r.WindowOrDefault())
}

// PivotCheck is what the pivot rule looks at besides the incident's
// sighting of the key.
type PivotCheck struct {
	At   time.Time // the alert's activity time
	Role Role      // the key's roles in the alert
	// SameHost: the alert names the device the incident saw the key on.
	SameHost bool
	// Tactic is the alert's tactic rank, Incident the incident's furthest
	// (TacticRank; 0 for none).
	Tactic, Incident int
	// Open is how many open incidents saw the key (Rules.Common); Targets
	// how many of the candidates saw it as a destination or target.
	Open, Targets int
}

// Pivots reports whether an alert whose key was the destination or target
// of an earlier incident's sighting links that incident as the next step
// of the attack: the key is the alert's source, on another host, within
// Rules.Pivot after the sighting, the alert's tactic not earlier than the
// incident's furthest (both known), the key not too common to link and
// the target of that one incident only.
func (r Rules) Pivots(s Sighting, p PivotCheck) bool {
	win := r.PivotOrDefault()
	switch {
	case win <= 0:
		return false
	case s.Roles&RoleTarget == 0 || p.Role&RoleSource == 0 || p.SameHost:
		return false
	case p.At.Before(s.LastSeen) || p.At.Sub(s.LastSeen) > win:
		return false
	case p.Tactic <= 0 || p.Incident <= 0 || p.Tactic < p.Incident:
		return false
	case r.Common(p.Open) || p.Targets > 1:
		return false
	}
	return true
}

// pivotReason explains a pivot: "pivot: ip:10.0.0.5 was the destination
// in the incident on device:web01 3h0m0s earlier and is the source here on
// device:db01 — the attacker moved from there; lateral movement after
// credential access".
func pivotReason(k domain.EntityKey, seen *Seen, here domain.EntityKey, t time.Time, from, to int) string {
	s := fmt.Sprintf("pivot: %s was the destination in the incident%s %s and is the source here%s — the attacker moved from there",
		k, Where(k, seen.Host, false), When(t, seen.LastSeen), Where(k, here, false))
	if step := chainStep(from, to); step != "" {
		s += "; " + step
	}
	return s
}

// linkReason explains a join through a shared key.
func linkReason(routine bool, k domain.EntityKey, seen *Seen, a *domain.Alert, t time.Time, from int) string {
	if routine {
		return fmt.Sprintf("routine alert while the incident is hot on %s (notable alert %s away)", k, absDur(t.Sub(seen.LastNotable)))
	}
	s := sameKey(k, KeyRole(a, k), seen.Roles) + " seen " + When(t, seen.LastSeen) + Where(k, seen.Host, onDevice(a, seen.Host))
	if p := Progression(from, TacticRank(a.Category)); p != "" {
		s += ", " + p
	}
	return s
}

// linkKind is how an incident's sighting of a link key takes an alert.
type linkKind uint8

const (
	noLink    linkKind = iota
	joinLink           // the time rules (Rules.Joins)
	pivotLink          // the attacker moved from the incident's host (Rules.Pivots)
)

// link decides whether incident in's sighting seen of link key k takes the
// alert at t: a pivot (only on the key itself, not through an alias
// chain), else the time rules. adv: the alert advances the incident's
// kill chain. Its reason is written only for a candidate kept (reason).
func (r Rules) link(s *State, a *domain.Alert, k domain.EntityKey, seen *Seen, direct bool, in *Incident, t time.Time, routine, adv bool) linkKind {
	if !routine && direct && seen.Roles&RoleTarget != 0 && r.PivotOrDefault() > 0 {
		p := PivotCheck{At: t, Role: KeyRole(a, k), SameHost: onDevice(a, seen.Host), Tactic: TacticRank(a.Category),
			Incident: in.MaxTactic, Open: s.OpenN[k], Targets: s.targets(k)}
		if r.Pivots(seen.Sighting, p) {
			return pivotLink
		}
	}
	if r.Joins(routine, t, seen.Sighting, adv) {
		return joinLink
	}
	return noLink
}

// reason explains a link of this kind; from is the incident's furthest
// tactic rank.
func (kind linkKind) reason(routine bool, k domain.EntityKey, seen *Seen, a *domain.Alert, t time.Time, from int) string {
	if kind == pivotLink {
		return pivotReason(k, seen, AlertHost(a), t, from, TacticRank(a.Category))
	}
	return linkReason(routine, k, seen, a, t, from)
}

// targets counts the candidate incidents that saw k as a destination or
// target.
func (s *State) targets(k domain.EntityKey) int {
	n := 0
	for _, seen := range s.ByKey[k] {
		if seen.Roles&RoleTarget != 0 {
			n++
		}
	}
	return n
}

// noteStory records an alert's role for a key and its device on the
// incident's sighting (after record updated LastSeen: the device is the
// last alert's).
func noteStory(seen *Seen, host domain.EntityKey, role Role, t time.Time) {
	seen.Roles |= role
	if host != "" && (seen.Host == "" || !t.Before(seen.LastSeen)) {
		seen.Host = host
	}
}

// mergeStory folds src's roles and device into dst (before dst's times
// are widened).
func mergeStory(dst, src *Seen) {
	dst.Roles |= src.Roles
	if src.Host != "" && (dst.Host == "" || src.LastSeen.After(dst.LastSeen)) {
		dst.Host = src.Host
	}
}

// JoinReason returns why a created alert joined an existing incident, for
// the incident's activity log ("same source ip:10.0.0.5 seen 4m0s earlier
// on device:web01, lateral movement after credential access"), with the
// plan's provisional incident ids rewritten by real; "" when it opened an
// incident or was not created.
func JoinReason(d Decision, real map[int64]int64) string {
	if d.Outcome != Created || d.NewIncident {
		return ""
	}
	for _, r := range realIDs(d.Reasons, real) {
		if rest, ok := strings.CutPrefix(r, "joined "); ok {
			if _, why, ok := strings.Cut(rest, ": "); ok && strings.HasPrefix(rest, "incident ") {
				return why
			}
			return rest // "the recurring-noise incident 7 of device:x"
		}
	}
	return ""
}
