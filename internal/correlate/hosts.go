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
func HostLabels(alerts []*domain.Alert) map[string]bool {
	labels := map[string]bool{}
	for _, a := range alerts {
		for _, k := range AllKeys(a) {
			if h, ok := HostKey(k); ok {
				labels[entity.ShortHost(h)] = true
			}
		}
	}
	return labels
}

// UnifyHosts rewrites the alerts' short device keys to their unique FQDN
// and records FQDN → short aliases; known are the device keys already
// stored under the alerts' labels.
func UnifyHosts(alerts []*domain.Alert, known []domain.EntityKey, aliases map[domain.EntityKey][]domain.EntityKey) {
	labels := HostLabels(alerts)
	if len(labels) == 0 {
		return
	}
	fqdns := map[string]map[domain.EntityKey]bool{} // label → FQDN keys
	shorts := map[string]bool{}                     // labels known as a short key
	note := func(k domain.EntityKey) {
		h, ok := HostKey(k)
		if !ok {
			return
		}
		l := entity.ShortHost(h)
		if !labels[l] {
			return
		}
		if strings.Contains(h, ".") {
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
		for _, k := range AllKeys(a) {
			note(k)
		}
	}
	for _, a := range alerts {
		for i, ev := range a.Evidence {
			e := ev.Entity
			if e == nil {
				continue
			}
			h, ok := HostKey(e.Key)
			if !ok {
				continue
			}
			l := entity.ShortHost(h)
			if !strings.Contains(h, ".") {
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
				short := domain.EntityKey("device:" + l)
				if !slices.Contains(aliases[e.Key], short) {
					aliases[e.Key] = append(aliases[e.Key], short)
				}
			}
		}
	}
}
