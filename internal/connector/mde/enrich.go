package mde

import (
	"context"

	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

// Enrichment (internal/enrich): Defender for Endpoint's statistics of a
// file (GET /api/files/{sha1|sha256}/stats, permission File.Read.All) and
// of an IP (GET /api/ips/{ip}/stats, Ip.Read.All), and of a device its
// logged-on users (GET /api/machines/{id}/logonusers, User.Read.All) and
// related alerts (GET /api/machines/{id}/alerts, Alert.Read.All). A device
// known by its DNS name is looked up first (GET /api/machines?$filter=
// computerDnsName eq '…', Machine.Read.All).

var _ enrich.Enricher = (*Client)(nil)

// Vendor names the facts' source.
func (c *Client) Vendor() string { return "mde" }

// MaxRelatedAlerts bounds the related alerts a fact keeps (newest first).
const MaxRelatedAlerts = 20

// Lookups are the calls that tell about e.
func (c *Client) Lookups(e domain.Entity) []enrich.Lookup {
	_, id, _ := strings.Cut(string(e.Key), ":")
	switch e.Kind {
	case domain.KindFile:
		hash := strings.ToLower(e.Attrs["sha1"])
		if !isHex(hash, 40) {
			hash = strings.ToLower(e.Attrs["sha256"])
		}
		if !isHex(hash, 40) && !isHex(hash, 64) {
			if isHex(strings.ToLower(id), 40) || isHex(strings.ToLower(id), 64) {
				hash = strings.ToLower(id)
			} else {
				return nil // Defender has no statistics by MD5
			}
		}
		path := "/api/files/" + hash + "/stats"
		return []enrich.Lookup{{Kind: domain.FactVendorFileStats, Call: "GET " + path,
			Do: func(ctx context.Context) (any, error) { return c.fileStats(ctx, path) }}}
	case domain.KindIP:
		addr, err := netip.ParseAddr(id)
		if err != nil {
			return nil
		}
		path := "/api/ips/" + addr.String() + "/stats"
		return []enrich.Lookup{{Kind: domain.FactVendorIPStats, Call: "GET " + path,
			Do: func(ctx context.Context) (any, error) { return c.ipStats(ctx, path) }}}
	case domain.KindDevice:
		name := e.Attrs["mdeDeviceId"]
		if name == "" {
			name = id
		}
		if name == "" {
			return nil
		}
		// Both calls need the machine id; a DNS name is looked up once.
		var machine string
		resolve := func(ctx context.Context) (string, error) {
			if machine != "" {
				return machine, nil
			}
			m, err := c.resolveMachine(ctx, name)
			if err == nil {
				machine = m
			}
			return m, err
		}
		return []enrich.Lookup{
			{Kind: domain.FactVendorLoggedOnUsers, Call: "GET /api/machines/" + name + "/logonusers",
				Do: func(ctx context.Context) (any, error) {
					m, err := resolve(ctx)
					if err != nil {
						return nil, err
					}
					return c.logonUsers(ctx, m)
				}},
			{Kind: domain.FactVendorRelatedAlerts, Call: "GET /api/machines/" + name + "/alerts",
				Do: func(ctx context.Context) (any, error) {
					m, err := resolve(ctx)
					if err != nil {
						return nil, err
					}
					return c.relatedAlerts(ctx, m)
				}},
		}
	}
	return nil
}

// fileStats reads the API's InOrgFileStats.
func (c *Client) fileStats(ctx context.Context, path string) (*enrich.FileStats, error) {
	var w struct {
		SHA1                   string     `json:"sha1"`
		OrganizationPrevalence *int       `json:"organizationPrevalence"`
		OrgFirstSeen           *time.Time `json:"orgFirstSeen"`
		OrgLastSeen            *time.Time `json:"orgLastSeen"`
		GloballyPrevalence     *int64     `json:"globallyPrevalence"`
		GlobalPrevalence       *int64     `json:"globalPrevalence"`
		GlobalFirstObserved    *time.Time `json:"globalFirstObserved"`
		GlobalLastObserved     *time.Time `json:"globalLastObserved"`
		TopFileNames           []string   `json:"topFileNames"`
	}
	if err := c.API.Do(ctx, http.MethodGet, path, nil, &w); err != nil {
		return nil, err
	}
	if w.OrganizationPrevalence == nil {
		return nil, domain.Errorf(domain.KindInvalid, "mde GET %s: answer has no organizationPrevalence", path)
	}
	out := &enrich.FileStats{SHA1: w.SHA1, OrgPrevalence: *w.OrganizationPrevalence, OrgFirstSeen: w.OrgFirstSeen, OrgLastSeen: w.OrgLastSeen,
		GlobalFirstSeen: w.GlobalFirstObserved, GlobalLastSeen: w.GlobalLastObserved, TopFileNames: w.TopFileNames}
	switch {
	case w.GloballyPrevalence != nil:
		out.GlobalPrevalence = *w.GloballyPrevalence
	case w.GlobalPrevalence != nil:
		out.GlobalPrevalence = *w.GlobalPrevalence
	}
	return out, nil
}

// ipStats reads the API's InOrgIPStats. An address Defender never saw
// answers with organizationPrevalence 0, an invalid one 400.
func (c *Client) ipStats(ctx context.Context, path string) (*enrich.IPStats, error) {
	var w struct {
		IPAddress              string     `json:"ipAddress"`
		OrganizationPrevalence *int       `json:"organizationPrevalence"`
		OrgFirstSeen           *time.Time `json:"orgFirstSeen"`
		OrgLastSeen            *time.Time `json:"orgLastSeen"`
	}
	if err := c.API.Do(ctx, http.MethodGet, path, nil, &w); err != nil {
		return nil, err
	}
	if w.OrganizationPrevalence == nil {
		return nil, domain.Errorf(domain.KindInvalid, "mde GET %s: answer has no organizationPrevalence", path)
	}
	return &enrich.IPStats{IP: w.IPAddress, OrgPrevalence: *w.OrganizationPrevalence, OrgFirstSeen: w.OrgFirstSeen, OrgLastSeen: w.OrgLastSeen}, nil
}

func (c *Client) logonUsers(ctx context.Context, machine string) (*enrich.LoggedOnUsers, error) {
	type user struct {
		ID                string     `json:"id"`
		AccountName       string     `json:"accountName"`
		AccountDomain     string     `json:"accountDomain"`
		FirstSeen         *time.Time `json:"firstSeen"`
		LastSeen          *time.Time `json:"lastSeen"`
		LogonTypes        string     `json:"logonTypes"`
		IsDomainAdmin     bool       `json:"isDomainAdmin"`
		IsOnlyNetworkUser bool       `json:"isOnlyNetworkUser"`
	}
	users, err := rest.ListOData[user](ctx, c.API, "/api/machines/"+url.PathEscape(machine)+"/logonusers")
	if err != nil {
		return nil, err
	}
	out := &enrich.LoggedOnUsers{Machine: machine, Users: []enrich.LogonUser{}}
	for _, u := range users {
		account := u.ID
		if account == "" {
			account = u.AccountDomain + `\` + u.AccountName
		}
		out.Users = append(out.Users, enrich.LogonUser{Account: account, Name: u.AccountName, Domain: u.AccountDomain,
			FirstSeen: u.FirstSeen, LastSeen: u.LastSeen, LogonTypes: u.LogonTypes, DomainAdmin: u.IsDomainAdmin, NetworkOnly: u.IsOnlyNetworkUser})
	}
	return out, nil
}

func (c *Client) relatedAlerts(ctx context.Context, machine string) (*enrich.RelatedAlerts, error) {
	type alert struct {
		ID                string     `json:"id"`
		Title             string     `json:"title"`
		Severity          string     `json:"severity"`
		Status            string     `json:"status"`
		Category          string     `json:"category"`
		ThreatFamilyName  string     `json:"threatFamilyName"`
		AlertCreationTime *time.Time `json:"alertCreationTime"`
	}
	alerts, err := rest.ListOData[alert](ctx, c.API, "/api/machines/"+url.PathEscape(machine)+"/alerts")
	if err != nil {
		return nil, err
	}
	out := &enrich.RelatedAlerts{Machine: machine, Alerts: []enrich.RelatedAlert{}}
	for _, a := range alerts {
		if !strings.EqualFold(a.Status, "Resolved") {
			out.Active++
		}
		if strings.EqualFold(a.Severity, "High") {
			out.HighSeverity++
		}
		out.Alerts = append(out.Alerts, enrich.RelatedAlert{ID: a.ID, Title: a.Title, Severity: a.Severity, Status: a.Status,
			Category: a.Category, ThreatFamily: a.ThreatFamilyName, CreatedAt: a.AlertCreationTime})
	}
	sortNewestFirst(out.Alerts)
	if len(out.Alerts) > MaxRelatedAlerts {
		out.Alerts = out.Alerts[:MaxRelatedAlerts]
	}
	return out, nil
}

func sortNewestFirst(as []enrich.RelatedAlert) {
	for i := 1; i < len(as); i++ { // insertion sort: few alerts, stable
		for j := i; j > 0 && newer(as[j], as[j-1]); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

func newer(a, b enrich.RelatedAlert) bool {
	return a.CreatedAt != nil && (b.CreatedAt == nil || a.CreatedAt.After(*b.CreatedAt))
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
