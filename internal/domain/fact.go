package domain

import "time"

// Fact is something an analysis step learned about an entity (SPEC "Facts
// and verdicts"): an intel match, a known-benign listing, the
// organisation's prevalence. Verdict rules read facts; each says where it
// came from and when, so that a verdict can be explained.
type Fact struct {
	Entity EntityKey `json:"entity"`
	// Kind says what was learned; see the Fact* constants.
	Kind string `json:"kind"`
	// Value holds the kind's details as JSON (an intel match's feed,
	// indicator, score, family and validity; prevalence counts).
	Value RawJSON `json:"value"`
	// Source names who said so: "intel:<feed>", "store" for AIR's own
	// data, a connector's name (mde, graph, lab) for what a vendor said.
	Source     string    `json:"source"`
	ObservedAt time.Time `json:"observedAt"`
}

// Fact kinds.
const (
	FactIntelMatch  = "intel.match"    // a threat-intelligence feed names the entity
	FactIntelBenign = "intel.benign"   // a known-benign list (MISP warning list) names it
	FactPrevalence  = "prevalence.org" // how often the organisation has seen it

	// Connector enrichment (internal/enrich), source the connector's
	// name: mde, graph or lab.
	FactVendorFileStats     = "vendor.file_stats"      // a file's organisation and global prevalence
	FactVendorIPStats       = "vendor.ip_stats"        // an IP's organisation prevalence
	FactVendorLoggedOnUsers = "vendor.logged_on_users" // who logged on to a device
	FactVendorRelatedAlerts = "vendor.related_alerts"  // a device's other alerts at the vendor
	FactVendorRiskyUser     = "vendor.risky_user"      // a user's identity-protection risk
	FactVendorSignIns       = "vendor.sign_ins"        // a user's recent sign-ins
	FactVendorError         = "vendor.error"           // what a vendor could not tell, and why
)
