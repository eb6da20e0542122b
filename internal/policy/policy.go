// Package policy decides whether a proposed remediation runs on its own or
// waits for an analyst, and says why. It is pure: the incident workflow calls
// it in workflow code, so the decision and its reason land in history.
package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Level is an automation level (SPEC §1, Automation levels).
type Level string

// Automation levels.
const (
	Full        Level = "full"
	SemiAll     Level = "semi-all"
	SemiCore    Level = "semi-core"
	SemiNonTemp Level = "semi-nontemp"
	None        Level = "none"
)

// Levels lists every automation level.
var Levels = []Level{Full, SemiAll, SemiCore, SemiNonTemp, None}

// ParseLevel checks an automation level, naming the setting when it is bad.
func ParseLevel(setting, v string) (Level, error) {
	return domain.ParseEnum(setting, v, Levels, false)
}

// Settings are the tenant's automation settings. The zero value is the
// default: semi-all everywhere, email actions pending, no guardrails, no
// four-eyes.
type Settings struct {
	Default Level            `json:"default,omitempty"`
	Groups  map[string]Level `json:"groups,omitempty"` // device group → level
	// AutoEmail lets email actions follow the level instead of always waiting.
	AutoEmail bool `json:"autoEmail,omitempty"`
	// FourEyes forbids whoever requested a manual action to approve it.
	FourEyes   bool       `json:"fourEyes,omitempty"`
	Guardrails Guardrails `json:"guardrails"`
	// Rules are approval rules in expr, tried in order (see Rule).
	Rules []Rule `json:"rules,omitempty"`
}

// Guardrails cap the blast radius of automation tenant-wide. Past a
// guardrail an action waits for approval, with the guardrail as reason.
type Guardrails struct {
	// Rates caps, per action type, how many may run without a human in a
	// sliding window, e.g. {"device.isolate": {"max": 10, "per": "1h"}}.
	Rates map[string]Rate `json:"rates,omitempty"`
	// ProtectedTags: entities carrying one of these tags are never acted on
	// without approval, e.g. ["critical"].
	ProtectedTags []string `json:"protectedTags,omitempty"`
}

// Rate is at most Max per Per.
type Rate struct {
	Max int      `json:"max"`
	Per Duration `json:"per"`
}

// Duration is a time.Duration written as "1h30m" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"1h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("want a positive duration such as \"1h\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Validate checks the settings, naming the setting at fault.
func (s Settings) Validate() error {
	if s.Default != "" {
		if _, err := ParseLevel("default", string(s.Default)); err != nil {
			return err
		}
	}
	for g, l := range s.Groups {
		if _, err := ParseLevel("groups."+g, string(l)); err != nil {
			return err
		}
	}
	for i, r := range s.Rules {
		if err := r.validate(i); err != nil {
			return err
		}
	}
	for t, r := range s.Guardrails.Rates {
		if r.Max < 0 || r.Per <= 0 {
			return domain.Invalid("guardrails.rates."+t, "want max >= 0 and a positive per, got max %d per %s", r.Max, time.Duration(r.Per))
		}
	}
	return nil
}

// LevelFor returns the level that applies to a device group.
func (s Settings) LevelFor(group string) (Level, string) {
	if l, ok := s.Groups[group]; ok && group != "" {
		return l, fmt.Sprintf("device group %q", group)
	}
	if s.Default != "" {
		return s.Default, "tenant default"
	}
	return SemiAll, "tenant default"
}

// Input describes one proposed action.
type Input struct {
	ActionType  string
	Approval    string         // the step's approval: auto, required or policy ("" = policy)
	Verdict     domain.Verdict // the target entity's verdict
	DeviceGroup string         // the device group the target belongs to, if any
	FilePath    string         // for file actions: where the file lives
	EntityTags  []string       // the target's tags
	// Rule is what approval rules read; its Action.Type is filled from
	// ActionType when empty.
	Rule RuleEnv
	// Incident marks a case action: one that changes the incident itself
	// (severity, classification, assignment, resolution). It has no
	// target, so no verdict and no device group: see Decide.
	Incident bool
}

// Outcome is what happens to a proposed action.
type Outcome string

// Outcomes.
const (
	Run  Outcome = "run"  // runs without a human
	Wait Outcome = "wait" // pending until an analyst decides
	Skip Outcome = "skip" // not proposed at all
)

// Decision is an Outcome and the rule that produced it.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
}

// Decide applies, in order: the step's own approval setting, the verdict
// (noThreatsFound never acts), email's opt-in, then the automation level of
// the target's device group. Case actions (Input.Incident) follow
// decideIncident instead.
func Decide(s Settings, in Input) Decision {
	if in.Incident {
		return decideIncident(s, in)
	}
	if in.Verdict == domain.VerdictNoThreatsFound {
		return Decision{Skip, "verdict noThreatsFound never produces an action"}
	}
	level, from := s.LevelFor(in.DeviceGroup)
	if level == None {
		return Decision{Skip, fmt.Sprintf("automation level none (%s): no investigation actions", from)}
	}
	for _, t := range in.EntityTags {
		if slices.Contains(s.Guardrails.ProtectedTags, t) {
			return Decision{Wait, fmt.Sprintf("guardrail: entities tagged %q are never acted on without approval", t)}
		}
	}
	if d, ok := stepOrRule(s, in); ok {
		return d
	}
	if strings.HasPrefix(in.ActionType, "email.") && !s.AutoEmail {
		return Decision{Wait, "email actions wait for approval unless the tenant opts in"}
	}
	why := fmt.Sprintf("automation level %s (%s)", level, from)
	if in.Verdict != domain.VerdictMalicious {
		if level == Full || level == SemiCore || level == SemiNonTemp {
			return Decision{Wait, why + ": " + verdictName(in.Verdict) + " evidence waits for approval"}
		}
	}
	switch level {
	case Full:
		return Decision{Run, why + ": malicious evidence is remediated automatically"}
	case SemiCore:
		if isOSPath(in.FilePath) {
			return Decision{Wait, why + ": file in an operating-system folder"}
		}
		return Decision{Run, why + ": malicious, outside operating-system folders"}
	case SemiNonTemp:
		if isTempPath(in.FilePath) {
			return Decision{Run, why + ": malicious, in a temporary or download folder"}
		}
		return Decision{Wait, why + ": outside temporary and download folders"}
	}
	return Decision{Wait, why + ": every remediation waits for approval"}
}

// decideIncident decides a case action. It acts on the incident, which is
// in no device group and has no verdict, so the tenant default level
// decides: none leaves it out, full runs it, the semi levels make it wait
// for approval. Before the level, as for other actions, the step's
// approval (auto or required) and then the approval rules have their say.
func decideIncident(s Settings, in Input) Decision {
	level, from := s.LevelFor("")
	if level == None {
		return Decision{Skip, fmt.Sprintf("automation level none (%s): no investigation actions", from)}
	}
	if d, ok := stepOrRule(s, in); ok {
		return d
	}
	why := fmt.Sprintf("automation level %s (%s)", level, from)
	if level == Full {
		return Decision{Run, why + ": actions on the incident run automatically"}
	}
	return Decision{Wait, why + ": actions on the incident wait for approval"}
}

// stepOrRule is what decides before the automation level, for every
// action: the step's own approval (auto or required), then the first
// approval rule that applies.
func stepOrRule(s Settings, in Input) (Decision, bool) {
	switch in.Approval {
	case "required":
		return Decision{Wait, "playbook step requires approval"}, true
	case "auto":
		return Decision{Run, "playbook step approves automatically"}, true
	}
	if len(s.Rules) == 0 {
		return Decision{}, false
	}
	env := in.Rule
	if env.Action.Type == "" {
		env.Action.Type = in.ActionType
	}
	return applyRules(s.Rules, env)
}

func verdictName(v domain.Verdict) string {
	if v == "" {
		return string(domain.VerdictUnknown)
	}
	return string(v)
}

// folderPath normalises a file path for the folder checks: lower case,
// backslashes, and a trailing separator. Graph's fileDetails.filePath is
// the folder alone (C:\Users\x\AppData\Local\Temp, no separator after
// it), which `\temp\` did not match, so the checks decided as if the file
// were elsewhere.
func folderPath(p string) string {
	p = strings.ToLower(strings.ReplaceAll(p, "/", `\`))
	if !strings.HasSuffix(p, `\`) {
		p += `\`
	}
	return p
}

func isOSPath(p string) bool {
	p = folderPath(p)
	return strings.Contains(p, `\windows\`) || strings.Contains(p, `\program files`)
}

func isTempPath(p string) bool {
	p = folderPath(p)
	return strings.Contains(p, `\temp\`) || strings.Contains(p, `\tmp\`) || strings.Contains(p, `\downloads\`)
}
