// Package actions is the registry of action types: what each one targets,
// which parameters it takes, whether it can be undone and by what. The
// playbook language checks steps against it, the policy reads its risk, the
// action center shows it, and connectors say which types they carry out.
package actions

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// ParamType is the type of an action parameter as a playbook writes it.
type ParamType string

// Parameter types.
const (
	String     ParamType = "string"
	Int        ParamType = "int"
	Bool       ParamType = "bool"
	StringList ParamType = "[]string"
)

// Param declares one parameter of an action type.
type Param struct {
	Name     string    `json:"name"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Enum     []string  `json:"enum,omitempty"` // allowed values, when the parameter is an enum
	Default  any       `json:"default,omitempty"`
	Doc      string    `json:"doc,omitempty"`
}

// Connector names: the kinds of remediation target that can carry out an
// action type. internal/connector routes each action type to a configured
// connector of one of the kinds its spec lists.
const (
	Lab     = "lab"     // the built-in lab tenant
	MDE     = "mde"     // Microsoft Defender for Endpoint machine actions
	Graph   = "graph"   // Microsoft Graph (users, identity protection, mail rules)
	Falcon  = "falcon"  // CrowdStrike Falcon (host containment, custom IOCs)
	Okta    = "okta"    // Okta (user lifecycle, sessions, passwords)
	EXO     = "exo"     // Exchange Online admin API (tenant allow/block list, mailbox forwarding)
	Webhook = "webhook" // a signed webhook to the SOC's own automation
	// AIR is AIR itself: case actions (severity, classification,
	// assignment, resolution) change AIR's own incident through the same
	// code as an analyst's change. Several executors may share the kind,
	// one per action type (internal/connector Deps.AIR).
	AIR = "air"
)

// ConnectorKinds lists every connector kind in a stable order.
var ConnectorKinds = []string{Lab, MDE, Graph, Falcon, Okta, EXO, Webhook, AIR}

// IsConnectorKind reports whether name is a connector kind (not a
// configured connector's own name, such as a webhook's).
func IsConnectorKind(name string) bool { return slices.Contains(ConnectorKinds, name) }

// Spec declares an action type.
type Spec struct {
	Type string `json:"type"`
	// Target is the kind of entity the action acts on; "" for actions on the
	// incident itself (tagging, commenting, reporting).
	Target domain.EntityKind `json:"target,omitempty"`
	Params []Param           `json:"params"`
	Undo   string            `json:"undo,omitempty"` // the action type that reverses this one, if any
	// Reversible says whether the effect can be taken back: an isolation can
	// (release), a killed process or a revoked session cannot. Policy and the
	// action center show it as the action's risk.
	Reversible bool `json:"reversible"`
	// Remediation actions touch the outside world and go through policy and
	// the action center; the others (incident bookkeeping, enrichment) run
	// directly as workflow steps.
	Remediation bool `json:"remediation"`
	// Connectors are the connector kinds that can carry the action out, in
	// order of preference; empty for actions that are not remediations.
	Connectors []string `json:"connectors,omitempty"`
	Doc        string   `json:"doc"`
	// check, when set, validates parameters against each other (a
	// determination must fit its classification) once each is valid on
	// its own; it ignores parameters that are absent or not literal yet.
	check func(args map[string]any) error
}

// CaseAction reports whether the action changes AIR's own incident
// (severity, classification, assignment, resolution) and still goes
// through policy and the action center like a remediation: it has no
// entity target and AIR itself carries it out.
func (s *Spec) CaseAction() bool { return s.Remediation && s.Target == "" }

// Risk names the action's risk as the action center shows it.
func (s *Spec) Risk() string {
	switch {
	case !s.Remediation:
		return "none"
	case s.Reversible:
		return "reversible"
	}
	return "irreversible"
}

// IrreversibleOn lists the connectors on which a reversible action cannot
// be undone: they carry it out but not its undo (Defender for Endpoint
// quarantines a file but restores none; it removes persistence through live
// response but keeps no copy to restore). Undoing such an action needs
// another connector, or a person.
func (s *Spec) IrreversibleOn() []string {
	if !s.Reversible || s.Undo == "" {
		return nil
	}
	undo, ok := Lookup(s.Undo)
	if !ok {
		return slices.Clone(s.Connectors)
	}
	var out []string
	for _, c := range s.Connectors {
		if !undo.CarriedBy(c) {
			out = append(out, c)
		}
	}
	return out
}

// CarriedBy reports whether a connector of the kind can carry the action out.
func (s *Spec) CarriedBy(kind string) bool { return slices.Contains(s.Connectors, kind) }

// Param returns the named parameter's declaration.
func (s *Spec) Param(name string) (Param, bool) {
	i := slices.IndexFunc(s.Params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return s.Params[i], true
}

var comment = Param{Name: "comment", Type: String,
	Doc: "free text sent with the request; connectors prefix it with the incident and action ids"}

// Connector sets shared by several specs.
var (
	onDevice = []string{Lab, MDE, Webhook}
	onUser   = []string{Lab, Graph, Webhook}
	// onMessage: Graph carries email remediation (Defender for Office 365).
	onMessage = onUser
	onApp     = []string{Lab, Graph, Webhook}
	// noVendorAPI are the undos no vendor API AIR knows carries out:
	// Defender for Endpoint restores no quarantined file and keeps no copy
	// of the persistence it removed, so only the lab and the SOC's own
	// automation (a webhook) can. No shipped playbook uses them (a test
	// in internal/playbook keeps it so).
	noVendorAPI = []string{Lab, Webhook}
	// indicators are blocks Defender for Endpoint carries as custom
	// indicators and Falcon as custom IOCs.
	indicators = []string{Lab, MDE, Falcon, Webhook}
	// onContain is network isolation, which Falcon carries too.
	onContain = []string{Lab, MDE, Falcon, Webhook}
	// onAccount are the user actions Okta carries too (it has no risk
	// state to confirm or dismiss).
	onAccount  = []string{Lab, Graph, Okta, Webhook}
	onIncident = []string{AIR}
	// onExchange are what Exchange Online's cmdlets carry: the tenant
	// allow/block list and a mailbox's forwarding.
	onExchange = []string{Lab, EXO, Webhook}
)

func params(p ...Param) []Param { return append(p, comment) }

var (
	deviceID = Param{Name: "deviceId", Type: String,
		Doc: "Defender for Endpoint id of the device the file is on (item.mdeDeviceId); the lab and webhooks accept none for tenant-wide"}
	sha1 = Param{Name: "sha1", Type: String,
		Doc: "the file's SHA-1 when the target is keyed by SHA-256 (Defender for Endpoint quarantines by SHA-1)"}
	persistenceKind = Param{Name: "kind", Type: String, Required: true,
		Enum: []string{"registryKey", "registryValue", "scheduledTask", "service"},
		Doc:  "what kind of persistence mechanism"}
	persistenceName = Param{Name: "name", Type: String, Required: true,
		Doc: "the registry path, task path or service name"}
	expiresIn = Param{Name: "expiresIn", Type: String,
		Doc: "how long the block lasts, as a Go duration (720h); empty for no expiry"}
)

var registry = []Spec{
	// Devices (Defender for Endpoint machine actions).
	{Type: "device.isolate", Target: domain.KindDevice, Undo: "device.release", Reversible: true, Remediation: true,
		Connectors: onContain,
		Params: params(Param{Name: "isolationType", Type: String, Enum: []string{"Full", "Selective"}, Default: "Full",
			Doc: "Full cuts everything but the security service; Selective keeps Outlook, Teams and Skype"}),
		Doc: "cut a device off the network except for the security service"},
	{Type: "device.release", Target: domain.KindDevice, Undo: "device.isolate", Reversible: true, Remediation: true,
		Connectors: onContain, Params: params(),
		Doc: "release a device from isolation"},
	{Type: "device.restrict_app_execution", Target: domain.KindDevice, Undo: "device.unrestrict_app_execution",
		Reversible: true, Remediation: true, Connectors: onDevice, Params: params(),
		Doc: "let only Microsoft-signed executables run on a device"},
	{Type: "device.unrestrict_app_execution", Target: domain.KindDevice, Undo: "device.restrict_app_execution",
		Reversible: true, Remediation: true, Connectors: onDevice, Params: params(),
		Doc: "lift an app execution restriction"},
	{Type: "device.run_av_scan", Target: domain.KindDevice, Remediation: true, Connectors: onDevice,
		Params: params(Param{Name: "scanType", Type: String, Enum: []string{"Quick", "Full"}, Default: "Quick"}),
		Doc:    "run an antivirus scan"},
	{Type: "device.collect_investigation_package", Target: domain.KindDevice, Remediation: true, Connectors: onDevice,
		Params: params(),
		Doc:    "collect a forensic investigation package from a device"},

	// Files, processes, persistence.
	{Type: "file.stop_and_quarantine", Target: domain.KindFile, Undo: "file.release_quarantine", Reversible: true,
		Remediation: true, Connectors: onDevice, Params: params(deviceID, sha1),
		Doc: "stop every process running the file and quarantine it"},
	{Type: "file.release_quarantine", Target: domain.KindFile, Undo: "file.stop_and_quarantine", Reversible: true,
		Remediation: true, Connectors: noVendorAPI, Params: params(deviceID, sha1),
		Doc: "restore a quarantined file"},
	{Type: "process.kill", Target: domain.KindProcess, Remediation: true, Connectors: onDevice, Params: params(),
		Doc: "terminate a running process"},
	{Type: "persistence.remove", Target: domain.KindDevice, Undo: "persistence.restore", Reversible: true,
		Remediation: true, Connectors: onDevice, Params: params(persistenceKind, persistenceName),
		Doc: "remove a persistence mechanism (registry key or value, scheduled task, service) from a device"},
	{Type: "persistence.restore", Target: domain.KindDevice, Undo: "persistence.remove", Reversible: true,
		Remediation: true, Connectors: noVendorAPI, Params: params(persistenceKind, persistenceName),
		Doc: "restore a removed persistence mechanism"},

	// Email.
	{Type: "email.soft_delete", Target: domain.KindMessage, Undo: "email.move_to_inbox", Reversible: true,
		Remediation: true, Connectors: onMessage,
		Params: params(Param{Name: "mailbox", Type: String,
			Doc: "the recipient mailbox; empty for every mailbox the message reached (the lab, webhooks); Microsoft Graph needs it"}),
		Doc: "move a delivered message to Deleted Items"},
	{Type: "email.move_to_inbox", Target: domain.KindMessage, Undo: "email.soft_delete", Reversible: true,
		Remediation: true, Connectors: onMessage,
		Params: params(Param{Name: "mailbox", Type: String, Doc: "the recipient mailbox; empty for every one"}),
		Doc:    "move a message back to the inbox"},
	{Type: "email.block_sender", Target: domain.KindMailbox, Undo: "email.unblock_sender", Reversible: true,
		Remediation: true, Connectors: onExchange, Params: params(expiresIn),
		Doc: "block mail from a sender address tenant-wide"},
	{Type: "email.unblock_sender", Target: domain.KindMailbox, Undo: "email.block_sender", Reversible: true,
		Remediation: true, Connectors: onExchange, Params: params(),
		Doc: "lift a sender block"},
	{Type: "url.block", Target: domain.KindURL, Undo: "url.unblock", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(expiresIn),
		Doc: "block a URL (indicator)"},
	{Type: "url.unblock", Target: domain.KindURL, Undo: "url.block", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(),
		Doc: "lift a URL block"},
	{Type: "ip.block", Target: domain.KindIP, Undo: "ip.unblock", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(expiresIn),
		Doc: "block an IP address (indicator)"},
	{Type: "ip.unblock", Target: domain.KindIP, Undo: "ip.block", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(),
		Doc: "lift an IP block"},
	{Type: "file.block", Target: domain.KindFile, Undo: "file.unblock", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(expiresIn),
		Doc: "block a file hash from running anywhere (indicator)"},
	{Type: "file.unblock", Target: domain.KindFile, Undo: "file.block", Reversible: true, Remediation: true,
		Connectors: indicators, Params: params(),
		Doc: "lift a file block"},

	// Mailboxes.
	{Type: "mailbox.disable_external_forwarding", Target: domain.KindMailbox, Remediation: true,
		Connectors: onExchange, Params: params(),
		Doc: "stop a mailbox forwarding mail outside the organisation"},
	{Type: "mailbox.remove_inbox_rule", Target: domain.KindMailbox, Remediation: true,
		Connectors: []string{Lab, Graph, Webhook},
		Params: params(Param{Name: "ruleId", Type: String, Required: true,
			Doc: "the inbox rule's id (Graph messageRule id)"}),
		Doc: "delete an inbox rule (a forwarding or hiding rule an attacker planted)"},

	// Users (Microsoft Graph, Entra ID).
	{Type: "user.disable", Target: domain.KindUser, Undo: "user.enable", Reversible: true, Remediation: true,
		Connectors: onAccount, Params: params(),
		Doc: "disable a user account"},
	{Type: "user.enable", Target: domain.KindUser, Undo: "user.disable", Reversible: true, Remediation: true,
		Connectors: onAccount, Params: params(),
		Doc: "enable a user account"},
	{Type: "user.revoke_sessions", Target: domain.KindUser, Remediation: true, Connectors: onAccount, Params: params(),
		Doc: "revoke every sign-in session and refresh token of a user"},
	{Type: "user.reset_password", Target: domain.KindUser, Remediation: true, Connectors: onAccount,
		Params: params(Param{Name: "identityProvider", Type: String, Enum: []string{"activeDirectory", "entraID"},
			Default: "activeDirectory", Doc: "where the account lives (Graph invokeAction identityProvider); Okta ignores it"}),
		Doc: "force the user to change password at next sign-in"},
	{Type: "user.reset_factors", Target: domain.KindUser, Remediation: true, Connectors: onAccount, Params: params(),
		Doc: "remove the user's registered MFA methods (authenticator apps, phones, security keys…) so that they must register again; the password stays"},
	{Type: "user.confirm_compromised", Target: domain.KindUser, Undo: "user.dismiss_risk", Reversible: true,
		Remediation: true, Connectors: onUser, Params: params(),
		Doc: "mark the user compromised (Entra ID risk level high), which triggers risk-based policies"},
	{Type: "user.dismiss_risk", Target: domain.KindUser, Reversible: true, Remediation: true, Connectors: onUser,
		Params: params(),
		Doc:    "dismiss the user's risk"},

	// OAuth apps (Microsoft Graph, Entra ID): the enterprise app (service
	// principal) of an application a user consented to.
	{Type: "app.disable", Target: domain.KindOAuthApp, Undo: "app.enable", Reversible: true, Remediation: true,
		Connectors: onApp, Params: params(),
		Doc: "disable an OAuth app's service principal (enterprise app) in the tenant: no one can sign in to it and it gets no new tokens"},
	{Type: "app.enable", Target: domain.KindOAuthApp, Undo: "app.disable", Reversible: true, Remediation: true,
		Connectors: onApp, Params: params(),
		Doc: "enable an OAuth app's service principal again"},
	{Type: "app.revoke_consent", Target: domain.KindOAuthApp, Remediation: true, Connectors: onApp, Params: params(),
		Doc: "revoke every permission granted to an OAuth app: delete its delegated permission grants (user and admin consent) and its application permissions (app role assignments); consenting again is the only way back"},

	// Incident bookkeeping.
	{Type: "incident.tag", Params: []Param{{Name: "tags", Type: StringList, Required: true}},
		Doc: "add tags to the incident"},
	{Type: "incident.comment", Params: []Param{{Name: "text", Type: String, Required: true}},
		Doc: "add a comment to the incident"},
	{Type: "incident.notify", Remediation: true, Connectors: onIncident, Params: []Param{
		{Name: "channel", Type: String, Doc: "a notification channel of the worker's -notify file (docs/notifications.md)"},
		{Name: "channels", Type: StringList, Doc: "several notification channels; with channel, both are sent to"},
		{Name: "subject", Type: String, Doc: "the subject line; empty: [AIR] Incident <id>"},
		{Name: "text", Type: String, Required: true, Doc: "the message"}},
		Doc: "send a message to notification channels (mail, Slack, Teams), once per step, item and incident"},

	// Case actions: a playbook manages AIR's own incident as an analyst
	// would (SPEC §3, Manage), through policy and the action center.
	{Type: "incident.set_severity", Remediation: true, Reversible: true, Connectors: onIncident,
		Params: []Param{{Name: "severity", Type: String, Required: true, Enum: severities(),
			Doc: "the incident's new severity; it then stays through later alerts, as one set by hand does"}},
		Doc: "set the incident's severity"},
	{Type: "incident.classify", Remediation: true, Reversible: true, Connectors: onIncident,
		Params: []Param{classification, determination}, check: checkClassification,
		Doc: "classify the incident and give its determination"},
	{Type: "incident.assign", Remediation: true, Reversible: true, Connectors: onIncident,
		Params: []Param{{Name: "assignedTo", Type: String, Required: true,
			Doc: "who owns the incident (a person or a queue); \"\" unassigns; its alerts are assigned too"}},
		Doc: "assign the incident and its alerts"},
	{Type: "incident.resolve", Remediation: true, Reversible: true, Connectors: onIncident,
		Params: []Param{classification, determination, {Name: "comment", Type: String,
			Doc: "the resolving comment"}}, check: checkClassification,
		Doc: "resolve the incident and its active alerts with a classification, determination and resolving comment; an incident already resolved is left as it is"},

	// Evidence analysis: facts about an entity, recorded with their source
	// and time; nothing outside AIR changes.
	{Type: "file.analyze", Target: domain.KindFile, Params: []Param{},
		Doc: "record facts about the file: threat-intelligence matches of its hashes, known-benign listings, organisation prevalence, and the vendor's file statistics (Defender for Endpoint's org and global prevalence) where a connector offers them"},
	{Type: "ip.analyze", Target: domain.KindIP, Params: []Param{},
		Doc: "record facts about the IP: threat-intelligence matches (address and networks), known-benign listings, organisation prevalence, and the vendor's IP statistics where a connector offers them"},
	{Type: "url.analyze", Target: domain.KindURL, Params: []Param{},
		Doc: "record facts about the URL: threat-intelligence matches of the URL and its host, known-benign listings, organisation prevalence"},
	{Type: "device.analyze", Target: domain.KindDevice, Params: []Param{},
		Doc: "record facts about the device from the connectors that offer them: its logged-on users and its other alerts (Defender for Endpoint); a vendor that fails gives a vendor.error fact and the step goes on"},
	{Type: "user.analyze", Target: domain.KindUser, Params: []Param{},
		Doc: "record facts about the user from the connectors that offer them: identity-protection risk and recent sign-ins (Microsoft Graph); a vendor that fails gives a vendor.error fact and the step goes on"},
	// Hunting: look for the entity on other devices in AIR's store; the
	// devices found become evidence of the investigation (scope expansion
	// and its approval threshold apply), an open incident holding one is
	// merged into it.
	{Type: "file.hunt", Target: domain.KindFile, Params: []Param{},
		Doc: "find the other devices that saw the file: they join the investigation as suspicious evidence (an open incident holding one is merged into it)"},
	{Type: "ip.hunt", Target: domain.KindIP, Params: []Param{},
		Doc: "find the other devices that talked to the IP address: they join the investigation as suspicious evidence (an open incident holding one is merged into it)"},
	{Type: "url.hunt", Target: domain.KindURL, Params: []Param{},
		Doc: "find the other devices that reached the URL: they join the investigation as suspicious evidence (an open incident holding one is merged into it)"},
}

// verdictKinds are the entity kinds a playbook rule can decide a verdict
// on: a <kind>.set_verdict step each.
var verdictKinds = []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindMailbox, domain.KindFile,
	domain.KindProcess, domain.KindIP, domain.KindURL, domain.KindMessage, domain.KindOAuthApp}

// verdictParams are a rule verdict's: the verdict and why.
var verdictParams = []Param{
	{Name: "verdict", Type: String, Required: true, Enum: []string{"malicious", "suspicious", "noThreatsFound"},
		Doc: "AIR's verdict on the entity"},
	{Name: "reason", Type: String, Required: true,
		Doc: "why, in words, usually naming the facts the rule read; shown beside the verdict and audited"},
}

func init() {
	for _, k := range verdictKinds {
		registry = append(registry, Spec{Type: string(k) + ".set_verdict", Target: k, Params: verdictParams,
			Doc: "decide AIR's verdict on the " + string(k) + " by the step's rule, recorded with the playbook and step as its source; an analyst's verdict stands over it"})
	}
}

// IsVerdict reports whether an action type is a rule verdict step.
func IsVerdict(actionType string) bool { return strings.HasSuffix(actionType, ".set_verdict") }

var (
	classification = Param{Name: "classification", Type: String, Required: true, Enum: domain.Classifications,
		Doc: "unknown, falsePositive, truePositive or informationalExpectedActivity"}
	determination = Param{Name: "determination", Type: String, Enum: determinations(),
		Doc: "must fit the classification (falsePositive: notMalicious, notEnoughDataToValidate, other; …); older Graph aliases are accepted"}
)

func severities() []string {
	out := make([]string, len(domain.Severities))
	for i, s := range domain.Severities {
		out[i] = string(s)
	}
	return out
}

// determinations are the canonical determinations and their aliases.
func determinations() []string {
	out := domain.Determinations()
	for _, a := range slices.Sorted(maps.Keys(domain.DeterminationAliases)) {
		out = append(out, a)
	}
	return out
}

// checkClassification checks that a literal determination fits a literal
// classification (domain.CheckClassification).
func checkClassification(args map[string]any) error {
	c, ok := args["classification"].(string)
	if !ok {
		return nil
	}
	d, ok := args["determination"].(string)
	if _, given := args["determination"]; given && !ok {
		return nil // not known yet
	}
	_, _, err := domain.CheckClassification(c, d)
	return err
}

// Lookup returns the spec of an action type.
func Lookup(actionType string) (*Spec, bool) {
	for i := range registry {
		if registry[i].Type == actionType {
			return &registry[i], true
		}
	}
	return nil, false
}

// All returns every registered spec in a stable order.
func All() []Spec { return slices.Clone(registry) }

// Names lists every registered action type, for error messages.
func Names() []string {
	n := make([]string, len(registry))
	for i, s := range registry {
		n[i] = s.Type
	}
	return n
}

// CheckArgs verifies that args fit the spec: no unknown names, required ones
// present, values of the declared type and enum. Defaults fill absent ones.
func (s *Spec) CheckArgs(args map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(s.Params))
	for name := range args {
		if _, ok := s.Param(name); !ok {
			return nil, domain.Invalid(name, "%s takes no parameter %q", s.Type, name)
		}
	}
	for _, p := range s.Params {
		v, ok := args[p.Name]
		if !ok || v == nil {
			if p.Required {
				return nil, domain.Invalid(p.Name, "%s needs parameter %q", s.Type, p.Name)
			}
			if p.Default != nil {
				out[p.Name] = p.Default
			}
			continue
		}
		if err := p.check(v); err != nil {
			return nil, domain.Invalid(p.Name, "%v", err)
		}
		out[p.Name] = v
	}
	if s.check != nil {
		if err := s.check(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CheckTogether checks parameters against each other (a determination
// against its classification) as far as the given ones tell: absent ones
// are not required here. The playbook loader calls it with a step's
// literal arguments.
func (s *Spec) CheckTogether(args map[string]any) error {
	if s.check == nil {
		return nil
	}
	return s.check(args)
}

func (p Param) check(v any) error {
	switch p.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", ValueName(v))
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return fmt.Errorf("unknown value %q, want one of %v", s, p.Enum)
		}
	case Int:
		switch v.(type) {
		case int, int64, float64:
		default:
			return fmt.Errorf("want an integer, got %s", ValueName(v))
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, got %s", ValueName(v))
		}
	case StringList:
		switch l := v.(type) {
		case []string:
		case []any:
			for i, e := range l {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("item %d: want a string, got %s", i, ValueName(e))
				}
			}
		default:
			return fmt.Errorf("want a list of strings, got %s", ValueName(v))
		}
	}
	return nil
}

// containment lists the action types that contain a threat — stop it
// spreading or acting — rather than investigate or clean up: the first of
// them that succeeds on an incident marks it contained (time to contain in
// post-incident review).
var containment = map[string]bool{
	"device.isolate":                      true,
	"device.restrict_app_execution":       true,
	"file.stop_and_quarantine":            true,
	"process.kill":                        true,
	"email.soft_delete":                   true,
	"email.block_sender":                  true,
	"url.block":                           true,
	"ip.block":                            true,
	"file.block":                          true,
	"mailbox.disable_external_forwarding": true,
	"user.disable":                        true,
	"user.revoke_sessions":                true,
}

// IsContainment reports whether an action type contains a threat: device
// isolation or code-execution restriction, disabling a user or revoking
// their sessions, blocking an indicator (URL, IP, file, sender), stopping
// and quarantining a file or killing a process, soft-deleting mail, or
// stopping external forwarding. Undo actions never are.
func IsContainment(actionType string) bool { return containment[actionType] }

// ValueName names the type of a decoded YAML or JSON value (or an
// expression's result) for error messages, in the words of a playbook
// author: "a string", "an integer", "a list" — never a Go type such as
// float64 or []interface {}.
func ValueName(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "true or false"
	case int, int64, uint64:
		return "an integer"
	case float64:
		if v == math.Trunc(v) {
			return "an integer"
		}
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a mapping"
	case reflect.Struct, reflect.Pointer:
		return "a record"
	}
	return "a value"
}
