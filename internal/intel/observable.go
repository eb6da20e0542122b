package intel

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// Observable is a value of an entity that feeds and the organisation's
// prevalence are asked about.
type Observable struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Observables lists what to look up for an entity: a file's hashes (the
// key's and the others its attributes carry, since a feed may list the
// MD5 of a file keyed by SHA-256), an IP, a URL and its host (as a domain,
// or an IP). Other kinds have none. The entity's own key comes first.
func Observables(e domain.Entity) []Observable {
	kind, id, ok := entity.Split(e.Key)
	if !ok {
		return nil
	}
	var out []Observable
	add := func(k Kind, v string) {
		k, v, err := Normalize(k, v)
		if err == nil && !slices.Contains(out, Observable{k, v}) {
			out = append(out, Observable{k, v})
		}
	}
	switch kind {
	case domain.KindFile:
		add(KindFile, id)
		for _, a := range []string{"sha256", "sha1", "md5"} {
			if v := e.Attrs[a]; v != "" {
				add(KindFile, v)
			}
		}
	case domain.KindIP:
		add(KindIP, id)
	case domain.KindURL:
		add(KindURL, id)
		if host := urlHost(id); host != "" {
			if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
				add(KindIP, strings.Trim(host, "[]"))
			} else {
				add(KindDomain, host)
			}
		}
	}
	return out
}

// urlHost is the host of a normalised URL ("http://user@host:8080/p").
func urlHost(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return ""
		}
		return host[:end+1]
	}
	host, _, _ = strings.Cut(host, ":")
	return host
}
