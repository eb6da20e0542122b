package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// DefaultOktaEventTypes are the System Log event types AIR takes as
// alerts when a source names none: threats Okta detected, blocked
// requests, lockouts, and changes an attacker makes to keep access.
var DefaultOktaEventTypes = []string{
	"security.threat.detected", "security.request.blocked", "user.account.lock",
	"user.mfa.factor.deactivate", "user.mfa.factor.reset_all", "user.account.privilege.grant",
	"system.api_token.create", "user.session.impersonation.initiate", "application.policy.sign_on.deny_access",
}

// oktaCategory maps an event type to the ATT&CK tactic it most often is.
var oktaCategory = map[string]string{
	"security.threat.detected": "CredentialAccess", "security.request.blocked": "InitialAccess",
	"user.account.lock": "CredentialAccess", "user.mfa.factor.deactivate": "Persistence",
	"user.mfa.factor.reset_all": "Persistence", "user.account.privilege.grant": "PrivilegeEscalation",
	"system.api_token.create": "Persistence", "user.session.impersonation.initiate": "PrivilegeEscalation",
	"application.policy.sign_on.deny_access": "InitialAccess",
}

// oktaPoller reads the Okta System Log: GET /api/v1/logs?since=…&filter=
// eventType eq "…" or …&sortOrder=ASCENDING, paged by the Link header's
// rel="next". Token: an API token (SSWS) with okta.logs.read. Okta's
// X-Rate-Limit-Reset tells when a throttled poll may come back.
type oktaPoller struct {
	v        *vendor
	types    []string
	overlap  time.Duration
	pageSize int
}

func (o *oktaPoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	var u *url.URL
	if cp.Cursor != "" {
		var err error
		if u, err = o.v.sameOrigin(cp.Cursor); err != nil {
			return Page{}, &PermanentError{Body: err.Error()}
		}
	} else {
		var f []string
		for _, t := range o.types {
			f = append(f, fmt.Sprintf("eventType eq %q", t))
		}
		u = o.v.url("/api/v1/logs", url.Values{
			"since":     {cp.Since.Add(-o.overlap).UTC().Format(time.RFC3339)},
			"filter":    {strings.Join(f, " or ")},
			"sortOrder": {"ASCENDING"},
			"limit":     {strconv.Itoa(o.pageSize)},
		})
	}
	b, h, err := o.v.do(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return Page{}, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return Page{}, fmt.Errorf("decode System Log page: %w", err)
	}
	alerts, problems := decodeItems(items, decodeOktaEvent)
	// Okta always returns a next link for a polling query; it is the end of
	// the sweep when the page was not full.
	next := ""
	if len(items) >= o.pageSize {
		next = linkNext(h)
	}
	return Page{Alerts: alerts, Problems: problems, Next: cp.Advance(newestUpdate(alerts), next), More: next != ""}, nil
}

// linkNext returns the rel="next" target of RFC 8288 Link headers.
func linkNext(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if ok && strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				return strings.Trim(strings.TrimSpace(target), "<>")
			}
		}
	}
	return ""
}

type oktaEvent struct {
	UUID           string    `json:"uuid"`
	Published      time.Time `json:"published"`
	EventType      string    `json:"eventType"`
	DisplayMessage string    `json:"displayMessage"`
	Severity       string    `json:"severity"`
	Actor          struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	} `json:"actor"`
	Client struct {
		IPAddress string `json:"ipAddress"`
	} `json:"client"`
	Outcome struct {
		Result string `json:"result"`
		Reason string `json:"reason"`
	} `json:"outcome"`
}

// decodeOktaEvent maps a System Log event onto the Graph alert shape.
func decodeOktaEvent(raw json.RawMessage) (*domain.Alert, error) {
	var e oktaEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, &domain.Error{Kind: domain.KindInvalid, Message: "not an Okta System Log event: " + err.Error()}
	}
	if e.UUID == "" {
		return nil, domain.Invalid("uuid", "required")
	}
	if e.Published.IsZero() {
		return nil, domain.Invalid("published", "required")
	}
	sev := map[string]string{"ERROR": "high", "WARN": "medium", "INFO": "low", "DEBUG": "informational"}[e.Severity]
	desc := e.DisplayMessage
	if e.Outcome.Result != "" {
		desc = fmt.Sprintf("%s (outcome %s%s)", desc, e.Outcome.Result, map[bool]string{true: ": " + e.Outcome.Reason}[e.Outcome.Reason != ""])
	}
	g := map[string]any{
		"id": "okta-" + e.UUID, "providerAlertId": e.UUID, "title": firstOf(e.DisplayMessage, e.EventType), "description": desc,
		"severity": firstOf(sev, "unknown"), "status": "new", "category": oktaCategory[e.EventType],
		"serviceSource": "okta", "detectionSource": "okta", "productName": "Okta", "detectorId": e.EventType,
		"createdDateTime": e.Published, "lastUpdateDateTime": e.Published, "lastActivityDateTime": e.Published,
	}
	var ev []map[string]any
	if e.Actor.Type == "User" && e.Actor.AlternateID != "" {
		acct := map[string]any{"displayName": nilIfEmpty(e.Actor.DisplayName)}
		if strings.Contains(e.Actor.AlternateID, "@") {
			acct["userPrincipalName"] = e.Actor.AlternateID
		} else {
			acct["accountName"] = e.Actor.AlternateID
		}
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": acct})
	}
	if e.Client.IPAddress != "" {
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": e.Client.IPAddress})
	}
	g["evidence"] = ev
	return decodeAsGraph(g, raw)
}
