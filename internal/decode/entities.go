package decode

import (
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// The builders below make evidence the way internal/graph does for the
// matching Graph evidence type — same Type, same key function, same display
// name and attribute names — so that one alert sent as Graph, OCSF or
// Sentinel yields one entity set and correlates as one.

func evidence(typ string, v domain.Verdict, e *domain.Entity) domain.Evidence {
	if v == "" {
		v = domain.VerdictUnknown
	}
	ev := domain.Evidence{Type: typ, Verdict: v, RemediationStatus: "none"}
	if e != nil && e.Key != "" {
		e.Verdict = v
		ev.Entity = e
	}
	return ev
}

// typeOnly is an evidence item without an entity: a known type without a
// usable key, or a type this package does not understand, namespaced by
// format ("ocsf.database", "sentinel.malware") so that
// graph.UnknownEvidenceTypes reports it. The item itself stays in the
// alert's raw document either way.
func typeOnly(typ string) domain.Evidence {
	return domain.Evidence{Type: typ, Verdict: domain.VerdictUnknown, RemediationStatus: "none"}
}

type device struct {
	mde, dns, host, os, group, ip, risk, health string
}

func (d device) evidence(v domain.Verdict) (domain.Evidence, bool) {
	key := entity.Device(d.mde, d.dns, d.host)
	if key == "" {
		return typeOnly("deviceEvidence"), false
	}
	a := attrs{}
	a.set("mdeDeviceId", d.mde)
	a.set("deviceDnsName", d.dns)
	a.set("hostName", d.host)
	a.set("osPlatform", d.os)
	a.set("deviceGroup", d.group)
	a.set("riskScore", d.risk)
	a.set("healthStatus", d.health)
	a.set("lastIpAddress", d.ip)
	return evidence("deviceEvidence", v, &domain.Entity{Key: key, Kind: domain.KindDevice,
		Name: firstNonEmpty(d.dns, d.host, d.mde), Attrs: a.orNil()}), true
}

type account struct {
	name, domain, upn, sid, aadID, display string
}

func (acc account) evidence(v domain.Verdict) (domain.Evidence, bool) {
	key := entity.User(acc.upn, acc.sid, acc.name, acc.domain)
	if key == "" {
		return typeOnly("userEvidence"), false
	}
	a := attrs{}
	a.set("upn", acc.upn)
	a.set("accountName", acc.name)
	a.set("domainName", acc.domain)
	a.set("sid", acc.sid)
	a.set("azureAdUserId", acc.aadID)
	a.set("displayName", acc.display)
	qualified := ""
	if n, d := strings.TrimSpace(acc.name), strings.TrimSpace(acc.domain); n != "" && d != "" && !strings.Contains(n, `\`) {
		qualified = d + `\` + n
	}
	return evidence("userEvidence", v, &domain.Entity{Key: key, Kind: domain.KindUser,
		Name: firstNonEmpty(acc.upn, qualified, acc.name, acc.display, acc.sid), Attrs: a.orNil()}), true
}

func ipEvidence(ip, country string, v domain.Verdict) (domain.Evidence, bool) {
	key := entity.IP(ip)
	if key == "" {
		return typeOnly("ipEvidence"), false
	}
	_, canonical, _ := entity.Split(key)
	a := attrs{}
	a.set("ipAddress", ip)
	a.set("countryLetterCode", country)
	return evidence("ipEvidence", v, &domain.Entity{Key: key, Kind: domain.KindIP, Name: canonical, Attrs: a.orNil()}), true
}

func urlEvidence(u string, v domain.Verdict) (domain.Evidence, bool) {
	key := entity.URL(u)
	if key == "" {
		return typeOnly("urlEvidence"), false
	}
	a := attrs{}
	a.set("url", u)
	return evidence("urlEvidence", v, &domain.Entity{Key: key, Kind: domain.KindURL, Name: strings.TrimSpace(u), Attrs: a.orNil()}), true
}

type file struct {
	name, path, sha1, sha256, md5, mde string
}

func (f file) evidence(v domain.Verdict) (domain.Evidence, bool) {
	key := entity.File(f.sha256, f.sha1, f.md5)
	if key == "" {
		return typeOnly("fileEvidence"), false
	}
	a := attrs{}
	a.set("fileName", f.name)
	a.set("filePath", f.path)
	a.set("sha1", f.sha1)
	a.set("sha256", f.sha256)
	a.set("md5", f.md5)
	a.set("mdeDeviceId", f.mde)
	return evidence("fileEvidence", v, &domain.Entity{Key: key, Kind: domain.KindFile,
		Name: firstNonEmpty(f.name, f.sha256, f.sha1, f.md5), Attrs: a.orNil()}), true
}

type process struct {
	mde     string
	pid     int64
	hasPID  bool
	created *time.Time
	cmd     string
	image   string
}

func (p process) evidence(v domain.Verdict) (domain.Evidence, bool) {
	if !p.hasPID || p.created == nil {
		return typeOnly("processEvidence"), false
	}
	key := entity.Process(p.mde, p.pid, *p.created)
	if key == "" {
		return typeOnly("processEvidence"), false
	}
	a := attrs{}
	a.set("processId", strconv.FormatInt(p.pid, 10))
	a.set("processCommandLine", p.cmd)
	a.set("imageFileName", p.image)
	a.set("mdeDeviceId", p.mde)
	return evidence("processEvidence", v, &domain.Entity{Key: key, Kind: domain.KindProcess,
		Name: firstNonEmpty(p.image, "process "+strconv.FormatInt(p.pid, 10)), Attrs: a.orNil()}), true
}

func mailboxEvidence(addr, display, upn string, v domain.Verdict) (domain.Evidence, bool) {
	key := entity.Mailbox(addr)
	if key == "" {
		return typeOnly("mailboxEvidence"), false
	}
	a := attrs{}
	a.set("primaryAddress", addr)
	a.set("displayName", display)
	a.set("upn", upn)
	return evidence("mailboxEvidence", v, &domain.Entity{Key: key, Kind: domain.KindMailbox,
		Name: firstNonEmpty(addr, display), Attrs: a.orNil()}), true
}

type message struct {
	nmid, imid, subject, senderIP, recipient, p1, p2, action, location string
}

func (m message) evidence(v domain.Verdict) (domain.Evidence, bool) {
	key := entity.Message(m.nmid)
	if key == "" {
		return typeOnly("analyzedMessageEvidence"), false
	}
	a := attrs{}
	a.set("networkMessageId", m.nmid)
	a.set("internetMessageId", m.imid)
	a.set("subject", m.subject)
	a.set("senderIp", m.senderIP)
	a.set("recipientEmailAddress", m.recipient)
	a.set("p1Sender", m.p1)
	a.set("p2Sender", m.p2)
	a.set("deliveryAction", m.action)
	a.set("deliveryLocation", m.location)
	return evidence("analyzedMessageEvidence", v, &domain.Entity{Key: key, Kind: domain.KindMessage,
		Name: firstNonEmpty(m.subject, m.imid, m.nmid), Attrs: a.orNil()}), true
}

func registryEvidence(hive, key, valueName, valueType string, v domain.Verdict) (domain.Evidence, bool) {
	name := strings.TrimSpace(hive)
	if k := strings.TrimSpace(key); name == "" {
		name = k
	} else if k != "" {
		name += `\` + k
	}
	a := attrs{}
	a.set("registryHive", hive)
	a.set("registryKey", key)
	if valueName == "" {
		k := entity.RegistryKey(hive, key)
		if k == "" {
			return typeOnly("registryKeyEvidence"), false
		}
		return evidence("registryKeyEvidence", v, &domain.Entity{Key: k, Kind: entity.KindRegistryKey, Name: name, Attrs: a.orNil()}), true
	}
	k := entity.RegistryValue(hive, key, valueName)
	if k == "" {
		return typeOnly("registryValueEvidence"), false
	}
	a.set("registryValueName", valueName)
	a.set("registryValueType", valueType)
	return evidence("registryValueEvidence", v, &domain.Entity{Key: k, Kind: entity.KindRegistryValue,
		Name: name + `\` + strings.TrimSpace(valueName), Attrs: a.orNil()}), true
}

func cloudAppEvidence(id int64, name string, v domain.Verdict) (domain.Evidence, bool) {
	key := entity.CloudApp(id)
	if key == "" {
		return typeOnly("cloudApplicationEvidence"), false
	}
	a := attrs{}
	a.set("appId", strconv.FormatInt(id, 10))
	a.set("displayName", name)
	return evidence("cloudApplicationEvidence", v, &domain.Entity{Key: key, Kind: entity.KindCloudApp, Name: name, Attrs: a.orNil()}), true
}

func oauthAppEvidence(id, name string, v domain.Verdict) (domain.Evidence, bool) {
	key := entity.OAuthApp(id)
	if key == "" {
		return typeOnly("oauthApplicationEvidence"), false
	}
	a := attrs{}
	a.set("appId", id)
	a.set("displayName", name)
	return evidence("oauthApplicationEvidence", v, &domain.Entity{Key: key, Kind: entity.KindOAuthApp,
		Name: firstNonEmpty(name, id), Attrs: a.orNil()}), true
}

// keep appends ev even when it has no entity: an evidence item the
// provider sent is never dropped, only left unkeyed.
func keep(list []domain.Evidence, ev domain.Evidence, ok bool) []domain.Evidence {
	if !ok {
		return append(list, ev)
	}
	return add(list, ev, true)
}

// add appends ev unless ok is false or an item of the same type and key is
// already there (OCSF and Sentinel often name one entity in several places).
func add(list []domain.Evidence, ev domain.Evidence, ok bool) []domain.Evidence {
	if !ok {
		return list
	}
	if ev.Entity != nil {
		for i, e := range list {
			if e.Entity != nil && e.Entity.Key == ev.Entity.Key {
				list[i].Verdict = domain.StrongerVerdict(e.Verdict, ev.Verdict)
				list[i].Entity.Verdict = list[i].Verdict
				return list
			}
		}
	}
	return append(list, ev)
}
