package graph

import (
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// evidenceMappers maps each evidence type this package knows to the function
// that builds its entity. Types that AIR keeps but has no key for map to nil.
// A type missing from this table is unknown: kept, and reported by
// UnknownEvidenceTypes.
var evidenceMappers = map[string]func(*object) *domain.Entity{
	"deviceEvidence":           deviceEntity,
	"userEvidence":             userEntity,
	"mailboxEvidence":          mailboxEntity,
	"fileEvidence":             fileEntity,
	"processEvidence":          processEntity,
	"ipEvidence":               ipEntity,
	"urlEvidence":              urlEntity,
	"analyzedMessageEvidence":  messageEntity,
	"mailClusterEvidence":      nil, // a query over messages, not a thing
	"registryKeyEvidence":      registryKeyEntity,
	"registryValueEvidence":    registryValueEntity,
	"cloudApplicationEvidence": cloudAppEntity,
	"oauthApplicationEvidence": oauthAppEntity,
}

// attrs collects the non-empty values of notable fields, keyed by name.
type attrs map[string]string

func (a attrs) set(name, v string) {
	if v = strings.TrimSpace(v); v != "" {
		a[name] = v
	}
}

// orNil drops an empty attribute map so that entities without notable fields
// carry none.
func (a attrs) orNil() map[string]string {
	if len(a) == 0 {
		return nil
	}
	return a
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func deviceEntity(o *object) *domain.Entity {
	mde, dns, host := o.str("mdeDeviceId"), o.str("deviceDnsName"), o.str("hostName")
	a := attrs{}
	a.set("mdeDeviceId", mde)
	a.set("deviceDnsName", dns)
	a.set("hostName", host)
	a.set("osPlatform", o.str("osPlatform"))
	a.set("deviceGroup", o.str("rbacGroupName"))
	a.set("riskScore", o.str("riskScore"))
	a.set("healthStatus", o.str("healthStatus"))
	a.set("lastIpAddress", o.str("lastIpAddress"))
	// The addresses the device had when the alert was raised: aliases of
	// it at that time (entity.Names).
	a.set("ipInterfaces", strings.Join(o.strs("ipInterfaces"), ","))
	return &domain.Entity{
		Key:   entity.Device(mde, dns, host),
		Kind:  domain.KindDevice,
		Name:  firstNonEmpty(dns, host, mde),
		Attrs: a.orNil(),
	}
}

// account is the userAccount complex type, shared by several evidence types.
type account struct {
	name, domain, upn, sid, aadID, display string
}

func readAccount(o *object) account {
	if o == nil {
		return account{}
	}
	return account{
		name:    o.str("accountName"),
		domain:  o.str("domainName"),
		upn:     o.str("userPrincipalName"),
		sid:     o.str("userSid"),
		aadID:   o.str("azureAdUserId"),
		display: o.str("displayName"),
	}
}

func userEntity(o *object) *domain.Entity {
	acc := readAccount(o.object("userAccount"))
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
	return &domain.Entity{
		Key:   entity.User(acc.upn, acc.sid, acc.name, acc.domain),
		Kind:  domain.KindUser,
		Name:  firstNonEmpty(acc.upn, qualified, acc.name, acc.display, acc.sid),
		Attrs: a.orNil(),
	}
}

func mailboxEntity(o *object) *domain.Entity {
	addr, display := o.str("primaryAddress"), o.str("displayName")
	upn := o.str("upn")
	if upn == "" {
		upn = readAccount(o.object("userAccount")).upn
	}
	a := attrs{}
	a.set("primaryAddress", addr)
	a.set("displayName", display)
	a.set("upn", upn)
	return &domain.Entity{
		Key:   entity.Mailbox(addr),
		Kind:  domain.KindMailbox,
		Name:  firstNonEmpty(addr, display),
		Attrs: a.orNil(),
	}
}

func fileEntity(o *object) *domain.Entity {
	mde := o.str("mdeDeviceId")
	fd := o.object("fileDetails")
	if fd == nil {
		return nil
	}
	name, path := fd.str("fileName"), fd.str("filePath")
	sha1, sha256, md5 := fd.str("sha1"), fd.str("sha256"), fd.str("md5")
	a := attrs{}
	a.set("fileName", name)
	a.set("filePath", path)
	a.set("sha1", sha1)
	a.set("sha256", sha256)
	a.set("md5", md5)
	a.set("mdeDeviceId", mde)
	return &domain.Entity{
		Key:   entity.File(sha256, sha1, md5),
		Kind:  domain.KindFile,
		Name:  firstNonEmpty(name, sha256, sha1, md5),
		Attrs: a.orNil(),
	}
}

func processEntity(o *object) *domain.Entity {
	mde := o.str("mdeDeviceId")
	pid, hasPID := o.int("processId")
	created := o.time("processCreationDateTime")
	cmd := o.str("processCommandLine")
	image := ""
	if img := o.object("imageFile"); img != nil {
		image = img.str("fileName")
	}
	if !hasPID || created == nil {
		return nil
	}
	a := attrs{}
	a.set("processId", strconv.FormatInt(pid, 10))
	a.set("processCommandLine", cmd)
	a.set("imageFileName", image)
	a.set("mdeDeviceId", mde)
	return &domain.Entity{
		Key:   entity.Process(mde, pid, *created),
		Kind:  domain.KindProcess,
		Name:  firstNonEmpty(image, "process "+strconv.FormatInt(pid, 10)),
		Attrs: a.orNil(),
	}
}

func ipEntity(o *object) *domain.Entity {
	ip := o.str("ipAddress")
	a := attrs{}
	a.set("ipAddress", ip)
	a.set("countryLetterCode", o.str("countryLetterCode"))
	key := entity.IP(ip)
	_, canonical, _ := entity.Split(key)
	return &domain.Entity{Key: key, Kind: domain.KindIP, Name: canonical, Attrs: a.orNil()}
}

func urlEntity(o *object) *domain.Entity {
	u := o.str("url")
	a := attrs{}
	a.set("url", u)
	return &domain.Entity{Key: entity.URL(u), Kind: domain.KindURL, Name: strings.TrimSpace(u), Attrs: a.orNil()}
}

// sender reads an emailSender, which Graph sends as an object; a bare
// address string is accepted too.
func sender(o *object, name string) string {
	v := o.value(name)
	if v < 0 {
		return ""
	}
	if o.doc.kind(v) == "string" {
		return o.str(name)
	}
	s := o.object(name)
	if s == nil {
		return ""
	}
	addr := s.str("emailAddress")
	return addr
}

func messageEntity(o *object) *domain.Entity {
	nmid, imid, subject := o.str("networkMessageId"), o.str("internetMessageId"), o.str("subject")
	a := attrs{}
	a.set("networkMessageId", nmid)
	a.set("internetMessageId", imid)
	a.set("subject", subject)
	a.set("senderIp", o.str("senderIp"))
	a.set("recipientEmailAddress", o.str("recipientEmailAddress"))
	a.set("p1Sender", sender(o, "p1Sender"))
	a.set("p2Sender", sender(o, "p2Sender"))
	a.set("deliveryAction", o.str("deliveryAction"))
	a.set("deliveryLocation", o.str("deliveryLocation"))
	return &domain.Entity{
		Key:   entity.Message(nmid),
		Kind:  domain.KindMessage,
		Name:  firstNonEmpty(subject, imid, nmid),
		Attrs: a.orNil(),
	}
}

func registryKeyEntity(o *object) *domain.Entity {
	hive, key := o.str("registryHive"), o.str("registryKey")
	a := attrs{}
	a.set("registryHive", hive)
	a.set("registryKey", key)
	return &domain.Entity{
		Key:   entity.RegistryKey(hive, key),
		Kind:  entity.KindRegistryKey,
		Name:  registryName(hive, key),
		Attrs: a.orNil(),
	}
}

func registryValueEntity(o *object) *domain.Entity {
	hive, key, name := o.str("registryHive"), o.str("registryKey"), o.str("registryValueName")
	a := attrs{}
	a.set("registryHive", hive)
	a.set("registryKey", key)
	a.set("registryValueName", name)
	a.set("registryValueType", o.str("registryValueType"))
	a.set("mdeDeviceId", o.str("mdeDeviceId"))
	return &domain.Entity{
		Key:   entity.RegistryValue(hive, key, name),
		Kind:  entity.KindRegistryValue,
		Name:  registryName(hive, key) + `\` + strings.TrimSpace(name),
		Attrs: a.orNil(),
	}
}

func registryName(hive, key string) string {
	hive, key = strings.TrimSpace(hive), strings.TrimSpace(key)
	if hive == "" {
		return key
	}
	return hive + `\` + key
}

func cloudAppEntity(o *object) *domain.Entity {
	id, _ := o.int("appId")
	name := o.str("displayName")
	a := attrs{}
	if id > 0 {
		a.set("appId", strconv.FormatInt(id, 10))
	}
	a.set("displayName", name)
	a.set("instanceName", o.str("instanceName"))
	return &domain.Entity{Key: entity.CloudApp(id), Kind: entity.KindCloudApp, Name: name, Attrs: a.orNil()}
}

func oauthAppEntity(o *object) *domain.Entity {
	id, name := o.str("appId"), o.str("displayName")
	a := attrs{}
	a.set("appId", id)
	a.set("displayName", name)
	a.set("objectId", o.str("objectId"))
	a.set("publisher", o.str("publisher"))
	return &domain.Entity{Key: entity.OAuthApp(id), Kind: entity.KindOAuthApp, Name: firstNonEmpty(name, id), Attrs: a.orNil()}
}
