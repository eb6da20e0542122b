package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// incidentFuncs are the template functions of the incident pages.
var incidentFuncs = map[string]any{
	"label":      label,
	"prio":       prioClass,
	"factors":    factorsText,
	"few":        few,
	"pct":        func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"actionLine": actionLine,
	"statCard":   newStatCard,
	"pretty":     pretty,
	"attr":       func(m map[string]string, k string) string { return m[k] },
	// actionLabel and sourceName put identifiers in words; the pages keep
	// the identifier in a title attribute, for the API and the CLI.
	"actionLabel": actions.Label,
	"activity":    activity,
	"sourceName":  domain.SourceName,
	"rowAct":      rowAct,
	"rowActForms": rowActForms,
	"alertForm":   alertForm,
	// verdicts are the verdicts an analyst decides, strongest first.
	"verdicts": func() []domain.Verdict {
		return []domain.Verdict{domain.VerdictMalicious, domain.VerdictSuspicious, domain.VerdictNoThreatsFound}
	},
}

// label turns a Graph enum value into words: inProgress → in progress,
// informationalExpectedActivity → informational expected activity.
func label(v any) string {
	s := fmt.Sprint(v)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prioClass is the score badge's class: how urgent, at a glance.
func prioClass(score int) string {
	switch {
	case score >= 70:
		return "p-high"
	case score >= 40:
		return "p-medium"
	}
	return "p-low"
}

// factorsText explains a priority score in one line, for a tooltip.
func factorsText(fs []correlate.Factor) string {
	if len(fs) == 0 {
		return "no factors yet"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("+%d %s", f.Points, f.Name)
		if f.Detail != "" {
			parts[i] += " (" + f.Detail + ")"
		}
	}
	return strings.Join(parts, "; ")
}

// few lists the first three names and says how many more there are.
func few(names []string, total int) string {
	const n = 3
	total = max(total, len(names))
	if len(names) <= n && total == len(names) {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s +%d more", strings.Join(names[:min(n, len(names))], ", "), total-min(n, len(names)))
}

// pretty shows a JSON list of strings, as the activity log keeps tags, as
// a plain list: ["a","b"] → a, b; [] → (none). Anything else is as is.
func pretty(s string) string {
	var l []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &l) == nil {
		if len(l) == 0 {
			return "(none)"
		}
		return strings.Join(l, ", ")
	}
	return s
}
