package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/records"
)

// factLine is a fact as the incident page shows it: what was learned, in
// words, who said so and when.
type factLine struct {
	Kind, Source, Text string
	At                 time.Time
}

// factOf puts a fact in words: "named by abuse-ch-feodo: 203.0.113.7
// (family emotet, score 90)", "known-benign in misp-public-dns",
// "seen on 3 devices, 2 users in 2 incidents (5 alerts), first … last …".
// A value it cannot read is shown as stored rather than dropped.
func factOf(f domain.Fact) factLine {
	l := factLine{Kind: f.Kind, Source: f.Source, At: f.ObservedAt, Text: string(f.Value)}
	switch f.Kind {
	case domain.FactIntelMatch, domain.FactIntelBenign:
		var m struct {
			Feed    string
			Matches []records.IntelMatch
		}
		if json.Unmarshal(f.Value, &m) != nil || len(m.Matches) == 0 {
			return l
		}
		first := m.Matches[0]
		var about []string
		if first.Family != "" {
			about = append(about, "family "+first.Family)
		}
		if first.Score != 0 {
			about = append(about, fmt.Sprintf("score %d", first.Score))
		}
		if first.ValidUntil != nil {
			about = append(about, "valid until "+first.ValidUntil.UTC().Format(time.DateOnly))
		}
		verb := "named by"
		if f.Kind == domain.FactIntelBenign {
			verb = "known-benign in"
		}
		l.Text = fmt.Sprintf("%s %s: %s", verb, m.Feed, first.Value)
		if len(about) > 0 {
			l.Text += " (" + strings.Join(about, ", ") + ")"
		}
		if n := len(m.Matches) - 1; n > 0 {
			l.Text += fmt.Sprintf(" and %d more %s", n, plural(n, "indicator", "indicators"))
		}
	case domain.FactVendorFileStats, domain.FactVendorIPStats, domain.FactVendorLoggedOnUsers, domain.FactVendorRelatedAlerts,
		domain.FactVendorRiskyUser, domain.FactVendorSignIns, domain.FactVendorError:
		if s := enrich.Describe(f); s != "" {
			l.Text = s
		}
	case domain.FactPrevalence:
		var p records.Prevalence
		if json.Unmarshal(f.Value, &p) != nil {
			return l
		}
		l.Text = fmt.Sprintf("seen on %d %s, %d %s in %d %s (%d %s)", p.Devices, plural(p.Devices, "device", "devices"),
			p.Users, plural(p.Users, "user", "users"), p.Incidents, plural(p.Incidents, "incident", "incidents"),
			p.Alerts, plural(p.Alerts, "alert", "alerts"))
		if p.FirstSeen != nil && p.LastSeen != nil {
			l.Text += fmt.Sprintf(", first %s, last %s", p.FirstSeen.UTC().Format("2006-01-02 15:04"), p.LastSeen.UTC().Format("2006-01-02 15:04"))
		}
		if p.Truncated {
			l.Text += fmt.Sprintf(" (counted over the first %d entities)", records.PrevalenceListMax)
		}
	}
	return l
}
