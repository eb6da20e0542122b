package labtenant

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

// The lab tenant's enrichment answers what Defender for Endpoint and Graph
// would, in their shapes, from the entity's key alone: the same entity
// always gets the same facts, so `worker -dev` shows vendor facts and a
// demo can be replayed. The numbers are made up; docs/intel.md says how.
// A fault of type "enrich" or "enrich.<kind>" (file, ip, device, user)
// makes the lab answer as a failing vendor does (Throttled, Unavailable).

var _ enrich.Enricher = (*Tenant)(nil)

// Vendor names the facts' source.
func (t *Tenant) Vendor() string { return "lab" }

// labEpoch anchors the lab's first- and last-seen times.
var labEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// LabRiskLevels are the risk levels the lab gives users, by the key's hash.
var LabRiskLevels = []string{"none", "low", "medium", "high"}

var labAlertTitles = []string{"Suspicious PowerShell command line", "Possible credential dumping", "Suspicious scheduled task",
	"Ransomware behavior detected", "Connection to a known command-and-control address"}

var labSeverities = []string{"Low", "Medium", "High"}

// Lookups are the calls that tell about e.
func (t *Tenant) Lookups(e domain.Entity) []enrich.Lookup {
	_, id, _ := strings.Cut(string(e.Key), ":")
	if id == "" {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(string(e.Key))))
	n := h.Sum64()
	day := func(d uint64) *time.Time { v := labEpoch.Add(time.Duration(d%300) * 24 * time.Hour); return &v }
	lookup := func(kind, call string, v func() any) enrich.Lookup {
		return enrich.Lookup{Kind: kind, Call: call, Do: func(context.Context) (any, error) {
			if err := t.enrichFault(string(e.Kind), call); err != nil {
				return nil, err
			}
			return v(), nil
		}}
	}
	switch e.Kind {
	case domain.KindFile:
		return []enrich.Lookup{lookup(domain.FactVendorFileStats, "file stats of "+id, func() any {
			first := day(n)
			last := day(n%300 + n%40)
			s := &enrich.FileStats{SHA1: e.Attrs["sha1"], OrgPrevalence: 1 + int(n%4), OrgFirstSeen: first, OrgLastSeen: last}
			if n%3 != 0 { // two files in three are known beyond the lab
				s.GlobalPrevalence = int64(n % 100000)
				s.GlobalFirstSeen, s.GlobalLastSeen = day(n/7), last
			}
			if name := e.Attrs["fileName"]; name != "" {
				s.TopFileNames = []string{name}
			}
			return s
		})}
	case domain.KindIP:
		addr, err := netip.ParseAddr(id)
		if err != nil {
			return nil
		}
		return []enrich.Lookup{lookup(domain.FactVendorIPStats, "ip stats of "+id, func() any {
			s := &enrich.IPStats{IP: addr.String(), OrgPrevalence: int(n % 3)}
			if addr.IsPrivate() || addr.IsLoopback() {
				s.OrgPrevalence = 20 + int(n%200)
			}
			if s.OrgPrevalence > 0 {
				s.OrgFirstSeen, s.OrgLastSeen = day(n), day(n%300+n%40)
			}
			return s
		})}
	case domain.KindDevice:
		return []enrich.Lookup{
			lookup(domain.FactVendorLoggedOnUsers, "logged-on users of "+id, func() any {
				out := &enrich.LoggedOnUsers{Machine: id, Users: []enrich.LogonUser{{Account: `LAB\user` + fmt.Sprint(n%50), Name: "user" + fmt.Sprint(n%50),
					Domain: "LAB", FirstSeen: day(n), LastSeen: day(n%300 + 30), LogonTypes: "Interactive"}}}
				if n%4 == 0 {
					out.Users = append(out.Users, enrich.LogonUser{Account: `LAB\admin`, Name: "admin", Domain: "LAB",
						FirstSeen: day(n + 3), LastSeen: day(n%300 + 31), LogonTypes: "RemoteInteractive", DomainAdmin: true})
				}
				return out
			}),
			lookup(domain.FactVendorRelatedAlerts, "alerts of "+id, func() any {
				out := &enrich.RelatedAlerts{Machine: id, Alerts: []enrich.RelatedAlert{}}
				for i := uint64(0); i < n%3; i++ {
					sev := labSeverities[(n+i)%3]
					status := "New"
					if i > 0 {
						status = "Resolved"
					} else {
						out.Active++
					}
					if sev == "High" {
						out.HighSeverity++
					}
					out.Alerts = append(out.Alerts, enrich.RelatedAlert{ID: fmt.Sprintf("lab%d_%d", n%100000, i), Title: labAlertTitles[(n+i)%5],
						Severity: sev, Status: status, Category: "Execution", CreatedAt: day(n%300 + 30 - i)})
				}
				return out
			}),
		}
	case domain.KindUser:
		return []enrich.Lookup{
			lookup(domain.FactVendorRiskyUser, "risk of "+id, func() any {
				level := LabRiskLevels[n%4]
				r := &enrich.RiskyUser{UserID: id, RiskLevel: level, RiskState: "none", RiskDetail: "none"}
				if level != "none" {
					r.Listed, r.RiskState, r.RiskLastUpdated = true, "atRisk", day(n%300+30)
				}
				return r
			}),
			lookup(domain.FactVendorSignIns, "sign-ins of "+id, func() any {
				out := &enrich.SignIns{UserID: id, SignIns: []enrich.SignIn{}, Countries: []string{}}
				countries := []string{"US", "GB", "DE", "BR", "NG"}
				for i := uint64(0); i < 3; i++ {
					c := countries[0]
					if i == 2 && n%2 == 0 { // every other user also signed in from abroad
						c = countries[1+n%4]
					}
					s := enrich.SignIn{ID: fmt.Sprintf("lab-%d-%d", n%100000, i), At: day(n%300 + 30 - i), App: "Office 365 Exchange Online",
						IP: fmt.Sprintf("203.0.113.%d", (n+i)%250+1), Country: c, Interactive: true, RiskLevel: "none"}
					if i == 2 && n%2 == 0 {
						s.ErrorCode, s.Failure, s.RiskLevel = 50126, "Invalid username or password.", LabRiskLevels[n%4]
						out.Failed++
						if enrich.RiskAtOrAbove(s.RiskLevel) {
							out.Risky++
						}
					}
					if !slices.Contains(out.Countries, c) {
						out.Countries = append(out.Countries, c)
					}
					out.SignIns = append(out.SignIns, s)
				}
				return out
			}),
		}
	}
	return nil
}

// Enrichers makes the lab alone an enrich.Source: it enriches every kind
// it can (tests and benchmarks that run without a router).
func (t *Tenant) Enrichers(k domain.EntityKind) []enrich.Enricher {
	if slices.Contains(EnrichKinds, k) {
		return []enrich.Enricher{t}
	}
	return nil
}

// EnrichKinds are the entity kinds the lab enriches: a fault of type
// "enrich.<kind>" or "enrich.*" fails their look-ups.
var EnrichKinds = []domain.EntityKind{domain.KindFile, domain.KindIP, domain.KindDevice, domain.KindUser}

// IsEnrichFault reports whether a fault type names lab enrichment rather
// than action types: "enrich.*" or "enrich.<kind>".
func IsEnrichFault(pattern string) bool {
	for _, k := range EnrichKinds {
		if Matches(pattern, "enrich."+string(k)) && strings.HasPrefix(pattern, "enrich.") {
			return true
		}
	}
	return false
}

// enrichFault answers a lab enrichment call with the fault configured for
// it, if any. Only faults of type enrich.* or enrich.<kind> apply: a "*"
// fault is about actions, and enrichment must not use up its count.
func (t *Tenant) enrichFault(kind, call string) error {
	t.mu.Lock()
	var f *Fault
	for i := range t.Faults {
		c := &t.Faults[i]
		if !IsEnrichFault(c.Type) || !Matches(c.Type, "enrich."+kind) || (c.Times > 0 && t.used[i] >= c.Times) {
			continue
		}
		if t.used == nil {
			t.used = map[int]int{}
		}
		t.used[i]++
		f = c
		break
	}
	t.mu.Unlock()
	if f == nil {
		return nil
	}
	switch f.Answer {
	case Throttled:
		after := f.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		return rest.Throttled("lab", http.MethodGet, call, after)
	case Unavailable:
		return &rest.StatusError{Vendor: "lab", Method: http.MethodGet, Path: call, Status: http.StatusServiceUnavailable,
			Code: "ServiceUnavailable", Message: "the lab tenant is unavailable"}
	}
	return nil
}
