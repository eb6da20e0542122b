package playbook

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
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
// Steps, Error and FailedStep are the workflow's to fill as steps run: the
// outputs of the steps run so far (by step id), and inside an error handler
// the failing step's error and id. Inside a sub-playbook, Steps holds the
// sub-playbook's own steps (see WithInputs).
//
// Env has no methods on purpose: expr exposes methods of the environment as
// functions, and a sub-playbook's environment embeds *Env in a struct made
// with reflect.StructOf, which cannot embed a type with methods. Its
// unexported fields are invisible to expressions.
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
	OAuthApps []EntityView `expr:"oauthApps" json:"oauthApps"`

	Steps      map[string]StepOutput `expr:"steps" json:"steps,omitempty"`
	Error      string                `expr:"error" json:"error,omitempty"`
	FailedStep string                `expr:"failed_step" json:"failedStep,omitempty"`

	// inputs are a sub-playbook's inputs as a use step's Invocation.Args
	// gave them; see WithInputs.
	inputs map[string]any
}

// Step output statuses (StepOutput.Status).
const (
	StepSucceeded = "succeeded" // every invocation succeeded
	StepFailed    = "failed"    // every invocation failed
	StepPartial   = "partial"   // some succeeded, some did not
	StepSkipped   = "skipped"   // nothing ran: when was false, for_each was empty, or the step was not reached
	StepPending   = "pending"   // an invocation still waits for a decision
)

// StepOutput is what later steps read of an earlier one as steps.ID.
type StepOutput struct {
	Status    string `expr:"status" json:"status"` // StepSucceeded, StepFailed, …
	Count     int    `expr:"count" json:"count"`   // invocations
	Succeeded int    `expr:"succeeded" json:"succeeded"`
	Failed    int    `expr:"failed" json:"failed"`
	Skipped   int    `expr:"skipped" json:"skipped"` // rejected, expired or left out by policy
	Pending   int    `expr:"pending" json:"pending"`
	// Results has one entry per invocation, in Expand order.
	Results []ActionOutput `expr:"results" json:"results"`
	Error   string         `expr:"error" json:"error,omitempty"` // the first failure's error

	// Answer is an ask step's answer, the choice taken (single-choice
	// asks; reading it of a multiple-choice ask is a load error); Answers
	// every choice taken, in the order given; AnsweredBy who answered
	// ("system:timeout" when the default applied). Ask steps only.
	Answer     string   `expr:"answer" json:"answer,omitempty"`
	Answers    []string `expr:"answers" json:"answers,omitempty"`
	AnsweredBy string   `expr:"answeredBy" json:"answeredBy,omitempty"`
	// TimedOut says an ask or a wait step's time ran out.
	TimedOut bool `expr:"timedOut" json:"timedOut,omitempty"`
	// Met says a wait step's condition held. Wait steps only.
	Met bool `expr:"met" json:"met,omitempty"`
}

// ActionOutput is the outcome of one invocation of a step.
type ActionOutput struct {
	Target     string         `expr:"target" json:"target"` // entity key; "" for incident actions
	TargetName string         `expr:"targetName" json:"targetName"`
	Status     string         `expr:"status" json:"status"` // the action's final status (domain.ActionStatus)
	Result     string         `expr:"result" json:"result"`
	Error      string         `expr:"error" json:"error"`
	Output     map[string]any `expr:"output" json:"output,omitempty"` // what the action returned, if anything
}

// WithInputs returns the environment a sub-playbook's steps run in: env's
// incident, alerts and entities, the inputs a use step's Invocation.Args
// gave, and no step outputs or error yet (a sub-playbook's steps read their
// own steps' outputs: set Steps on the result as they run). env is not
// changed. It is a function, not a method, because expressions would see
// a method of Env as a function they may call.
func WithInputs(e *Env, inputs map[string]any) *Env {
	c := *e
	c.inputs = inputs
	c.Steps = nil
	c.Error, c.FailedStep = "", ""
	return &c
}

// WithError returns a copy of env for running an error handler: error and
// failed_step are set to the failing step's error and id. env is not
// changed.
func WithError(e *Env, failedStep, err string) *Env {
	c := *e
	c.FailedStep, c.Error = failedStep, err
	return &c
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
	Description     string   `expr:"description" json:"description,omitempty"`
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
	// ProviderVerdict is what the alerts' evidence said and VerdictSource
	// who decided Verdict: "provider", or "analyst" when an analyst decided
	// another one in AIR, so that a remediation step can require AIR's
	// verdict (verdictSource != "provider") rather than the provider's.
	ProviderVerdict string `expr:"providerVerdict" json:"providerVerdict"`
	VerdictSource   string `expr:"verdictSource" json:"verdictSource"`
	// Intel is what analysis steps learned of it (its facts): empty until
	// a file.analyze, ip.analyze, url.analyze, device.analyze or
	// user.analyze step ran on it, and from
	// the stage after the analysis stage on in the pass that ran it.
	Intel IntelView `expr:"intel" json:"intel"`
	// Vendor is what connectors told of it (vendor.* facts): empty until a
	// file.analyze, ip.analyze, device.analyze or user.analyze step asked
	// them, read as Intel is.
	Vendor VendorView `expr:"vendor" json:"vendor"`

	// device
	DeviceGroup  string `expr:"deviceGroup" json:"deviceGroup,omitempty"`
	OSPlatform   string `expr:"osPlatform" json:"osPlatform,omitempty"`
	HostName     string `expr:"hostName" json:"hostName,omitempty"`
	DNSName      string `expr:"dnsName" json:"dnsName,omitempty"`
	MDEDeviceID  string `expr:"mdeDeviceId" json:"mdeDeviceId,omitempty"`
	RiskScore    string `expr:"riskScore" json:"riskScore,omitempty"`
	HealthStatus string `expr:"healthStatus" json:"healthStatus,omitempty"`
	// DeviceType is "workstation", "server" or "mobile" (or another
	// lower-case type a deviceType attribute gave); "" when unknown. See
	// deviceType.
	DeviceType string `expr:"deviceType" json:"deviceType,omitempty"`
	// Isolated: the isolationState attribute says the device is isolated.
	Isolated bool `expr:"isolated" json:"isolated,omitempty"`
	// Disconnected: healthStatus says the sensor does not report normally
	// (inactive, impairedCommunication, noSensorData…); false when unknown.
	Disconnected bool `expr:"disconnected" json:"disconnected,omitempty"`
	// user, mailbox
	UPN         string `expr:"upn" json:"upn,omitempty"`
	AccountName string `expr:"accountName" json:"accountName,omitempty"`
	DomainName  string `expr:"domainName" json:"domainName,omitempty"`
	SID         string `expr:"sid" json:"sid,omitempty"`
	DisplayName string `expr:"displayName" json:"displayName,omitempty"`
	// Privileged: an administrator account, by the privileged or adminCount
	// attribute or a "privileged" tag.
	Privileged bool `expr:"privileged" json:"privileged,omitempty"`
	// Manager is the address of the user's manager (the manager attribute).
	Manager string `expr:"manager" json:"manager,omitempty"`
	Address string `expr:"address" json:"address,omitempty"`
	// RuleID and RuleType name a mailbox's suspicious configuration (Graph
	// mailboxConfigurationEvidence configurationId and configurationType:
	// userInboxRule, mailForwardingRule, …); "" when there is none.
	RuleID   string `expr:"ruleId" json:"ruleId,omitempty"`
	RuleType string `expr:"ruleType" json:"ruleType,omitempty"`
	// file, process
	FileName string `expr:"fileName" json:"fileName,omitempty"`
	FilePath string `expr:"filePath" json:"filePath,omitempty"`
	SHA1     string `expr:"sha1" json:"sha1,omitempty"`
	SHA256   string `expr:"sha256" json:"sha256,omitempty"`
	MD5      string `expr:"md5" json:"md5,omitempty"`
	// ip, url, message
	IP        string `expr:"ip" json:"ip,omitempty"`
	Country   string `expr:"country" json:"country,omitempty"` // countryLetterCode of an ip
	URL       string `expr:"url" json:"url,omitempty"`
	Subject   string `expr:"subject" json:"subject,omitempty"`
	Sender    string `expr:"sender" json:"sender,omitempty"`
	Recipient string `expr:"recipient" json:"recipient,omitempty"`
	// oauthApp: the application (client) id, the service principal's
	// object id when the evidence gave it, and the publisher.
	AppID     string `expr:"appId" json:"appId,omitempty"`
	ObjectID  string `expr:"objectId" json:"objectId,omitempty"`
	Publisher string `expr:"publisher" json:"publisher,omitempty"`

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
	{domain.KindOAuthApp, "oauthApps"},
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

// entityList returns the Env slice that holds entities of kind k, or nil for a
// kind Env does not expose.
func entityList(e *Env, k domain.EntityKind) *[]EntityView {
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
	case domain.KindOAuthApp:
		return &e.OAuthApps
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
	{[]string{"displayName"}, func(v *EntityView, s string) { v.DisplayName = s }},
	{[]string{"manager", "managerUpn"}, func(v *EntityView, s string) { v.Manager = s }},
	{[]string{"countryLetterCode"}, func(v *EntityView, s string) { v.Country = s }},
	{[]string{"configurationId"}, func(v *EntityView, s string) { v.RuleID = s }},
	{[]string{"configurationType"}, func(v *EntityView, s string) { v.RuleType = s }},
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
	{[]string{"appId"}, func(v *EntityView, s string) { v.AppID = s }},
	{[]string{"objectId"}, func(v *EntityView, s string) { v.ObjectID = s }},
	{[]string{"publisher"}, func(v *EntityView, s string) { v.Publisher = s }},
}

// NewEnv builds the expression environment from an incident snapshot.
//
// Entities are deduplicated by key (keeping the strongest verdict and the
// first value of each attribute) and sorted by key; alerts are sorted by
// creation time, then id. Entities of kinds Env has no list for (registry
// keys, cloud applications, …) are left out. incident.tags are the
// incident's custom tags; an entity's tags are the union of its sightings'
// tags, sorted. Derived fields (deviceType, isolated, disconnected,
// privileged) are computed after merging.
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
		*entityList(env, l.kind) = []EntityView{}
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
			Description:     a.Description,
		})
	}

	byKey := make(map[domain.EntityKey]int, len(entities))
	var merged []domain.Entity
	for _, e := range entities {
		i, seen := byKey[e.Key]
		if !seen {
			byKey[e.Key] = len(merged)
			e.Attrs = cloneAttrs(e.Attrs)
			e.Tags = slices.Clone(e.Tags)
			merged = append(merged, e)
			continue
		}
		m := &merged[i]
		for _, t := range e.Tags {
			if !slices.Contains(m.Tags, t) {
				m.Tags = append(m.Tags, t)
			}
		}
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
		l := entityList(env, e.Kind)
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
		Tags:    slices.Compact(slices.Sorted(slices.Values(e.Tags))),
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if v.Verdict == "" {
		v.Verdict = string(domain.VerdictUnknown)
	}
	v.ProviderVerdict, v.VerdictSource = v.Verdict, "provider"
	if e.Decision != nil {
		v.ProviderVerdict, v.VerdictSource = cmp.Or(string(e.ProviderVerdict), string(domain.VerdictUnknown)), e.Decision.Source
	}
	for _, f := range attrFields {
		for _, k := range f.keys {
			if s := e.Attrs[k]; s != "" {
				f.set(&v, s)
				break
			}
		}
	}
	switch e.Kind {
	case domain.KindDevice:
		v.DeviceType = deviceType(e.Attrs["deviceType"], v.OSPlatform)
		v.Isolated = isolated(e.Attrs["isolationState"])
		v.Disconnected = disconnectedHealth[v.HealthStatus]
	case domain.KindUser, domain.KindMailbox:
		v.Privileged = truthy(e.Attrs["privileged"]) || (e.Attrs["adminCount"] != "" && e.Attrs["adminCount"] != "0") ||
			slices.ContainsFunc(v.Tags, func(t string) bool { return strings.EqualFold(t, "privileged") })
	}
	return v
}

// deviceType returns a device's type: the deviceType attribute lower-cased
// when there is one (Defender's device inventory says Workstation, Server,
// Mobile, …), else what the OS platform implies: a Windows client or macOS
// is a workstation, a Windows Server a server, iOS and Android mobile. Linux
// runs both desktops and servers, so it says nothing.
func deviceType(attr, osPlatform string) string {
	if attr = strings.TrimSpace(attr); attr != "" && !strings.EqualFold(attr, "unknown") {
		return strings.ToLower(attr)
	}
	p := strings.ToLower(strings.ReplaceAll(osPlatform, " ", ""))
	switch {
	case p == "":
		return ""
	case strings.Contains(p, "server"):
		return "server"
	case strings.HasPrefix(p, "windows"), strings.HasPrefix(p, "macos"), strings.HasPrefix(p, "osx"):
		return "workstation"
	case strings.HasPrefix(p, "ios"), strings.HasPrefix(p, "ipados"), strings.HasPrefix(p, "android"):
		return "mobile"
	}
	return ""
}

// isolated reads an isolationState attribute: "isolated" (any case; also
// XDR's AGENT_ISOLATED) means isolated, anything else does not.
func isolated(state string) bool {
	s := strings.ToLower(strings.TrimSpace(state))
	return s == "isolated" || s == "agent_isolated"
}

// disconnectedHealth lists the Graph deviceHealthStatus values of a device
// whose sensor does not report normally, so that an isolation command may
// never reach it.
var disconnectedHealth = map[string]bool{
	"inactive":                          true,
	"impairedCommunication":             true,
	"noSensorData":                      true,
	"noSensorDataImpairedCommunication": true,
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true
	}
	return false
}

// InvocationSkipped is the ActionOutput.Status of a remediation that policy
// left out (no action was recorded); a bookkeeping invocation that ran has
// status "succeeded".
const InvocationSkipped = "skipped"

// Summarize folds the results of a step's invocations into the step's
// output, the one rule the engine and plan mode share: succeeded and
// undone count as succeeded, failed as failed (the first error is the
// step's), rejected, expired and InvocationSkipped as skipped, anything
// else as pending. The status is pending while any invocation is; skipped
// when none ran or all were skipped; succeeded or failed when all did;
// partial otherwise.
func Summarize(results []ActionOutput) StepOutput {
	out := StepOutput{Count: len(results), Results: results}
	if out.Results == nil {
		out.Results = []ActionOutput{}
	}
	for _, r := range results {
		switch domain.ActionStatus(r.Status) {
		case domain.ActionSucceeded, domain.ActionUndone:
			out.Succeeded++
		case domain.ActionFailed:
			out.Failed++
			if out.Error == "" {
				out.Error = r.Error
			}
		case domain.ActionRejected, domain.ActionExpired, InvocationSkipped:
			out.Skipped++
		default:
			out.Pending++
		}
	}
	switch {
	case out.Pending > 0:
		out.Status = StepPending
	case out.Count == 0 || out.Skipped == out.Count:
		out.Status = StepSkipped
	case out.Succeeded == out.Count:
		out.Status = StepSucceeded
	case out.Failed == out.Count:
		out.Status = StepFailed
	default:
		out.Status = StepPartial
	}
	return out
}

// IntelView is an entity's facts as expressions read them: whether a
// threat-intelligence feed names it (and which, the families, the highest
// score), whether a known-benign list does, and how often the organisation
// has seen it. A rule reads them, e.g. item.intel.matched and not
// item.intel.benign and item.intel.score >= 75.
type IntelView struct {
	Matched  bool     `expr:"matched" json:"matched"`
	Feeds    []string `expr:"feeds" json:"feeds"`
	Families []string `expr:"families" json:"families"`
	Score    int      `expr:"score" json:"score"`
	// Benign: a known-benign list (a MISP warning list) names it, which
	// weakens a match and is no verdict.
	Benign bool `expr:"benign" json:"benign"`
	// BenignLists name the known-benign lists that list it.
	BenignLists []string `expr:"benignLists" json:"benignLists"`
	// BenignExact: a known-benign list names this very address, URL or
	// file hash (a public DNS resolver, a hash known to cause false
	// positives), not only a network or a domain it falls in (private
	// and cloud ranges, top domains), which attackers use too.
	BenignExact bool `expr:"benignExact" json:"benignExact"`
	// Devices, Users, Incidents and Alerts are the organisation
	// prevalence: how many of each have seen its value in AIR's store.
	Devices   int `expr:"devices" json:"devices"`
	Users     int `expr:"users" json:"users"`
	Incidents int `expr:"incidents" json:"incidents"`
	Alerts    int `expr:"alerts" json:"alerts"`
}

// AddFacts puts what analysis steps learned into the entities' views
// (Intel), by entity key, in place: every list of the environment sees
// them. Facts of entities the environment does not hold are passed over;
// a fact value it cannot read adds nothing. (A function, not a method: Env
// is embedded in the expression environments reflect builds, which allows
// it no methods.)
func AddFacts(env *Env, facts []domain.Fact) {
	for _, f := range facts {
		if v := viewOf(env, f.Entity); v != nil {
			v.Intel.add(f)
			v.Vendor.add(f)
		}
	}
}

// viewOf finds the entity's view in the list of its kind; nil when the
// environment does not hold it.
func viewOf(env *Env, key domain.EntityKey) *EntityView {
	kind, _, _ := strings.Cut(string(key), ":")
	l := entityList(env, domain.EntityKind(kind))
	if l == nil {
		return nil
	}
	for i := range *l {
		if (*l)[i].Key == string(key) {
			return &(*l)[i]
		}
	}
	return nil
}

func (v *IntelView) add(f domain.Fact) {
	switch f.Kind {
	case domain.FactIntelMatch, domain.FactIntelBenign:
		var m struct {
			Feed    string `json:"feed"`
			Matches []struct {
				Kind       string `json:"kind"`
				Value      string `json:"value"`
				Subdomains bool   `json:"subdomains"`
				Score      int    `json:"score"`
				Family     string `json:"family"`
			} `json:"matches"`
		}
		if json.Unmarshal(f.Value, &m) != nil {
			return
		}
		if f.Kind == domain.FactIntelBenign {
			v.Benign = true
			if m.Feed != "" && !slices.Contains(v.BenignLists, m.Feed) {
				v.BenignLists = append(v.BenignLists, m.Feed)
			}
			kind, value, _ := strings.Cut(string(f.Entity), ":")
			for _, x := range m.Matches {
				switch {
				case x.Kind == "file" && kind == "file",
					(x.Kind == "ip" || x.Kind == "url") && x.Kind == kind && strings.EqualFold(x.Value, value) && !x.Subdomains:
					v.BenignExact = true
				}
			}
			return
		}
		v.Matched = true
		if m.Feed != "" && !slices.Contains(v.Feeds, m.Feed) {
			v.Feeds = append(v.Feeds, m.Feed)
		}
		for _, x := range m.Matches {
			v.Score = max(v.Score, x.Score)
			if x.Family != "" && !slices.Contains(v.Families, x.Family) {
				v.Families = append(v.Families, x.Family)
			}
		}
	case domain.FactPrevalence:
		var p struct{ Devices, Users, Incidents, Alerts int }
		if json.Unmarshal(f.Value, &p) == nil {
			v.Devices, v.Users, v.Incidents, v.Alerts = p.Devices, p.Users, p.Incidents, p.Alerts
		}
	}
}

// VendorView is what vendor connectors told of an entity (vendor.* facts,
// docs/intel.md), as expressions read it, e.g. item.vendor.orgPrevalence
// <= 2 and item.vendor.globalPrevalence < 50 for a rare file, or
// item.vendor.riskLevel == "high". Numbers are 0 and strings "" until a
// vendor told them; several vendors telling the same number give the
// highest.
type VendorView struct {
	// Sources are the vendors that told something (mde, graph, lab).
	Sources []string `expr:"sources" json:"sources"`
	// Failed are the vendors that could not tell (a vendor.error fact).
	Failed []string `expr:"failed" json:"failed"`
	// file, ip: devices of the organisation that saw it (Defender, 30
	// days), and of the world (files).
	OrgPrevalence    int   `expr:"orgPrevalence" json:"orgPrevalence"`
	GlobalPrevalence int64 `expr:"globalPrevalence" json:"globalPrevalence"`
	// device: the accounts that logged on, whether a domain admin did, and
	// the vendor's alerts on it (all, unresolved, high severity).
	LoggedOnUsers      []string `expr:"loggedOnUsers" json:"loggedOnUsers"`
	DomainAdminLogon   bool     `expr:"domainAdminLogon" json:"domainAdminLogon"`
	RelatedAlerts      int      `expr:"relatedAlerts" json:"relatedAlerts"`
	ActiveAlerts       int      `expr:"activeAlerts" json:"activeAlerts"`
	HighSeverityAlerts int      `expr:"highSeverityAlerts" json:"highSeverityAlerts"`
	// user: identity-protection risk (Graph riskyUser: riskLevel none,
	// low, medium, high, hidden; riskState none, atRisk,
	// confirmedCompromised, remediated, dismissed, confirmedSafe), and the
	// recent sign-ins: how many, failed, risky, from which countries.
	RiskLevel     string   `expr:"riskLevel" json:"riskLevel"`
	RiskState     string   `expr:"riskState" json:"riskState"`
	RiskDetail    string   `expr:"riskDetail" json:"riskDetail"`
	SignIns       int      `expr:"signIns" json:"signIns"`
	FailedSignIns int      `expr:"failedSignIns" json:"failedSignIns"`
	RiskySignIns  int      `expr:"riskySignIns" json:"riskySignIns"`
	Countries     []string `expr:"countries" json:"countries"`
}

// riskRank orders Graph risk levels.
var riskRank = map[string]int{"none": 1, "hidden": 2, "low": 3, "medium": 4, "high": 5}

func (v *VendorView) add(f domain.Fact) {
	if !strings.HasPrefix(f.Kind, "vendor.") {
		return
	}
	if f.Kind == domain.FactVendorError {
		addOnce(&v.Failed, f.Source)
		return
	}
	switch f.Kind {
	case domain.FactVendorFileStats, domain.FactVendorIPStats:
		var s struct {
			OrgPrevalence    int   `json:"orgPrevalence"`
			GlobalPrevalence int64 `json:"globalPrevalence"`
		}
		if json.Unmarshal(f.Value, &s) != nil {
			return
		}
		v.OrgPrevalence, v.GlobalPrevalence = max(v.OrgPrevalence, s.OrgPrevalence), max(v.GlobalPrevalence, s.GlobalPrevalence)
	case domain.FactVendorLoggedOnUsers:
		var s enrich.LoggedOnUsers
		if json.Unmarshal(f.Value, &s) != nil {
			return
		}
		for _, u := range s.Users {
			addOnce(&v.LoggedOnUsers, u.Account)
			v.DomainAdminLogon = v.DomainAdminLogon || u.DomainAdmin
		}
	case domain.FactVendorRelatedAlerts:
		var s enrich.RelatedAlerts
		if json.Unmarshal(f.Value, &s) != nil {
			return
		}
		v.RelatedAlerts, v.ActiveAlerts, v.HighSeverityAlerts = max(v.RelatedAlerts, len(s.Alerts)), max(v.ActiveAlerts, s.Active), max(v.HighSeverityAlerts, s.HighSeverity)
	case domain.FactVendorRiskyUser:
		var s enrich.RiskyUser
		if json.Unmarshal(f.Value, &s) != nil {
			return
		}
		if riskRank[s.RiskLevel] >= riskRank[v.RiskLevel] {
			v.RiskLevel, v.RiskState, v.RiskDetail = s.RiskLevel, s.RiskState, s.RiskDetail
		}
	case domain.FactVendorSignIns:
		var s enrich.SignIns
		if json.Unmarshal(f.Value, &s) != nil {
			return
		}
		v.SignIns, v.FailedSignIns, v.RiskySignIns = max(v.SignIns, len(s.SignIns)), max(v.FailedSignIns, s.Failed), max(v.RiskySignIns, s.Risky)
		for _, c := range s.Countries {
			addOnce(&v.Countries, c)
		}
	default:
		return
	}
	addOnce(&v.Sources, f.Source)
}

func addOnce(l *[]string, s string) {
	if s != "" && !slices.Contains(*l, s) {
		*l = append(*l, s)
	}
}

// SetVerdict puts a verdict decided in AIR during a pass into the
// entity's views, in place, so that the playbook's later steps read it
// (item.verdict, with verdictSource "rule"; an analyst's verdict, which
// stands over a rule's, keeps its source).
func SetVerdict(env *Env, key domain.EntityKey, v domain.Verdict) {
	view := viewOf(env, key)
	if view == nil {
		return
	}
	view.Verdict = string(v)
	if view.VerdictSource != "analyst" {
		view.VerdictSource = "rule"
	}
}
