package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// Subject is what a rule's filters read of an incident: its severity (for
// an event, the severity the event left), service sources, device groups
// and tags.
type Subject struct {
	Severity       domain.Severity
	ServiceSources []string
	DeviceGroups   []string
	Tags           []string
}

// subjectOf reads a rule's subject from an incident brief.
func subjectOf(b *store.IncidentBrief) Subject {
	tags := append(slices.Clone([]string(b.CustomTags)), b.SystemTags...)
	return Subject{Severity: b.Severity, ServiceSources: b.ServiceSources, DeviceGroups: b.DeviceGroups, Tags: tags}
}

// Matches reports whether the rule's filters all hold for the subject:
// at least the minimum severity, and for each list filter at least one
// value in common (device groups and tags without regard to case).
func (r *Rule) Matches(s Subject) bool {
	if r.MinSeverity != "" && s.Severity.Rank() < r.MinSeverity.Rank() {
		return false
	}
	return anyIn(r.ServiceSources, s.ServiceSources, strings.EqualFold) &&
		anyIn(r.DeviceGroups, s.DeviceGroups, strings.EqualFold) &&
		anyIn(r.Tags, s.Tags, strings.EqualFold)
}

// anyIn reports whether want is empty or shares a value with have.
func anyIn(want, have []string, eq func(a, b string) bool) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		for _, h := range have {
			if eq(w, h) {
				return true
			}
		}
	}
	return false
}

// Event keys: what a message is about, unique with rule and channel.
func incidentEventKey(e store.IncidentEvent) string {
	if e.Kind == store.EventIncidentEscalated {
		// Once per severity reached: lowered by hand and raised again to
		// the same severity, the incident does not notify twice.
		return fmt.Sprintf("%s:%d:%s", e.Kind, e.IncidentID, e.Severity)
	}
	return fmt.Sprintf("%s:%d", e.Kind, e.IncidentID)
}

// waitingKeyPrefix starts the key of an action.waiting message; the action
// id follows.
const waitingKeyPrefix = OnActionWaiting + ":"

// render writes the message about an incident event.
func (c *Config) renderIncident(e store.IncidentEvent, b *store.IncidentBrief) (subject, text string) {
	switch e.Kind {
	case store.EventIncidentEscalated:
		subject = fmt.Sprintf("[AIR] Incident %d escalated to %s: %s", b.ID, e.Severity, b.DisplayName)
	default:
		subject = fmt.Sprintf("[AIR] New %s incident %d: %s", e.Severity, b.ID, b.DisplayName)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "Incident %d: %s\n", b.ID, b.DisplayName)
	if e.Kind == store.EventIncidentEscalated {
		fmt.Fprintf(&t, "Severity: %s (was %s)\n", e.Severity, e.Previous)
	} else {
		fmt.Fprintf(&t, "Severity: %s\n", e.Severity)
	}
	c.incidentLines(&t, b)
	return subject, strings.TrimRight(t.String(), "\n")
}

// renderWaiting writes the message about an action waiting for approval.
func (c *Config) renderWaiting(a *domain.Action, b *store.IncidentBrief, waited time.Duration) (subject, text string) {
	target := a.TargetName
	if target == "" {
		target = string(a.TargetKey)
	}
	subject = fmt.Sprintf("[AIR] %s on %s has waited %s for approval (incident %d)", a.Type, target, roundWait(waited), a.IncidentID)
	var t strings.Builder
	fmt.Fprintf(&t, "Action %s: %s on %s, pending since %s\n", a.ID, a.Type, target, a.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if a.Reason != "" {
		fmt.Fprintf(&t, "Why it waits: %s\n", a.Reason)
	}
	if b != nil {
		fmt.Fprintf(&t, "Incident %d (%s): %s\n", b.ID, b.Severity, b.DisplayName)
		c.incidentLines(&t, b)
	}
	if c.BaseURL != "" {
		fmt.Fprintf(&t, "Decide: %s/actions\n", c.BaseURL)
	}
	return subject, strings.TrimRight(t.String(), "\n")
}

func (c *Config) incidentLines(t *strings.Builder, b *store.IncidentBrief) {
	if len(b.ServiceSources) > 0 {
		fmt.Fprintf(t, "Sources: %s\n", strings.Join(b.ServiceSources, ", "))
	}
	if len(b.DeviceGroups) > 0 {
		fmt.Fprintf(t, "Device groups: %s\n", strings.Join(b.DeviceGroups, ", "))
	}
	if tags := subjectOf(b).Tags; len(tags) > 0 {
		fmt.Fprintf(t, "Tags: %s\n", strings.Join(tags, ", "))
	}
	fmt.Fprintf(t, "Status: %s, %d alerts, priority %d\n", b.Status, b.AlertCount, b.PriorityScore)
	if c.BaseURL != "" {
		fmt.Fprintf(t, "Open: %s/incidents/%d\n", c.BaseURL, b.ID)
	}
}

func roundWait(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
