package playbook

import (
	"cmp"
	"slices"

	"github.com/airsoc/air/internal/domain"
)

// Env is what playbook expressions see: the incident, its alerts and its
// entities by kind. Expressions are type-checked against this struct at load
// time, so a field a playbook reads is a field that exists.
//
// Build it with NewEnv from a snapshot the workflow got from an activity; the
// workflow must not build it from anything it read itself. Lists are never
// nil and entities are sorted by key, so evaluation does not depend on the
// order the snapshot happened to be in. Env holds no limit on list sizes:
// keep the snapshot bounded (a few thousand items per list), because an
// expression that nests two predicates does work proportional to the product
// of two lists' lengths.
//
// Env has no methods on purpose: expr exposes methods of the environment as
// functions.
type Env struct {
	Incident  IncidentView `expr:"incident" json:"incident"`
	Alerts    []AlertView  `expr:"alerts" json:"alerts"`
	Devices   []EntityView `expr:"devices" json:"devices"`
	Users     []EntityView `expr:"users" json:"users"`
	Mailboxes []EntityView `expr:"mailboxes" json:"mailboxes"`
	Files     []EntityView `expr:"files" json:"files"`
	Processes []EntityView `expr:"processes" json:"processes"`
	IPs       []EntityView `expr:"ips" json:"ips"`
	URLs      []EntityView `expr:"urls" json:"urls"`
	Messages  []EntityView `expr:"messages" json:"messages"`
}

// IncidentView is the incident as expressions see it (`incident`).
type IncidentView struct {
	ID             int64    `expr:"id" json:"id"`
	DisplayName    string   `expr:"displayName" json:"displayName"`
	Severity       string   `expr:"severity" json:"severity"`
	Status         string   `expr:"status" json:"status"`
	Classification string   `expr:"classification" json:"classification"`
	Determination  string   `expr:"determination" json:"determination"`
	AssignedTo     string   `expr:"assignedTo" json:"assignedTo"`
	AlertCount     int      `expr:"alertCount" json:"alertCount"`
	Tags           []string `expr:"tags" json:"tags"`
}

// AlertView is an alert as expressions see it (an element of `alerts`).
type AlertView struct {
	ID              string   `expr:"id" json:"id"`
	Title           string   `expr:"title" json:"title"`
	Severity        string   `expr:"severity" json:"severity"`
	Status          string   `expr:"status" json:"status"`
	Category        string   `expr:"category" json:"category"`
	ServiceSource   string   `expr:"serviceSource" json:"serviceSource"`
	DetectionSource string   `expr:"detectionSource" json:"detectionSource"`
	ProductName     string   `expr:"productName" json:"productName"`
	MitreTechniques []string `expr:"mitreTechniques" json:"mitreTechniques"`
}

// EntityView is an entity as expressions see it (an element of `devices`,
// `users`, …). Every kind has the same flat set of fields; the ones that do
// not apply to a kind are empty strings, so `.upn` on a device is "" rather
// than an error.
type EntityView struct {
	Key     string `expr:"key" json:"key"`
	Kind    string `expr:"kind" json:"kind"`
	Name    string `expr:"name" json:"name"`
	Verdict string `expr:"verdict" json:"verdict"`

	// device
	DeviceGroup  string `expr:"deviceGroup" json:"deviceGroup,omitempty"`
	OSPlatform   string `expr:"osPlatform" json:"osPlatform,omitempty"`
	HostName     string `expr:"hostName" json:"hostName,omitempty"`
	DNSName      string `expr:"dnsName" json:"dnsName,omitempty"`
	MDEDeviceID  string `expr:"mdeDeviceId" json:"mdeDeviceId,omitempty"`
	RiskScore    string `expr:"riskScore" json:"riskScore,omitempty"`
	HealthStatus string `expr:"healthStatus" json:"healthStatus,omitempty"`
	// user, mailbox
	UPN         string `expr:"upn" json:"upn,omitempty"`
	AccountName string `expr:"accountName" json:"accountName,omitempty"`
	DomainName  string `expr:"domainName" json:"domainName,omitempty"`
	SID         string `expr:"sid" json:"sid,omitempty"`
	Address     string `expr:"address" json:"address,omitempty"`
	// file, process
	FileName string `expr:"fileName" json:"fileName,omitempty"`
	FilePath string `expr:"filePath" json:"filePath,omitempty"`
	SHA1     string `expr:"sha1" json:"sha1,omitempty"`
	SHA256   string `expr:"sha256" json:"sha256,omitempty"`
	MD5      string `expr:"md5" json:"md5,omitempty"`
	// ip, url, message
	IP        string `expr:"ip" json:"ip,omitempty"`
	URL       string `expr:"url" json:"url,omitempty"`
	Subject   string `expr:"subject" json:"subject,omitempty"`
	Sender    string `expr:"sender" json:"sender,omitempty"`
	Recipient string `expr:"recipient" json:"recipient,omitempty"`

	Tags []string `expr:"tags" json:"tags"`
}

// entityLists names the Env list of each entity kind, in Env's field order.
var entityLists = []struct {
	kind domain.EntityKind
	name string // the expression variable
}{
	{domain.KindDevice, "devices"},
	{domain.KindUser, "users"},
	{domain.KindMailbox, "mailboxes"},
	{domain.KindFile, "files"},
	{domain.KindProcess, "processes"},
	{domain.KindIP, "ips"},
	{domain.KindURL, "urls"},
	{domain.KindMessage, "messages"},
}

// listOf returns the expression variable holding entities of kind k.
func listOf(k domain.EntityKind) string {
	for _, l := range entityLists {
		if l.kind == k {
			return l.name
		}
	}
	return string(k) + "s"
}

// kindOfList returns the entity kind a variable of Env holds, if it holds one.
func kindOfList(name string) (domain.EntityKind, bool) {
	for _, l := range entityLists {
		if l.name == name {
			return l.kind, true
		}
	}
	return "", false
}

// list returns the Env slice that holds entities of kind k, or nil for a
// kind Env does not expose.
func (e *Env) list(k domain.EntityKind) *[]EntityView {
	switch k {
	case domain.KindDevice:
		return &e.Devices
	case domain.KindUser:
		return &e.Users
	case domain.KindMailbox:
		return &e.Mailboxes
	case domain.KindFile:
		return &e.Files
	case domain.KindProcess:
		return &e.Processes
	case domain.KindIP:
		return &e.IPs
	case domain.KindURL:
		return &e.URLs
	case domain.KindMessage:
		return &e.Messages
	}
	return nil
}

// attrFields maps an EntityView field to the Attrs keys that fill it, the
// first present one winning. Keys are Graph field names; the second name of
// a pair is the Graph alias some producers use.
var attrFields = []struct {
	keys []string
	set  func(v *EntityView, s string)
}{
	{[]string{"mdeDeviceId"}, func(v *EntityView, s string) { v.MDEDeviceID = s }},
	{[]string{"deviceDnsName", "dnsName"}, func(v *EntityView, s string) { v.DNSName = s }},
	{[]string{"hostName"}, func(v *EntityView, s string) { v.HostName = s }},
	{[]string{"osPlatform"}, func(v *EntityView, s string) { v.OSPlatform = s }},
	{[]string{"deviceGroup", "rbacGroupName"}, func(v *EntityView, s string) { v.DeviceGroup = s }},
	{[]string{"riskScore"}, func(v *EntityView, s string) { v.RiskScore = s }},
	{[]string{"healthStatus"}, func(v *EntityView, s string) { v.HealthStatus = s }},
	{[]string{"upn", "userPrincipalName"}, func(v *EntityView, s string) { v.UPN = s }},
	{[]string{"accountName"}, func(v *EntityView, s string) { v.AccountName = s }},
	{[]string{"domainName"}, func(v *EntityView, s string) { v.DomainName = s }},
	{[]string{"sid", "userSid"}, func(v *EntityView, s string) { v.SID = s }},
	{[]string{"primaryAddress"}, func(v *EntityView, s string) { v.Address = s }},
	{[]string{"fileName"}, func(v *EntityView, s string) { v.FileName = s }},
	{[]string{"filePath"}, func(v *EntityView, s string) { v.FilePath = s }},
	{[]string{"sha1"}, func(v *EntityView, s string) { v.SHA1 = s }},
	{[]string{"sha256"}, func(v *EntityView, s string) { v.SHA256 = s }},
	{[]string{"md5"}, func(v *EntityView, s string) { v.MD5 = s }},
	{[]string{"ipAddress"}, func(v *EntityView, s string) { v.IP = s }},
	{[]string{"url"}, func(v *EntityView, s string) { v.URL = s }},
	{[]string{"subject"}, func(v *EntityView, s string) { v.Subject = s }},
	{[]string{"p1Sender"}, func(v *EntityView, s string) { v.Sender = s }},
	{[]string{"recipientEmailAddress"}, func(v *EntityView, s string) { v.Recipient = s }},
}

// NewEnv builds the expression environment from an incident snapshot.
//
// Entities are deduplicated by key (keeping the strongest verdict and the
// first value of each attribute) and sorted by key; alerts are sorted by
// creation time, then id. Entities of kinds Env has no list for (registry
// keys, cloud applications, …) are left out. incident.tags are the
// incident's custom tags; domain.Entity carries no tags yet, so entity tags
// are empty lists.
func NewEnv(inc domain.Incident, alerts []domain.Alert, entities []domain.Entity) *Env {
	env := &Env{
		Incident: IncidentView{
			ID:             inc.ID,
			DisplayName:    inc.DisplayName,
			Severity:       string(inc.Severity),
			Status:         string(inc.Status),
			Classification: inc.Classification,
			Determination:  inc.Determination,
			AssignedTo:     inc.AssignedTo,
			AlertCount:     inc.AlertCount,
			Tags:           append([]string{}, inc.CustomTags...),
		},
		Alerts: make([]AlertView, 0, len(alerts)),
	}
	for _, l := range entityLists {
		*env.list(l.kind) = []EntityView{}
	}

	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b domain.Alert) int {
		if c := a.CreatedDateTime.Compare(b.CreatedDateTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, a := range sorted {
		env.Alerts = append(env.Alerts, AlertView{
			ID:              a.ID,
			Title:           a.Title,
			Severity:        string(a.Severity),
			Status:          string(a.Status),
			Category:        a.Category,
			ServiceSource:   a.ServiceSource,
			DetectionSource: a.DetectionSource,
			ProductName:     a.ProductName,
			MitreTechniques: append([]string{}, a.MitreTechniques...),
		})
	}

	byKey := make(map[domain.EntityKey]int, len(entities))
	var merged []domain.Entity
	for _, e := range entities {
		i, seen := byKey[e.Key]
		if !seen {
			byKey[e.Key] = len(merged)
			e.Attrs = cloneAttrs(e.Attrs)
			merged = append(merged, e)
			continue
		}
		m := &merged[i]
		m.Verdict = domain.StrongerVerdict(m.Verdict, e.Verdict)
		if m.Name == "" {
			m.Name = e.Name
		}
		for k, v := range e.Attrs {
			if m.Attrs[k] == "" {
				m.Attrs[k] = v
			}
		}
	}
	slices.SortFunc(merged, func(a, b domain.Entity) int { return cmp.Compare(a.Key, b.Key) })
	for _, e := range merged {
		l := env.list(e.Kind)
		if l == nil {
			continue
		}
		*l = append(*l, entityView(e))
	}
	return env
}

func cloneAttrs(a map[string]string) map[string]string {
	c := make(map[string]string, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

func entityView(e domain.Entity) EntityView {
	v := EntityView{
		Key:     string(e.Key),
		Kind:    string(e.Kind),
		Name:    e.Name,
		Verdict: string(e.Verdict),
		Tags:    []string{},
	}
	if v.Verdict == "" {
		v.Verdict = string(domain.VerdictUnknown)
	}
	for _, f := range attrFields {
		for _, k := range f.keys {
			if s := e.Attrs[k]; s != "" {
				f.set(&v, s)
				break
			}
		}
	}
	return v
}
