package records

import (
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
)

// IntelFeed is one imported threat-intelligence feed: what it is and what
// its live import held.
type IntelFeed struct {
	Name   string       `json:"name" db:"name"`
	Format intel.Format `json:"format" db:"format"`
	// Benign feeds list known-benign values (MISP warning lists); a match
	// weakens suspicion rather than raising it.
	Benign      bool   `json:"benign" db:"benign"`
	Title       string `json:"title,omitempty" db:"title"` // what the feed calls itself
	Description string `json:"description,omitempty" db:"description"`
	Source      string `json:"source,omitempty" db:"source"` // the file it came from
	Indicators  int    `json:"indicators" db:"indicators"`   // stored, unsupported included
	Unsupported int    `json:"unsupported" db:"unsupported"` // kept as patterns, never matched
	Skipped     int    `json:"skipped" db:"skipped"`         // bad lines and objects
	// Duplicates counts values the feed named more than once; the first
	// occurrence was kept.
	Duplicates int `json:"duplicates" db:"duplicates"`
	// Techniques counts the MITRE ATT&CK techniques the feed holds (an
	// ATT&CK bundle); 0 for indicator feeds.
	Techniques int       `json:"techniques,omitempty" db:"techniques"`
	ImportedBy string    `json:"importedBy" db:"imported_by"`
	ImportedAt time.Time `json:"importedAt" db:"imported_at"`
}

// IntelMatch is an indicator of a live feed that matched a look-up.
type IntelMatch struct {
	Feed   string `json:"feed"`
	Benign bool   `json:"benign"`
	intel.Indicator
}

// Prevalence is how widely AIR's own store has seen an observable: the
// entities that carry it, and the alerts, incidents, devices and users
// those entities appeared with.
type Prevalence struct {
	Kind  intel.Kind `json:"kind"`
	Value string     `json:"value"`
	// Entities are the keys that carry the value: the file keyed by it (or
	// whose other hashes include it), the IP, the URL, or for a domain the
	// URLs on it and its subdomains.
	Entities  []domain.EntityKey `json:"entities"`
	Alerts    int                `json:"alerts"`
	Incidents int                `json:"incidents"`
	Devices   int                `json:"devices"`
	Users     int                `json:"users"`
	// DeviceKeys and IncidentIDs list up to PrevalenceListMax of them, so
	// that an investigation can find the same file on another device.
	DeviceKeys  []domain.EntityKey `json:"deviceKeys"`
	IncidentIDs []int64            `json:"incidentIds"`
	FirstSeen   *time.Time         `json:"firstSeen,omitempty"`
	LastSeen    *time.Time         `json:"lastSeen,omitempty"`
	// Truncated says the value is carried by more than PrevalenceListMax
	// entities (a popular domain) and only that many were counted.
	Truncated bool `json:"truncated,omitempty"`
}

// PrevalenceListMax bounds the entities, device keys and incident ids a
// Prevalence reads and lists.
const PrevalenceListMax = 500
