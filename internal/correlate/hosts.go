package correlate

import (
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// Short host names and FQDNs: "WS-042" and "ws-042.corp.example" are one
// device when the short name is unique in the tenant (SPEC §1). Alerts key
// devices by what they carry, so the two spellings arrive as two keys;
// UnifyHosts reconciles them before correlation, from the device keys
// already known (the caller looks them up by HostLabels) and the batch:
//   - a short key whose label matches exactly one known FQDN is rewritten to
//     that FQDN's key (the alert's entity is copied, not changed in place);
//   - an FQDN whose label is used by no other FQDN also finds sightings
//     under the short key, so alerts seen before the FQDN was known link.
// A label shared by two FQDNs (ws-042.corp.example, ws-042.lab.example)
// is ambiguous and stays as sent.

// HostKey reports whether a device key names a host (not a Defender device
// id, which is 40 hex digits) and returns the host part.
func HostKey(k domain.EntityKey) (string, bool) {
	kind, id, ok := entity.Split(k)
	if !ok || kind != domain.KindDevice {
		return "", false
	}
	if len(id) == 40 && strings.Trim(id, "0123456789abcdef") == "" {
		return "", false
	}
	return id, true
}

// HostLabels returns the short host labels the alerts' device keys use.
func HostLabels(alerts []*domain.Alert) map[string]bool { return hostLabels(alerts, plainHostName) }

// hostName is what HostKey and entity.ShortHost make of a key: its host
// part and short label, when it is a device key that names a host.
type hostName struct {
	host, label string
	ok          bool
}

func plainHostName(k domain.EntityKey) hostName {
	h, ok := HostKey(k)
	if !ok {
		return hostName{}
	}
	return hostName{h, entity.ShortHost(h), true}
}

// hostLabels is HostLabels with the host names of keys from name (which
// Memory remembers rather than works out again for each alert).
func hostLabels(alerts []*domain.Alert, name func(domain.EntityKey) hostName) map[string]bool {
	labels := map[string]bool{}
	for _, a := range alerts {
		for _, ev := range a.Evidence {
			if ev.Entity == nil || ev.Entity.Key == "" {
				continue
			}
			if n := name(ev.Entity.Key); n.ok {
				labels[n.label] = true
			}
		}
	}
	return labels
}

// UnifyHosts rewrites the alerts' short device keys to their unique FQDN
// and records FQDN → short aliases in the state (aliases without an
// alert: the name alone makes them one); known are the device keys
// already stored under the alerts' labels.
func UnifyHosts(alerts []*domain.Alert, known []domain.EntityKey, s *State) {
	unifyHosts(alerts, known, s, HostLabels(alerts), plainHostName)
}

// unifyHosts is UnifyHosts given the alerts' labels (HostLabels) and the
// host names of keys.
func unifyHosts(alerts []*domain.Alert, known []domain.EntityKey, s *State, labels map[string]bool,
	name func(domain.EntityKey) hostName) {
	if len(labels) == 0 {
		return
	}
	fqdns := map[string]map[domain.EntityKey]bool{} // label → FQDN keys
	shorts := map[string]bool{}                     // labels known as a short key
	note := func(k domain.EntityKey) {
		n := name(k)
		if !n.ok {
			return
		}
		l := n.label
		if !labels[l] {
			return
		}
		if strings.Contains(n.host, ".") {
			if fqdns[l] == nil {
				fqdns[l] = map[domain.EntityKey]bool{}
			}
			fqdns[l][k] = true
		} else {
			shorts[l] = true
		}
	}
	for _, k := range known {
		note(k)
	}
	for _, a := range alerts {
		for _, ev := range a.Evidence {
			if ev.Entity != nil && ev.Entity.Key != "" {
				note(ev.Entity.Key)
			}
		}
	}
	for _, a := range alerts {
		for i, ev := range a.Evidence {
			e := ev.Entity
			if e == nil {
				continue
			}
			n := name(e.Key)
			if !n.ok {
				continue
			}
			l := n.label
			if !strings.Contains(n.host, ".") {
				if len(fqdns[l]) == 1 {
					for f := range fqdns[l] {
						c := *e
						c.Key = f
						a.Evidence[i].Entity = &c
					}
				}
				continue
			}
			if len(fqdns[l]) == 1 && shorts[l] {
				s.AddAlias(e.Key, Alias{Key: domain.EntityKey("device:" + l)})
			}
		}
	}
}

// HostNames returns the host names (lower case, no trailing dot) a device
// entity goes by: the host part of its key, and for a device keyed by its
// Defender device id the DNS and host names its attributes carry. Nil for
// an entity that is no device.
func HostNames(e domain.Entity) []string {
	if h, ok := HostKey(e.Key); ok {
		return []string{h}
	}
	if kind, _, ok := entity.Split(e.Key); !ok || kind != domain.KindDevice {
		return nil
	}
	var out []string
	for _, n := range []string{e.Attrs["deviceDnsName"], e.Attrs["hostName"]} {
		if h, ok := HostKey(entity.Device("", n, "")); ok && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// HostAliases returns the keys of the entities in known that name the
// same device as self, sorted, by the rule UnifyHosts applies when it
// correlates: a short host name is its FQDN when exactly one FQDN among
// all the names known has that first label. A device keyed by its Defender
// device id goes by the DNS and host names its evidence carried
// (HostNames), so it is the same device as the host keys those names
// unify with; correlation links such alerts through their shared
// entities, the entity page through this. known holds the candidates
// (the store looks them up by ShortHost of self's names); self in it is
// ignored. An ambiguous short name (two FQDNs share its label) is the
// same device only as its own key.
func HostAliases(self domain.Entity, known []domain.Entity) []domain.EntityKey {
	mine := HostNames(self)
	if len(mine) == 0 {
		return nil
	}
	fqdns := map[string]map[string]bool{} // label → FQDNs
	noteName := func(h string) {
		if !strings.Contains(h, ".") {
			return
		}
		l := entity.ShortHost(h)
		if fqdns[l] == nil {
			fqdns[l] = map[string]bool{}
		}
		fqdns[l][h] = true
	}
	for _, h := range mine {
		noteName(h)
	}
	for _, e := range known {
		for _, h := range HostNames(e) {
			noteName(h)
		}
	}
	canon := func(h string) string {
		if strings.Contains(h, ".") {
			return h
		}
		if fs := fqdns[h]; len(fs) == 1 {
			for f := range fs {
				return f
			}
		}
		return h
	}
	same := map[string]bool{}
	for _, h := range mine {
		same[canon(h)] = true
	}
	var out []domain.EntityKey
	for _, e := range known {
		if e.Key == self.Key || slices.Contains(out, e.Key) {
			continue
		}
		for _, h := range HostNames(e) {
			if same[canon(h)] {
				out = append(out, e.Key)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
