// Package intel reads threat-intelligence feeds into indicators: STIX 2.1
// bundles, MISP warning lists (known-benign values) and plain lists with one
// indicator a line (IP reputation lists such as ipsum, malware trails such
// as maltrail's).
//
// Parsing is pure and streams: Parse hands each indicator to a callback as
// soon as it is known, so that a feed of a million lines never sits in
// memory (STIX bundles are the exception: an indicator's malware family is
// named by relationship objects that may come after it, so a bundle's
// indicators are held until its end). Input may be gzip-compressed.
//
// Bad input never loses good input: a malformed line or object is reported
// as a Problem with its position (file:line, or file:line:column and the
// object's id in JSON) and skipped, and the rest is read. An indicator that
// AIR cannot evaluate — a STIX pattern beyond equality on hashes, addresses,
// domains and URLs, a MISP regex — is kept as KindPattern with its text and
// counted as unsupported, never silently dropped.
//
// Values are normalised so that they compare equal to the identifiers in
// AIR's entity keys (internal/entity): IPs canonical, hashes and domains
// lower case, URLs as entity.URL writes them.
package intel

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// Kind says what an indicator's value is.
type Kind string

// Indicator kinds. Lookups use ip, domain, url and file; cidr rows match
// the IPs inside them; pattern rows are kept for the record and never match.
const (
	KindIP      Kind = "ip"      // canonical IPv4 or IPv6 address
	KindCIDR    Kind = "cidr"    // a network prefix, masked ("10.0.0.0/8")
	KindDomain  Kind = "domain"  // lower-case host name without a trailing dot
	KindURL     Kind = "url"     // a URL normalised as entity.URL does
	KindFile    Kind = "file"    // an MD5, SHA-1 or SHA-256 hash, lower-case hex
	KindPattern Kind = "pattern" // an indicator AIR cannot evaluate, kept verbatim
)

// Kinds lists the kinds a lookup may name.
var Kinds = []Kind{KindIP, KindDomain, KindURL, KindFile}

// Format is a feed's file format.
type Format string

// Formats.
const (
	FormatSTIX Format = "stix" // STIX 2.1 bundle (JSON)
	FormatMISP Format = "misp" // MISP warning list (JSON)
	FormatList Format = "list" // one indicator a line
)

// ParseFormat checks a format name; "" means detect from the content.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "", FormatSTIX, FormatMISP, FormatList:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want stix, misp or list (or nothing, to detect it)", s)
}

// Indicator is one observable a feed names.
type Indicator struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
	// Subdomains, for a domain, says that its subdomains match too (MISP
	// hostname lists: ".dyndns.org" covers "x.dyndns.org").
	Subdomains bool `json:"subdomains,omitempty"`
	// Score is the feed's own measure of how bad the value is: STIX
	// confidence (0–100, or from the indicator types when absent), the
	// number a list gives (ipsum: how many blacklists name the IP).
	Score  int    `json:"score,omitempty"`
	Family string `json:"family,omitempty"` // malware family, when the feed says
	// Ref points back into the feed: a STIX id, or "line N" of a list.
	Ref string `json:"ref,omitempty"`
	// ValidFrom and ValidUntil bound when the indicator matches; nil is
	// open-ended.
	ValidFrom  *time.Time `json:"validFrom,omitempty"`
	ValidUntil *time.Time `json:"validUntil,omitempty"`
}

// ValidAt reports whether the indicator matches at t: from ValidFrom
// inclusive to ValidUntil exclusive.
func (in Indicator) ValidAt(t time.Time) bool {
	if in.ValidFrom != nil && t.Before(*in.ValidFrom) {
		return false
	}
	if in.ValidUntil != nil && !t.Before(*in.ValidUntil) {
		return false
	}
	return true
}

// Normalize returns value as an indicator of the kind stores and compares
// it, or an error saying why it is not one. An IP with a prefix length is a
// cidr (a /32 or /128 is the address itself); a domain loses a leading "*."
// or "." and a trailing dot.
func Normalize(kind Kind, value string) (Kind, string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", "", fmt.Errorf("empty %s", kind)
	}
	switch kind {
	case KindIP, KindCIDR:
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return "", "", fmt.Errorf("not an IP network: %q", v)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked()
			if p.IsSingleIP() {
				return KindIP, p.Addr().String(), nil
			}
			return KindCIDR, p.String(), nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return "", "", fmt.Errorf("not an IP address: %q", v)
		}
		return KindIP, a.Unmap().WithZone("").String(), nil
	case KindDomain:
		d := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(v), "*."), "."), ".")
		if !isHostName(d) {
			return "", "", fmt.Errorf("not a domain name: %q", v)
		}
		return KindDomain, d, nil
	case KindURL:
		if !strings.Contains(v, "://") {
			// A scheme-less "host:port/path" would parse as scheme "host";
			// feeds mean http, as browsers do.
			v = "http://" + v
		}
		k := entity.URL(v)
		if k == "" {
			return "", "", fmt.Errorf("not a URL: %q", v)
		}
		return KindURL, strings.TrimPrefix(string(k), string(domain.KindURL)+":"), nil
	case KindFile:
		h := strings.ToLower(v)
		if !isHash(h) {
			return "", "", fmt.Errorf("not an MD5, SHA-1 or SHA-256 hash: %q", v)
		}
		return KindFile, h, nil
	case KindPattern:
		return KindPattern, v, nil
	}
	return "", "", fmt.Errorf("unknown indicator kind %q: want ip, cidr, domain, url or file", kind)
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address loses when
// unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// Classify tells what a bare value from a list is: an IP (a port, as
// maltrail writes "1.2.3.4:443", is dropped), a network, a hash, a URL
// (anything with a scheme or a path) or a domain.
func Classify(value string) (Kind, string, error) {
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return "", "", fmt.Errorf("empty value")
	case isHash(strings.ToLower(v)):
		return Normalize(KindFile, v)
	case strings.Contains(v, "://"):
		return Normalize(KindURL, v)
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return Normalize(KindIP, ap.Addr().String())
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return Normalize(KindIP, v)
	}
	if _, err := netip.ParsePrefix(v); err == nil {
		return Normalize(KindCIDR, v)
	}
	if strings.ContainsAny(v, "/?") {
		return Normalize(KindURL, v)
	}
	if host, port, ok := strings.Cut(v, ":"); ok && isPort(port) {
		return Normalize(KindDomain, host)
	}
	if strings.Contains(v, ".") {
		return Normalize(KindDomain, v)
	}
	return "", "", fmt.Errorf("cannot tell what %q is: want an IP, network, hash, domain or URL", v)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHash(s string) bool {
	switch len(s) {
	case 32, 40, 64:
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isHostName accepts DNS and internationalised names with at least one
// character; labels are not length-checked, since feeds carry odd but real
// names.
func isHostName(h string) bool {
	if h == "" || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 0x80:
		case c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// ParentDomains returns d and each domain above it with at least two
// labels, nearest first: "a.b.example.com" → a.b.example.com,
// b.example.com, example.com. Lookups use it to find subdomain entries.
func ParentDomains(d string) []string {
	out := []string{d}
	for {
		_, rest, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(rest, ".") {
			return out
		}
		out = append(out, rest)
		d = rest
	}
}
