package correlate

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// One identity per device and per user (issue #15). Products name the
// same host by its Defender device id, its FQDN, its short or NetBIOS name
// or its IP, and the same person by UPN, SID, DOMAIN\account or Entra
// object id; alerts are keyed by one of them (entity.Device, entity.User),
// so two products' alerts about one machine arrive under two keys. An
// evidence item that names two identifiers together is proof that they
// are one device or user: the engine records the pair (an alias, with the
// alert that named both and when) and a key then also finds the sightings
// of its aliases, transitively. Keys themselves never change, so stored
// data and recorded histories stay valid.
//
// What does not link:
//   - an IP stands for a device only at that time: within IPAliasWindow of
//     the alerts that named them together (DHCP leases, VPN pools);
//   - a weak identifier (an IP, a short host name) stands for a device only
//     while every device it was named with is one identity: an IP named
//     with two devices is a DHCP pool, NAT or proxy, a short name named
//     with two MDE ids is two machines in two domains. Weak identifiers are
//     never a bridge from one identity to another;
//   - entity.AliasIP keeps public, loopback and link-local addresses out;
//   - an alias that is stop-listed, of a kind that does not link or too
//     common to link (Rules.Common) is not followed, as for any key.

// IPAliasWindow is how long before the first and after the last alert
// that named a device and a private IP together the IP still stands for
// that device.
const IPAliasWindow = 24 * time.Hour

// ipPartnersCap: once this many devices were named with one IP within the
// window, more are not recorded. Such an IP is shared and links nothing
// anyway; the cap bounds what a NAT gateway's address costs.
const ipPartnersCap = 4

// maxIdentity bounds the keys one key's identity expands to; a real device
// or user has a handful.
const maxIdentity = 32

// aliasRounds is how many times LoadAliases follows the pairs it read.
const aliasRounds = 3

// Alias says that a key names the same device or user as another one.
type Alias struct {
	Key domain.EntityKey
	// Alert is the first alert that named both together; empty when a short
	// host name was unified with its only FQDN (UnifyHosts).
	Alert string
	// First and Last are the activity times of the first and last alert
	// that named both; zero for a unified host name.
	First, Last time.Time
}

// AliasRow is one alias of a key: a row to write (both directions are) or
// as read.
type AliasRow struct {
	Of domain.EntityKey
	Alias
}

// timed reports whether a pair holds only around the alerts that named it:
// a pair with an IP.
func timed(a, b domain.EntityKey) bool {
	return kindOf(a) == domain.KindIP || kindOf(b) == domain.KindIP
}

func kindOf(k domain.EntityKey) domain.EntityKind {
	kind, _, _ := entity.Split(k)
	return kind
}

// weak identifiers may stand for several devices: an IP, a short host name.
func weak(k domain.EntityKey) bool {
	w := entity.What(k)
	return w == "IP" || w == "host name"
}

// holds reports whether the pair (of, al) stands at t.
func (al Alias) holds(of domain.EntityKey, t time.Time) bool {
	if !timed(of, al.Key) || al.First.IsZero() {
		return true
	}
	return !t.Before(al.First.Add(-IPAliasWindow)) && !t.After(al.Last.Add(IPAliasWindow))
}

// MayHold reports whether the pair can still stand for an alert at or
// after since: what loaders read.
func (r AliasRow) MayHold(since time.Time) bool {
	return !timed(r.Of, r.Key) || r.Last.IsZero() || !r.Last.Add(IPAliasWindow).Before(since)
}

// AliasPairs returns the pairs an alert's evidence names together: each
// device or user evidence item's key with each other identifier it
// carries (entity.Names), at the alert's activity time. Pairs go from the
// key outwards, so a key is never an IP.
func AliasPairs(a *domain.Alert) []AliasRow { return aliasPairs(a, nil) }

// aliasPairs is AliasPairs with the names of an entity from memo (nil:
// entity.Names each time).
func aliasPairs(a *domain.Alert, memo *namesMemo) []AliasRow {
	var out []AliasRow
	t := a.ActivityTime().UTC()
	for _, ev := range a.Evidence {
		if ev.Entity == nil {
			continue
		}
		names := memo.names(ev.Entity)
		for _, n := range names[min(1, len(names)):] {
			row := AliasRow{Of: names[0].Key, Alias: Alias{Key: n.Key, Alert: a.ID, First: t, Last: t}}
			if !slices.ContainsFunc(out, func(o AliasRow) bool { return o.Of == row.Of && o.Key == row.Key }) {
				out = append(out, row)
			}
		}
	}
	return out
}

// AliasKeys returns the keys the alerts name besides their evidence keys:
// the aliases they record, which a batch locks and loads with its keys.
func AliasKeys(alerts []*domain.Alert) []domain.EntityKey {
	var out []domain.EntityKey
	for _, a := range alerts {
		for _, p := range AliasPairs(a) {
			if !slices.Contains(out, p.Key) {
				out = append(out, p.Key)
			}
		}
	}
	return out
}

// AliasFrontier returns the keys whose aliases a batch loads: its keys of
// kinds that have aliases (devices, users, IPs) and the aliases its alerts
// name, sorted.
func AliasFrontier(keys map[domain.EntityKey]bool, alerts []*domain.Alert) []domain.EntityKey {
	var out []domain.EntityKey
	for k := range keys {
		if kind := kindOf(k); kind == domain.KindDevice || kind == domain.KindUser || kind == domain.KindIP {
			out = append(out, k)
		}
	}
	for _, k := range AliasKeys(alerts) {
		if !keys[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// AliasFrontier is the package's AliasFrontier for a batch that this
// state will run: it reads each alert's pairs once and keeps them for
// Run (recordAliases), where the package function would read them again.
// The alerts must not change in between (UnifyHosts runs before).
func (s *State) AliasFrontier(keys map[domain.EntityKey]bool, alerts []*domain.Alert) []domain.EntityKey {
	var out []domain.EntityKey
	for k := range keys {
		if kind := kindOf(k); kind == domain.KindDevice || kind == domain.KindUser || kind == domain.KindIP {
			out = append(out, k)
		}
	}
	s.pairAlerts, s.pairs = alerts, make([][]AliasRow, len(alerts))
	named := map[domain.EntityKey]bool{}
	for i, a := range alerts {
		s.pairs[i] = aliasPairs(a, s.namesMemo)
		for _, p := range s.pairs[i] {
			if !keys[p.Key] && !named[p.Key] {
				named[p.Key] = true
				out = append(out, p.Key)
			}
		}
	}
	slices.Sort(out)
	return out
}

// alertPairs returns AliasPairs(a), as AliasFrontier read them when a is
// the alert at the index Run is placing.
func (s *State) alertPairs(a *domain.Alert) []AliasRow {
	if i := s.placing; i >= 0 && i < len(s.pairAlerts) && s.pairAlerts[i] == a {
		return s.pairs[i]
	}
	return aliasPairs(a, s.namesMemo)
}

// namesMemo remembers entity.Names of the entities seen, by content (kind,
// key, display name and every attribute — all that Names can read but a
// verdict), so that the thousandth alert on a host does not work its names
// out again. Memory keeps one across batches.
type namesMemo struct {
	seed maphash.Seed
	m    map[namesKey][]namesEntry
}

type namesKey struct {
	kind  domain.EntityKind
	key   domain.EntityKey
	name  string
	attrs uint64 // order-free hash of the attributes
}

type namesEntry struct {
	attrs map[string]string
	names []entity.Name
}

func newNamesMemo() *namesMemo {
	return &namesMemo{seed: maphash.MakeSeed(), m: map[namesKey][]namesEntry{}}
}

// names returns entity.Names(*e), remembered (the result is shared: read
// only).
func (nm *namesMemo) names(e *domain.Entity) []entity.Name {
	if nm == nil || e.Kind != domain.KindDevice && e.Kind != domain.KindUser {
		return entity.Names(*e) // other kinds have none: nothing to remember
	}
	var sum uint64
	var h maphash.Hash
	h.SetSeed(nm.seed)
	for k, v := range e.Attrs {
		h.Reset()
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(v)
		sum += h.Sum64()
	}
	key := namesKey{e.Kind, e.Key, e.Name, sum}
	for _, en := range nm.m[key] {
		if maps.Equal(en.attrs, e.Attrs) {
			return en.names
		}
	}
	names := entity.Names(*e)
	nm.m[key] = append(nm.m[key], namesEntry{e.Attrs, names})
	return names
}

// AddAlias records that of is also known as al (one direction), widening
// the times of a pair already known. It reports whether it changed.
func (s *State) AddAlias(of domain.EntityKey, al Alias) bool {
	list := s.Aliases[of]
	for i := range list {
		cur := &list[i]
		if cur.Key != al.Key {
			continue
		}
		changed := false
		if !al.First.IsZero() && (cur.First.IsZero() || al.First.Before(cur.First)) {
			cur.First, cur.Alert, changed = al.First, al.Alert, true
		}
		if al.Last.After(cur.Last) {
			cur.Last, changed = al.Last, true
		}
		if cur.Alert == "" && al.Alert != "" {
			cur.Alert, changed = al.Alert, true
		}
		return changed
	}
	s.Aliases[of] = append(list, al)
	return true
}

// LoadAliases adds the stored aliases of keys to the state and follows
// them for aliasRounds rounds, so that a key finds its whole identity (an
// MDE id its FQDN, that FQDN's short name…) and a weak identifier the
// other devices named with it. read returns the rows whose Of is one of
// the keys it is given (rows that cannot hold any more may be left out,
// AliasRow.MayHold). It returns the keys whose sightings the batch needs
// besides its own: keys and every key the aliases name, sorted.
func (s *State) LoadAliases(keys []domain.EntityKey, read func([]domain.EntityKey) ([]AliasRow, error)) ([]domain.EntityKey, error) {
	asked := map[domain.EntityKey]bool{}
	next := slices.Clone(keys)
	for round := 0; round < aliasRounds && len(next) > 0; round++ {
		var ask []domain.EntityKey
		for _, k := range next {
			if !asked[k] {
				asked[k] = true
				ask = append(ask, k)
			}
		}
		slices.Sort(ask)
		rows, err := read(ask)
		if err != nil {
			return nil, err
		}
		next = next[:0]
		for _, r := range rows {
			s.AddAlias(r.Of, r.Alias)
			if !asked[r.Key] {
				next = append(next, r.Key)
			}
		}
	}
	out := slices.Clone(keys)
	for k, list := range s.Aliases {
		out = append(out, k)
		for _, al := range list {
			out = append(out, al.Key)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// recordAliases notes the alert's pairs in the state, for this alert and
// the batch's later ones, and for the plan to write.
func (s *State) recordAliases(a *domain.Alert) {
	pairs := s.alertPairs(a)
	if len(pairs) == 0 {
		return
	}
	t := a.ActivityTime().UTC()
	for _, p := range pairs {
		if kindOf(p.Key) == domain.KindIP && s.ipShared(p.Key, p.Of, t) {
			continue
		}
		if s.AddAlias(p.Of, p.Alias) {
			s.dirtyAlias[[2]domain.EntityKey{p.Of, p.Key}] = true
		}
		if s.AddAlias(p.Key, Alias{Key: p.Of, Alert: p.Alert, First: p.First, Last: p.Last}) {
			s.dirtyAlias[[2]domain.EntityKey{p.Key, p.Of}] = true
		}
	}
}

// ipShared reports whether an IP was already named with ipPartnersCap
// devices other than dev around t.
func (s *State) ipShared(ip, dev domain.EntityKey, t time.Time) bool {
	n := 0
	for _, al := range s.Aliases[ip] {
		if al.Key != dev && al.holds(ip, t) {
			n++
		}
	}
	return n >= ipPartnersCap
}

// identityKey is a key of the same identity and how it was reached: from
// the key of entry parent (-1: the key asked about) through the alias al.
// The chain in words (via) is built only when a reason needs it.
type identityKey struct {
	Key    domain.EntityKey
	parent int
	of     domain.EntityKey
	al     *Alias
	// hasVia: some alias of the chain was named by an alert, so via is
	// not empty ("" for unified host names, which link without a word as
	// they always have).
	hasVia bool
}

// via returns the chain of aliases that makes ids[i] one identity with
// the key asked about, in words.
func via(ids []identityKey, i int) string {
	id := ids[i]
	v := ""
	if id.parent >= 0 {
		v = via(ids, id.parent)
	}
	if id.al.Alert != "" {
		v = joinVia(v, describeAlias(id.of, *id.al))
	}
	return v
}

// identity returns the other keys of k's device or user at t, breadth
// first, at most maxIdentity. Weak identifiers are followed only while
// they stand for one identity (oneIdentity) and never beyond: an IP leads
// from a firewall alert to its device, not from one device to another.
// The result reuses the state's buffer: it is valid until the next call.
func (s *State) identity(r Rules, k domain.EntityKey, t time.Time) []identityKey {
	if len(s.Aliases[k]) == 0 {
		return nil
	}
	// The queue is k, then out in order; visited is k and out.
	out := s.idBuf[:0]
	for qi := -1; qi < len(out) && len(out) < maxIdentity; qi++ {
		key := k
		if qi >= 0 {
			key = out[qi].Key
			if weak(key) {
				continue
			}
		} else if weak(key) && !s.oneIdentity(key, t) {
			continue
		}
		list := s.Aliases[key]
		for i := range list {
			al := &list[i]
			if al.Key == k || visitedKey(out, al.Key) || !al.holds(key, t) || !r.Links(kindOf(al.Key)) || len(r.StopList) > 0 && r.Stopped(al.Key) ||
				r.Common(s.OpenN[al.Key]) {
				continue
			}
			if weak(al.Key) && !s.oneIdentity(al.Key, t) {
				continue
			}
			out = append(out, identityKey{Key: al.Key, parent: qi, of: key, al: al,
				hasVia: al.Alert != "" || qi >= 0 && out[qi].hasVia})
			if len(out) == maxIdentity {
				break
			}
		}
	}
	s.idBuf = out
	return out
}

func visitedKey(ids []identityKey, k domain.EntityKey) bool {
	for i := range ids {
		if ids[i].Key == k {
			return true
		}
	}
	return false
}

// oneIdentity reports whether every device a weak identifier was named
// with around t (IPs aside: a host has several) is one device, joined by
// strong aliases. A short name named with nothing but IPs is its own
// identity.
func (s *State) oneIdentity(w domain.EntityKey, t time.Time) bool {
	partners := s.partners[:0]
	defer func() { s.partners = partners[:0] }()
	for _, al := range s.Aliases[w] {
		if al.holds(w, t) && kindOf(al.Key) != domain.KindIP {
			partners = append(partners, al.Key)
		}
	}
	if len(partners) <= 1 {
		return len(partners) == 1 || kindOf(w) != domain.KindIP
	}
	// Partners must all be reached from the first through strong aliases
	// (reached, in order, is the queue).
	reached := append(s.reached[:0], partners[0])
	defer func() { s.reached = reached[:0] }()
	for qi := 0; qi < len(reached) && len(reached) < maxIdentity; qi++ {
		n := reached[qi]
		for _, al := range s.Aliases[n] {
			if !slices.Contains(reached, al.Key) && !weak(al.Key) && !weak(n) {
				reached = append(reached, al.Key)
			}
		}
	}
	for _, p := range partners[1:] {
		if !slices.Contains(reached, p) {
			return false
		}
	}
	return true
}

func joinVia(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// describeAlias says in SOC terms why of and al are one: "device 3f2a…
// (MDE id) is ws-042.corp.example (FQDN) — named together in alert X".
func describeAlias(of domain.EntityKey, al Alias) string {
	kind, id, _ := entity.Split(of)
	_, other, _ := entity.Split(al.Key)
	s := fmt.Sprintf("%s %s (%s) is %s (%s) — named together in alert %s", kind, id, entity.What(of), other,
		entity.What(al.Key), al.Alert)
	if timed(of, al.Key) {
		s += fmt.Sprintf(" (an IP only within %.0f h of such alerts)", IPAliasWindow.Hours())
	}
	return s
}

// aliasRows fills the plan's alias rows from the dirty pairs, in a stable
// order.
func (s *State) aliasRows(p *Plan) {
	for pair := range s.dirtyAlias {
		for _, al := range s.Aliases[pair[0]] {
			if al.Key == pair[1] {
				p.Aliases = append(p.Aliases, AliasRow{Of: pair[0], Alias: al})
			}
		}
	}
	slices.SortFunc(p.Aliases, func(x, y AliasRow) int {
		if c := strings.Compare(string(x.Of), string(y.Of)); c != 0 {
			return c
		}
		return strings.Compare(string(x.Key), string(y.Key))
	})
}

// Identity returns what the state's aliases make of k, whatever the time,
// for people to read (the entity page): every pair reachable from k,
// weak identifiers (IPs, short names) as leaves as correlation treats
// them, each key once, breadth first, at most maxIdentity. Of is the key
// the pair was named with.
func (s *State) Identity(k domain.EntityKey) []AliasRow {
	visited := map[domain.EntityKey]bool{k: true}
	queue := []domain.EntityKey{k}
	var out []AliasRow
	for len(queue) > 0 && len(out) < maxIdentity {
		n := queue[0]
		queue = queue[1:]
		if n != k && weak(n) {
			continue
		}
		for _, al := range s.Aliases[n] {
			if !visited[al.Key] && len(out) < maxIdentity {
				visited[al.Key] = true
				out = append(out, AliasRow{Of: n, Alias: al})
				queue = append(queue, al.Key)
			}
		}
	}
	return out
}
