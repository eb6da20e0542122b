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
	// data.
	Source     string    `json:"source"`
	ObservedAt time.Time `json:"observedAt"`
}

// Fact kinds.
const (
	FactIntelMatch  = "intel.match"    // a threat-intelligence feed names the entity
	FactIntelBenign = "intel.benign"   // a known-benign list (MISP warning list) names it
	FactPrevalence  = "prevalence.org" // how often the organisation has seen it
)
