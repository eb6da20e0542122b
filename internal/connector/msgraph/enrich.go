package msgraph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

// Enrichment (internal/enrich): a user's risk in Microsoft Entra ID
// Protection (GET /v1.0/identityProtection/riskyUsers/{id}, permission
// IdentityRiskyUser.Read.All) and their most recent sign-ins (GET
// /v1.0/auditLogs/signIns?$filter=userId eq '{id}'&$top=N, AuditLog.Read.All
// and Directory.Read.All). Both take the user's object id: the entity's
// azureAdUserId, else the account is read by UPN or on-premises SID first
// (GET /v1.0/users, User.Read.All).

var _ enrich.Enricher = (*Client)(nil)

// Vendor names the facts' source.
func (c *Client) Vendor() string { return "graph" }

// DefaultSignIns is how many recent sign-ins a vendor.sign_ins fact holds.
const DefaultSignIns = 20

// Lookups are the calls that tell about e: a user's risk and sign-ins.
func (c *Client) Lookups(e domain.Entity) []enrich.Lookup {
	if e.Kind != domain.KindUser {
		return nil
	}
	_, key, _ := strings.Cut(string(e.Key), ":")
	id := e.Attrs["azureAdUserId"]
	name := id
	if !guid.MatchString(id) {
		id = ""
		name = e.Attrs["upn"]
		if name == "" && (strings.Contains(key, "@") || strings.HasPrefix(strings.ToUpper(key), "S-1-")) {
			name = key
		}
		if name == "" {
			return nil // an account Graph cannot find: DOMAIN\name only
		}
	}
	resolve := func(ctx context.Context) (string, error) {
		if id != "" {
			return id, nil
		}
		u, err := c.user(ctx, name)
		if err != nil {
			return "", err
		}
		if !guid.MatchString(u.ID) {
			return "", domain.Errorf(domain.KindInvalid, "graph user %s: id %q is not an object id", name, u.ID)
		}
		id = u.ID
		return id, nil
	}
	ref := "{id of " + name + "}"
	if id != "" {
		ref = id
	}
	return []enrich.Lookup{
		{Kind: domain.FactVendorRiskyUser, Call: "GET /v1.0/identityProtection/riskyUsers/" + ref,
			Do: func(ctx context.Context) (any, error) {
				uid, err := resolve(ctx)
				if err != nil {
					return nil, err
				}
				return c.riskyUser(ctx, uid)
			}},
		{Kind: domain.FactVendorSignIns, Call: "GET /v1.0/auditLogs/signIns?$filter=userId eq '" + ref + "'",
			Do: func(ctx context.Context) (any, error) {
				uid, err := resolve(ctx)
				if err != nil {
					return nil, err
				}
				return c.signIns(ctx, uid, DefaultSignIns)
			}},
	}
}

// riskyUser reads the user's riskyUser. A user Identity Protection never
// flagged has none (404): it is not listed, at risk level none.
func (c *Client) riskyUser(ctx context.Context, id string) (*enrich.RiskyUser, error) {
	var w struct {
		ID                      string     `json:"id"`
		RiskLevel               string     `json:"riskLevel"`
		RiskState               string     `json:"riskState"`
		RiskDetail              string     `json:"riskDetail"`
		RiskLastUpdatedDateTime *time.Time `json:"riskLastUpdatedDateTime"`
	}
	err := c.API.Do(ctx, http.MethodGet, "/v1.0/identityProtection/riskyUsers/"+url.PathEscape(id), nil, &w)
	var se *rest.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return &enrich.RiskyUser{UserID: id, RiskLevel: "none", RiskState: "none", RiskDetail: "none"}, nil
	}
	if err != nil {
		return nil, err
	}
	if w.RiskLevel == "" || w.RiskState == "" {
		return nil, domain.Errorf(domain.KindInvalid, "graph riskyUser %s: answer has no riskLevel or riskState", id)
	}
	return &enrich.RiskyUser{UserID: id, Listed: true, RiskLevel: w.RiskLevel, RiskState: w.RiskState,
		RiskDetail: orNone(w.RiskDetail), RiskLastUpdated: w.RiskLastUpdatedDateTime}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// signIns reads the user's n most recent sign-ins: one page, which Graph
// orders newest first.
func (c *Client) signIns(ctx context.Context, id string, n int) (*enrich.SignIns, error) {
	type signIn struct {
		ID                    string     `json:"id"`
		CreatedDateTime       *time.Time `json:"createdDateTime"`
		AppDisplayName        string     `json:"appDisplayName"`
		IPAddress             string     `json:"ipAddress"`
		IsInteractive         bool       `json:"isInteractive"`
		RiskLevelDuringSignIn string     `json:"riskLevelDuringSignIn"`
		Status                struct {
			ErrorCode     int     `json:"errorCode"`
			FailureReason *string `json:"failureReason"`
		} `json:"status"`
		Location struct {
			City            *string `json:"city"`
			CountryOrRegion *string `json:"countryOrRegion"`
		} `json:"location"`
	}
	q := url.Values{"$filter": {"userId eq '" + id + "'"}, "$top": {strconv.Itoa(n)}}
	var page struct {
		Value *[]signIn `json:"value"`
	}
	if err := c.API.Do(ctx, http.MethodGet, "/v1.0/auditLogs/signIns?"+q.Encode(), nil, &page); err != nil {
		return nil, err
	}
	if page.Value == nil {
		return nil, domain.Errorf(domain.KindInvalid, "graph signIns of %s: answer has no value", id)
	}
	out := &enrich.SignIns{UserID: id, SignIns: []enrich.SignIn{}, Countries: []string{}}
	for i, s := range *page.Value {
		if i == n {
			break
		}
		si := enrich.SignIn{ID: s.ID, At: s.CreatedDateTime, App: s.AppDisplayName, IP: s.IPAddress,
			ErrorCode: s.Status.ErrorCode, RiskLevel: s.RiskLevelDuringSignIn, Interactive: s.IsInteractive}
		if s.Status.FailureReason != nil && s.Status.ErrorCode != 0 {
			si.Failure = *s.Status.FailureReason
		}
		if s.Location.City != nil {
			si.City = *s.Location.City
		}
		if s.Location.CountryOrRegion != nil {
			si.Country = *s.Location.CountryOrRegion
		}
		if si.ErrorCode != 0 {
			out.Failed++
		}
		if enrich.RiskAtOrAbove(si.RiskLevel) {
			out.Risky++
		}
		if si.Country != "" && !slices.Contains(out.Countries, si.Country) {
			out.Countries = append(out.Countries, si.Country)
		}
		out.SignIns = append(out.SignIns, si)
	}
	return out, nil
}

// guid is an object id: the only form AIR puts into a riskyUsers address
// or a sign-ins filter.
var guid = appID
