package domain

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// IncidentName generates an incident's display name from its alerts, the way
// an analyst would say it: "Execution and credential access on 2 endpoints
// reported by Defender for Endpoint".
func IncidentName(categories []string, devices, users int, sources []string) string {
	cats := uniqueSorted(categories)
	var what string
	switch {
	case len(cats) == 0:
		what = "Suspicious activity"
	case len(cats) == 1:
		what = words(cats[0])
	case len(cats) == 2:
		what = words(cats[0]) + " and " + strings.ToLower(words(cats[1]))
	default:
		what = "Multi-stage incident involving " + strings.ToLower(words(cats[0])) + fmt.Sprintf(" and %d other tactics", len(cats)-1)
	}
	var where []string
	switch {
	case devices == 1:
		where = append(where, "one endpoint")
	case devices > 1:
		where = append(where, fmt.Sprintf("%d endpoints", devices))
	}
	switch {
	case users == 1:
		where = append(where, "one user")
	case users > 1:
		where = append(where, fmt.Sprintf("%d users", users))
	}
	name := what
	if len(where) > 0 {
		name += " on " + strings.Join(where, " and ")
	}
	srcs := uniqueSorted(sources)
	if len(srcs) == 1 {
		name += " reported by " + sourceName(srcs[0])
	} else if len(srcs) > 1 {
		name += " reported by multiple sources"
	}
	return name
}

func uniqueSorted(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// words turns "CredentialAccess" into "Credential access".
func words(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		}
		if i == 0 {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

var sourceNames = map[string]string{
	"microsoftDefenderForEndpoint":   "Defender for Endpoint",
	"microsoftDefenderForOffice365":  "Defender for Office 365",
	"microsoftDefenderForIdentity":   "Defender for Identity",
	"microsoftDefenderForCloudApps":  "Defender for Cloud Apps",
	"azureAdIdentityProtection":      "Entra ID Protection",
	"microsoftSentinel":              "Microsoft Sentinel",
	"microsoft365Defender":           "Microsoft 365 Defender",
	"microsoftDataLossPrevention":    "Data Loss Prevention",
	"microsoftDefenderForCloud":      "Defender for Cloud",
	"microsoftAppGovernance":         "App Governance",
	"microsoftInsiderRiskManagement": "Insider Risk Management",
}

func sourceName(s string) string {
	if n, ok := sourceNames[s]; ok {
		return n
	}
	return s
}
