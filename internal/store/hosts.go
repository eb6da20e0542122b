package store

import (
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// Short host names and FQDNs: "WS-042" and "ws-042.corp.example" are one
// device when the short name is unique in the tenant (SPEC §1). Alerts key
// devices by what they carry, so the two spellings arrive as two keys;
// unifyHosts reconciles them before correlation, from the device entities
// the store knows and the batch itself:
//   - a short key whose label matches exactly one known FQDN is rewritten to
//     that FQDN's key (the alert's entity is copied, not changed in place);
//   - an FQDN whose label is used by no other FQDN also looks up sightings
//     under the short key, so alerts seen before the FQDN was known link.
// A label shared by two FQDNs (ws-042.corp.example, ws-042.lab.example)
// is ambiguous and stays as sent.

// isHostKey reports whether a device key names a host (not a Defender
// device id, which is 40 hex digits) and returns the host part.
func isHostKey(k domain.EntityKey) (string, bool) {
	kind, id, ok := entity.Split(k)
	if !ok || kind != domain.KindDevice {
		return "", false
	}
	if len(id) == 40 && strings.Trim(id, "0123456789abcdef") == "" {
		return "", false
	}
	return id, true
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// unifyHosts rewrites short device keys to their unique FQDN and records
// FQDN → short aliases in b.aliases.
func (b *batch) unifyHosts(alerts []*domain.Alert) error {
	labels := map[string]bool{}
	for _, a := range alerts {
		for _, k := range allKeys(a) {
			if h, ok := isHostKey(k); ok {
				labels[entity.ShortHost(h)] = true
			}
		}
	}
	if len(labels) == 0 {
		return nil
	}
	fqdns := map[string]map[domain.EntityKey]bool{} // label → FQDN keys
	shorts := map[string]bool{}                     // labels known as a short key
	note := func(k domain.EntityKey) {
		h, ok := isHostKey(k)
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
	var list []string
	for l := range labels {
		list = append(list, l)
	}
	err := inChunks(list, func(part []string) error {
		var conds []string
		var args []any
		for _, l := range part {
			conds = append(conds, `key = ? OR key LIKE ? ESCAPE '\'`)
			args = append(args, "device:"+l, "device:"+likeEscape(l)+".%")
		}
		var keys []string
		if err := b.tx.SelectContext(b.ctx, &keys, b.tx.Rebind(`SELECT key FROM entities WHERE kind = 'device' AND (`+
			strings.Join(conds, " OR ")+`)`), args...); err != nil {
			return fmt.Errorf("find host names: %w", err)
		}
		for _, k := range keys {
			note(domain.EntityKey(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range alerts {
		for _, k := range allKeys(a) {
			note(k)
		}
	}
	for _, a := range alerts {
		for i, ev := range a.Evidence {
			e := ev.Entity
			if e == nil {
				continue
			}
			h, ok := isHostKey(e.Key)
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
				if !containsKey(b.aliases[e.Key], short) {
					b.aliases[e.Key] = append(b.aliases[e.Key], short)
				}
			}
		}
	}
	return nil
}

func containsKey(list []domain.EntityKey, k domain.EntityKey) bool {
	for _, x := range list {
		if x == k {
			return true
		}
	}
	return false
}
