// Package entity turns the identifiers that evidence carries into normalised
// entity keys ("<kind>:<id>").
//
// Correlation joins alerts on equal keys, so every spelling of the same thing
// must produce the same key: host names, UPNs and mail addresses are
// case-insensitive, SIDs are upper case, IPv6 has many textual forms, URLs
// differ in default ports and fragments. The functions here are pure and
// return the empty key when the input holds no usable identifier; an empty
// key means "no entity", never "the entity with the empty name".
//
// Unifying a short host name with its FQDN ("WS-042" and
// "ws-042.corp.example") needs to know whether the short name is unique in the
// tenant, so it is done at correlation time; ShortHost gives the label to
// compare.
package entity

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Entity kinds for evidence that AIR keeps and keys but does not act on. They
// extend domain's kinds (which cover what AIR correlates and remediates) and
// are deliberately kept here: registry keys in particular are shared by every
// machine, so correlation should not link on them by default.
const (
	KindRegistryKey   domain.EntityKind = "registryKey"
	KindRegistryValue domain.EntityKind = "registryValue"
	KindCloudApp      domain.EntityKind = "cloudApp"
	// KindOAuthApp is domain's: AIR acts on OAuth apps (revokes their
	// consent grants, disables their service principal).
	KindOAuthApp = domain.KindOAuthApp
)

// key joins kind and id, or returns the empty key when id is empty.
func key(kind domain.EntityKind, id string) domain.EntityKey {
	if id == "" {
		return ""
	}
	return domain.EntityKey(string(kind) + ":" + id)
}

// Split returns the kind and identifier of a key, and false when k is not of
// the form "<kind>:<id>" with both parts non-empty.
func Split(k domain.EntityKey) (domain.EntityKind, string, bool) {
	kind, id, ok := strings.Cut(string(k), ":")
	if !ok || kind == "" || id == "" {
		return "", "", false
	}
	return domain.EntityKind(kind), id, true
}

// Device keys a device by its Defender for Endpoint id when there is one (it
// survives renames), else by its lower-case DNS name or, failing that, host
// name, without a trailing dot.
func Device(mdeDeviceID, dnsName, hostName string) domain.EntityKey {
	if id := strings.ToLower(strings.TrimSpace(mdeDeviceID)); id != "" {
		return key(domain.KindDevice, id)
	}
	if n := hostKey(dnsName); n != "" {
		return key(domain.KindDevice, n)
	}
	return key(domain.KindDevice, hostKey(hostName))
}

func hostKey(name string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(name)), ".")
}

// ShortHost returns the first DNS label of a host name, lower case:
// "WS-042.corp.example." → "ws-042". It is what correlation compares when
// deciding whether a short name and an FQDN are the same device.
func ShortHost(name string) string {
	first, _, _ := strings.Cut(hostKey(name), ".")
	return first
}

// User keys a user account by, in order of preference: UPN (lower case), SID
// (upper case), or account and domain. An account in a DNS domain becomes
// "account@domain"; one in a NetBIOS domain (no dot, e.g. "CORP" or "NT
// AUTHORITY") becomes "domain\account", because the two are not
// interchangeable without a directory lookup. A "DOMAIN\" prefix on the account
// name is stripped and used as the domain when none is given. An account name
// without a domain identifies nobody in particular ("administrator" exists on
// every machine) and yields no key, unless it is itself a UPN.
func User(upn, sid, accountName, domainName string) domain.EntityKey {
	if u := strings.ToLower(strings.TrimSpace(upn)); u != "" {
		return key(domain.KindUser, u)
	}
	if s := strings.ToUpper(strings.TrimSpace(sid)); s != "" {
		return key(domain.KindUser, s)
	}
	account := strings.ToLower(strings.TrimSpace(accountName))
	dom := strings.ToLower(strings.TrimSpace(domainName))
	if prefix, name, ok := strings.Cut(account, `\`); ok {
		account = strings.TrimSpace(name)
		if dom == "" {
			dom = strings.TrimSpace(prefix)
		}
	}
	switch {
	case account == "":
		return ""
	case dom == "":
		if strings.Contains(account, "@") {
			return key(domain.KindUser, account)
		}
		return ""
	case strings.Contains(dom, "."):
		return key(domain.KindUser, account+"@"+strings.TrimSuffix(dom, "."))
	default:
		return key(domain.KindUser, dom+`\`+account)
	}
}

// Mailbox keys a mailbox by its lower-case address. An Exchange "SMTP:"
// prefix is dropped.
func Mailbox(address string) domain.EntityKey {
	a := strings.ToLower(strings.TrimSpace(address))
	a = strings.TrimPrefix(a, "smtp:")
	return key(domain.KindMailbox, a)
}

// File keys a file by the strongest hash it has: SHA-256, else SHA-1, else
// MD5, lower case. A hash that is not hex of the right length is skipped, so
// that a placeholder such as "N/A" never links unrelated files.
func File(sha256, sha1, md5 string) domain.EntityKey {
	for _, h := range []struct {
		v string
		n int
	}{{sha256, 64}, {sha1, 40}, {md5, 32}} {
		if v := strings.ToLower(strings.TrimSpace(h.v)); isHex(v, h.n) {
			return key(domain.KindFile, v)
		}
	}
	return ""
}

func isHex(s string, n int) bool {
	if len(s) != n {
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

// Process keys a process by device, process id and creation time, which
// together are unique (process ids are reused). It returns no key unless all
// three are known. The time is written in UTC with RFC 3339 nanosecond
// precision so that differently written instants agree.
func Process(mdeDeviceID string, processID int64, created time.Time) domain.EntityKey {
	dev := strings.ToLower(strings.TrimSpace(mdeDeviceID))
	if dev == "" || processID < 0 || created.IsZero() {
		return ""
	}
	return key(domain.KindProcess, dev+":"+strconv.FormatInt(processID, 10)+":"+created.UTC().Format(time.RFC3339Nano))
}

// IP keys an IP address in canonical form: IPv6 compressed and lower case,
// IPv4-mapped IPv6 as plain IPv4, zone dropped. Empty or invalid input (real
// alerts carry empty ipAddress fields) yields no key.
func IP(s string) domain.EntityKey {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return key(domain.KindIP, addr.Unmap().WithZone("").String())
}

// URL keys a URL with its scheme and host lower-cased, the default port
// (:80 for http, :443 for https) and the fragment dropped, and the path and
// query kept exactly as sent (paths are case-sensitive on most servers). An
// empty path becomes "/". Input without a scheme ("evil.example/x") is read
// as http, as browsers and Defender indicators do. Input that does not parse,
// or has no host, yields no key.
func URL(s string) domain.EntityKey {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(s, "/") {
		s = "http://" + s
		u, err = url.Parse(s)
	}
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return ""
	}
	// Take path and query from the input itself: url.URL.String would
	// re-escape them, and two spellings of a path are not ours to unify.
	rest, _, _ := strings.Cut(s, "#")
	rest = strings.TrimSpace(rest) // "x/ #f" ends in a space only until the fragment goes
	_, rest, ok := strings.Cut(rest, "//")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	if rest == "" || rest[0] == '?' {
		rest = "/" + rest
	}

	host := strings.TrimRight(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		host = addr.Unmap().WithZone("").String()
		if addr.Unmap().Is6() {
			host = "[" + host + "]"
		}
	} else if !hostName(host) {
		return ""
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return ""
		}
		port = strconv.FormatUint(n, 10) // "080" and "80" are one port
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.User != nil {
		b.WriteString(u.User.String())
		b.WriteByte('@')
	}
	b.WriteString(host)
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	b.WriteString(rest)
	return key(domain.KindURL, b.String())
}

// hostName reports whether h can be a DNS (or internationalised) host name.
// url.Parse lets through hosts such as ":" that would not survive a second
// normalisation.
func hostName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 0x80:
		case c == '-', c == '.', c == '_', c == '~', c == '%':
		default:
			return false
		}
	}
	return h != ""
}

// Message keys an email message by its Microsoft 365 network message id,
// lower case (it is a GUID).
func Message(networkMessageID string) domain.EntityKey {
	return key(domain.KindMessage, strings.ToLower(strings.TrimSpace(networkMessageID)))
}

// RegistryKey keys a registry key by hive and path, lower case (the registry
// is case-insensitive): "registryKey:hkey_local_machine\software\…". Such keys
// are common to every Windows machine; see KindRegistryKey.
func RegistryKey(hive, path string) domain.EntityKey {
	p := registryPath(hive, path)
	return key(KindRegistryKey, p)
}

// RegistryValue keys a registry value by hive, key path and value name, lower
// case. It yields no key without a key path.
func RegistryValue(hive, path, valueName string) domain.EntityKey {
	p := registryPath(hive, path)
	if p == "" {
		return ""
	}
	return key(KindRegistryValue, p+`\`+strings.ToLower(strings.TrimSpace(valueName)))
}

func registryPath(hive, path string) string {
	h := strings.ToLower(strings.Trim(strings.TrimSpace(hive), `\`))
	p := strings.ToLower(strings.Trim(strings.TrimSpace(path), `\`))
	switch {
	case p == "":
		return ""
	case h == "":
		return p
	default:
		return h + `\` + p
	}
}

// CloudApp keys a cloud (SaaS) application by its Defender for Cloud Apps
// application id; ids are positive.
func CloudApp(appID int64) domain.EntityKey {
	if appID <= 0 {
		return ""
	}
	return key(KindCloudApp, strconv.FormatInt(appID, 10))
}

// OAuthApp keys an OAuth application by its Entra application (client) id,
// lower case.
func OAuthApp(appID string) domain.EntityKey {
	return key(KindOAuthApp, strings.ToLower(strings.TrimSpace(appID)))
}

// Kinds lists every kind of entity key AIR makes: domain's kinds and the
// ones kept here.
var Kinds = []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindMailbox, domain.KindFile,
	domain.KindProcess, domain.KindIP, domain.KindURL, domain.KindMessage, KindRegistryKey, KindRegistryValue,
	KindCloudApp, KindOAuthApp}
