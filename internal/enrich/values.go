package enrich

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// The values of vendor facts. Every vendor that gives a kind gives it in
// the same shape (the lab tenant as Defender for Endpoint or Graph does),
// so that playbook rules read item.vendor the same whichever answered.

// FileStats is a vendor.file_stats fact: how widely a file is seen.
type FileStats struct {
	SHA1 string `json:"sha1,omitempty"`
	// OrgPrevalence is how many of the organisation's devices saw it in the
	// look-back window (Defender: 30 days).
	OrgPrevalence int        `json:"orgPrevalence"`
	OrgFirstSeen  *time.Time `json:"orgFirstSeen,omitempty"`
	OrgLastSeen   *time.Time `json:"orgLastSeen,omitempty"`
	// GlobalPrevalence is how many devices worldwide saw it.
	GlobalPrevalence int64      `json:"globalPrevalence"`
	GlobalFirstSeen  *time.Time `json:"globalFirstSeen,omitempty"`
	GlobalLastSeen   *time.Time `json:"globalLastSeen,omitempty"`
	TopFileNames     []string   `json:"topFileNames,omitempty"`
}

// IPStats is a vendor.ip_stats fact: how many of the organisation's
// devices connected to the address.
type IPStats struct {
	IP            string     `json:"ip"`
	OrgPrevalence int        `json:"orgPrevalence"`
	OrgFirstSeen  *time.Time `json:"orgFirstSeen,omitempty"`
	OrgLastSeen   *time.Time `json:"orgLastSeen,omitempty"`
}

// LoggedOnUsers is a vendor.logged_on_users fact.
type LoggedOnUsers struct {
	Machine string      `json:"machine"`
	Users   []LogonUser `json:"users"`
}

// LogonUser is one account that logged on to a device.
type LogonUser struct {
	Account     string     `json:"account"` // DOMAIN\name as the vendor gives it
	Name        string     `json:"name"`
	Domain      string     `json:"domain,omitempty"`
	FirstSeen   *time.Time `json:"firstSeen,omitempty"`
	LastSeen    *time.Time `json:"lastSeen,omitempty"`
	LogonTypes  string     `json:"logonTypes,omitempty"`
	DomainAdmin bool       `json:"domainAdmin"`
	NetworkOnly bool       `json:"networkOnly"`
}

// RelatedAlerts is a vendor.related_alerts fact: the vendor's alerts on
// a device, newest first.
type RelatedAlerts struct {
	Machine string         `json:"machine"`
	Alerts  []RelatedAlert `json:"alerts"`
	// Active counts the alerts not resolved.
	Active int `json:"active"`
	// HighSeverity counts the alerts of high severity.
	HighSeverity int `json:"highSeverity"`
}

// RelatedAlert is one of them.
type RelatedAlert struct {
	ID           string     `json:"id"`
	Title        string     `json:"title"`
	Severity     string     `json:"severity"` // Informational, Low, Medium, High
	Status       string     `json:"status"`   // New, InProgress, Resolved
	Category     string     `json:"category,omitempty"`
	ThreatFamily string     `json:"threatFamily,omitempty"`
	CreatedAt    *time.Time `json:"createdAt,omitempty"`
}

// RiskyUser is a vendor.risky_user fact (Graph's riskyUser). A user
// identity protection never flagged is Listed false with level and state
// "none".
type RiskyUser struct {
	UserID          string     `json:"userId"`
	Listed          bool       `json:"listed"`
	RiskLevel       string     `json:"riskLevel"`  // none, low, medium, high, hidden
	RiskState       string     `json:"riskState"`  // none, atRisk, confirmedCompromised, remediated, dismissed, confirmedSafe
	RiskDetail      string     `json:"riskDetail"` // none, adminConfirmedUserCompromised, …
	RiskLastUpdated *time.Time `json:"riskLastUpdated,omitempty"`
}

// SignIns is a vendor.sign_ins fact: a user's most recent sign-ins.
type SignIns struct {
	UserID  string   `json:"userId"`
	SignIns []SignIn `json:"signIns"`
	// Failed counts the sign-ins that failed (error code not 0).
	Failed int `json:"failed"`
	// Risky counts those whose risk during sign-in was low or above.
	Risky int `json:"risky"`
	// Countries are the distinct countries signed in from, in order seen.
	Countries []string `json:"countries"`
}

// SignIn is one sign-in.
type SignIn struct {
	ID        string     `json:"id"`
	At        *time.Time `json:"at,omitempty"`
	App       string     `json:"app,omitempty"`
	IP        string     `json:"ip,omitempty"`
	Country   string     `json:"country,omitempty"`
	City      string     `json:"city,omitempty"`
	ErrorCode int        `json:"errorCode"`
	Failure   string     `json:"failure,omitempty"`
	RiskLevel string     `json:"riskLevel,omitempty"` // riskLevelDuringSignIn
	// Interactive: the user signed in, not an app on their behalf.
	Interactive bool `json:"interactive"`
}

// RiskAtOrAbove reports whether a Graph risk level is low, medium or high.
func RiskAtOrAbove(level string) bool {
	return level == "low" || level == "medium" || level == "high"
}

// Describe says a vendor fact in a few words, for a step's result line and
// the incident page: "file seen on 3 devices in the organisation, 705012
// worldwide", "user risk high (atRisk)", "could not tell: …". It returns ""
// for a fact that is not a vendor's or whose value it cannot read.
func Describe(f domain.Fact) string {
	switch f.Kind {
	case domain.FactVendorFileStats:
		var v FileStats
		if json.Unmarshal(f.Value, &v) == nil {
			s := fmt.Sprintf("file seen on %d devices in the organisation, %d worldwide", v.OrgPrevalence, v.GlobalPrevalence)
			if v.OrgFirstSeen != nil {
				s += ", first in the organisation " + v.OrgFirstSeen.UTC().Format("2006-01-02")
			}
			return s
		}
	case domain.FactVendorIPStats:
		var v IPStats
		if json.Unmarshal(f.Value, &v) == nil {
			return fmt.Sprintf("%d devices connected to the address", v.OrgPrevalence)
		}
	case domain.FactVendorLoggedOnUsers:
		var v LoggedOnUsers
		if json.Unmarshal(f.Value, &v) == nil {
			var names, admins []string
			for _, u := range v.Users {
				names = append(names, u.Account)
				if u.DomainAdmin {
					admins = append(admins, u.Account)
				}
			}
			s := fmt.Sprintf("%d logged-on users", len(v.Users))
			if len(names) > 0 {
				s += " (" + strings.Join(names, ", ") + ")"
			}
			if len(admins) > 0 {
				s += ", domain admins " + strings.Join(admins, ", ")
			}
			return s
		}
	case domain.FactVendorRelatedAlerts:
		var v RelatedAlerts
		if json.Unmarshal(f.Value, &v) == nil {
			s := fmt.Sprintf("%d related alerts (%d active, %d high)", len(v.Alerts), v.Active, v.HighSeverity)
			if len(v.Alerts) > 0 {
				s += ", latest: " + v.Alerts[0].Title
			}
			return s
		}
	case domain.FactVendorRiskyUser:
		var v RiskyUser
		if json.Unmarshal(f.Value, &v) == nil {
			if !v.Listed {
				return "user risk none (never flagged)"
			}
			return fmt.Sprintf("user risk %s (%s, %s)", v.RiskLevel, v.RiskState, v.RiskDetail)
		}
	case domain.FactVendorSignIns:
		var v SignIns
		if json.Unmarshal(f.Value, &v) == nil {
			s := fmt.Sprintf("%d recent sign-ins, %d failed, %d risky", len(v.SignIns), v.Failed, v.Risky)
			if len(v.Countries) > 0 {
				s += ", from " + strings.Join(v.Countries, ", ")
			}
			return s
		}
	case domain.FactVendorError:
		var v ErrorFact
		if json.Unmarshal(f.Value, &v) == nil && len(v.Failures) > 0 {
			var why []string
			for _, x := range v.Failures {
				w := x.Error
				if x.TimedOut {
					w += " (timed out)"
				}
				why = append(why, w)
			}
			return "could not tell: " + strings.Join(why, "; ")
		}
	}
	return ""
}
