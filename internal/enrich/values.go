package enrich

import "time"

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
