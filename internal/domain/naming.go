package domain

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// IncidentName generates an incident's display name from its tactics,
// scope and sources: "Execution and credential access on 2 endpoints
// reported by Defender for Endpoint". It is the fallback of IncidentTitle
// for incidents whose alerts have no titles.
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

// SourceName is a service source in words ("microsoftDefenderForEndpoint"
// → "Defender for Endpoint"); an unknown one is returned as it is.
func SourceName(s string) string { return sourceName(s) }

func sourceName(s string) string {
	if n, ok := sourceNames[s]; ok {
		return n
	}
	return s
}

// MaxHeadline is how many alert titles an incident's headline keeps: the
// distinct titles of its most severe alerts, in the order they arrived.
const MaxHeadline = 3

// AddHeadline folds an alert's title of severity rank into an incident's
// headline (titles of that rank): a more severe alert replaces the
// headline, one as severe joins it while there is room, a less severe one
// or an empty title changes nothing. It returns the new headline and rank.
func AddHeadline(headline []string, rank int, title string, alertRank int) ([]string, int) {
	title = strings.Join(strings.Fields(title), " ")
	switch {
	case title == "":
		return headline, rank
	case len(headline) == 0 || alertRank > rank:
		return []string{title}, alertRank
	case alertRank == rank && len(headline) < MaxHeadline && !slices.Contains(headline, title):
		return append(slices.Clone(headline), title), rank
	}
	return headline, rank
}

// maxTitleRunes bounds one alert title inside a generated name, which
// must fit the 256 characters of a display name.
const maxTitleRunes = 80

// IncidentTitle names an incident from what happened: the titles of its
// most severe alerts and its main asset — "Web shell dropped on server —
// srv-01", "Credential dumping and Suspicious PowerShell — ws-042 and 2
// more devices". Without titles it falls back to IncidentName (tactics,
// scope and sources). asset is the main asset's name ("" for none), more
// how many other assets of its kind, kind that kind in the singular
// ("device", "user", "mailbox", "app"). The name has at most 256
// characters, the longest display name.
func IncidentTitle(headline []string, asset string, more int, kind string) string {
	var titles []string
	for _, t := range headline {
		if r := []rune(t); len(r) > maxTitleRunes {
			t = string(r[:maxTitleRunes-1]) + "…"
		}
		titles = append(titles, t)
	}
	var name string
	switch len(titles) {
	case 0:
		return ""
	case 1:
		name = titles[0]
	case 2:
		name = titles[0] + " and " + titles[1]
	default:
		name = titles[0] + ", " + titles[1] + " and more"
	}
	if asset != "" {
		name += " — " + asset
		if more > 0 {
			if more > 1 {
				kind += "s"
				if strings.HasSuffix(kind, "xs") {
					kind = strings.TrimSuffix(kind, "s") + "es"
				}
			}
			name += fmt.Sprintf(" and %d more %s", more, kind)
		}
	}
	if r := []rune(name); len(r) > 256 {
		name = string(r[:255]) + "…"
	}
	return name
}
