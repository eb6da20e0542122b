package entity

import (
	"net/netip"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// Name is one identifier a device or user goes by, as the key it would have
// if a product sent it alone, and what it is in SOC terms ("MDE id",
// "FQDN", "UPN", …).
type Name struct {
	Key  domain.EntityKey
	What string
}

// Names returns the identifiers one device or user evidence item names
// together, its own key first, each once: for a device its Defender device
// id, DNS name, host (NetBIOS or short) name and its private IP addresses
// (lastIpAddress and ipInterfaces); for a user its UPN, SID,
// DOMAIN\account and Entra object id. Evidence that names two of them is
// what makes them one device or user (correlation's aliases); the key
// itself still picks one (Device, User), so that stored keys never change.
// Nil for other kinds and for an entity that names only its key.
func Names(e domain.Entity) []Name {
	var keys []Name
	add := func(k domain.EntityKey, what string) {
		if k == "" {
			return
		}
		for _, n := range keys {
			if n.Key == k {
				return
			}
		}
		keys = append(keys, Name{k, what})
	}
	at := e.Attrs
	switch e.Kind {
	case domain.KindDevice:
		add(e.Key, What(e.Key))
		add(Device(at["mdeDeviceId"], "", ""), "MDE id")
		for _, h := range []string{at["deviceDnsName"], at["hostName"]} {
			if k := Device("", h, ""); k != "" {
				add(k, What(k))
			}
		}
		ips := []string{at["lastIpAddress"]}
		ips = append(ips, strings.Split(at["ipInterfaces"], ",")...)
		for _, ip := range ips {
			if AliasIP(ip) {
				add(IP(ip), "IP")
			}
		}
	case domain.KindUser:
		add(e.Key, What(e.Key))
		add(User(at["upn"], "", "", ""), "UPN")
		add(User("", at["sid"], "", ""), "SID")
		add(User("", "", at["accountName"], at["domainName"]), "account")
		add(EntraUser(at["azureAdUserId"]), "Entra object id")
	default:
		return nil
	}
	if len(keys) < 2 {
		return nil
	}
	return keys
}

// EntraUser keys a user by its Entra (Azure AD) object id, lower case. A
// GUID cannot be taken for a UPN, SID or DOMAIN\account, so the key needs
// no prefix of its own. Only aliases use it: User prefers the identifiers
// that every product carries.
func EntraUser(objectID string) domain.EntityKey {
	id := strings.ToLower(strings.TrimSpace(objectID))
	if len(id) != 36 || strings.Count(id, "-") != 4 || !isHex(strings.ReplaceAll(id, "-", ""), 32) {
		return ""
	}
	return key(domain.KindUser, id)
}

// AliasIP reports whether an address may stand for one device: only
// private addresses (RFC 1918, IPv6 unique local). A public address is a
// NAT gateway or a proxy for many devices, and loopback, link-local,
// multicast and unspecified addresses are the same on every machine.
func AliasIP(s string) bool {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	return err == nil && addr.Unmap().IsPrivate()
}

// What says what an identifier of a device or user is, from its key alone:
// "MDE id", "FQDN", "host name", "IP", "UPN", "SID", "account" or "Entra
// object id"; "" for other kinds.
func What(k domain.EntityKey) string {
	kind, id, ok := Split(k)
	if !ok {
		return ""
	}
	switch kind {
	case domain.KindIP:
		return "IP"
	case domain.KindDevice:
		switch {
		case isHex(id, 40):
			return "MDE id"
		case strings.Contains(id, "."):
			return "FQDN"
		}
		return "host name"
	case domain.KindUser:
		switch {
		case strings.HasPrefix(id, "S-1-"):
			return "SID"
		case strings.Contains(id, "@"):
			return "UPN"
		case strings.Contains(id, `\`):
			return "account"
		case EntraUser(id) != "":
			return "Entra object id"
		}
	}
	return ""
}
