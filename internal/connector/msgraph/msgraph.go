// Package msgraph carries out user and mailbox remediations with Microsoft
// Graph v1.0: disable and enable an account (PATCH /users/{id} with
// accountEnabled), revoke its sign-in sessions, force a password reset and
// mark it compromised (the security identityAccounts invokeAction), dismiss
// its risk (identityProtection riskyUsers/dismiss) and delete an inbox rule;
// through Defender for Office 365's remediate action, soft-delete a
// delivered message and move it back to the inbox (email.go); and disable
// and enable an OAuth app's service principal (PATCH /servicePrincipals/{id}
// with accountEnabled) and revoke every permission granted to it (DELETE
// each of its oauth2PermissionGrants and of its appRoleAssignments).
//
// Graph has no idempotency key either. Enabling and disabling read the
// account first, so a retry finds the account in the asked state and says
// it changed nothing; deleting a rule that is gone is the same no-op. The
// other calls set a state (sessions revoked, password to change, risk high
// or dismissed) that a repeat leaves as it is. Revoking an app's consent
// lists what is still granted and deletes it, so a retry deletes what the
// first attempt left and a repeat finds nothing left and says so.
//
// Tokens come from the Microsoft identity platform's client-credentials
// grant (rest.ClientCredentials with Scope), cached until shortly before
// they expire.
package msgraph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// Scope is the OAuth scope of Microsoft Graph.
const Scope = "https://graph.microsoft.com/.default"

// DefaultBaseURL is Graph's global endpoint.
const DefaultBaseURL = "https://graph.microsoft.com"

// Client is a Microsoft Graph connector.
type Client struct {
	// API calls Graph (BaseURL without the version, token, limiter).
	API *rest.Client
}

var _ remediation.Executor = (*Client)(nil)

var types = []string{
	"user.disable", "user.enable", "user.revoke_sessions", "user.reset_password", "user.reset_factors",
	"user.confirm_compromised", "user.dismiss_risk", "mailbox.remove_inbox_rule",
	"email.soft_delete", "email.move_to_inbox",
	"app.disable", "app.enable", "app.revoke_consent",
}

// Types lists the action types the connector carries out.
func Types() []string { return slices.Clone(types) }

// User is the part of Graph's user resource AIR reads.
type User struct {
	ID                           string `json:"id"`
	UserPrincipalName            string `json:"userPrincipalName"`
	AccountEnabled               *bool  `json:"accountEnabled"`
	OnPremisesSecurityIdentifier string `json:"onPremisesSecurityIdentifier,omitempty"`
}

const userFields = "id,userPrincipalName,accountEnabled,onPremisesSecurityIdentifier"

// Execute carries out one remediation.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	if !slices.Contains(types, req.Type) {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "microsoft graph cannot carry out %s", req.Type)
	}
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	if _, ok := emailActions[req.Type]; ok {
		return c.remediateEmail(ctx, req, params)
	}
	kind, id, _ := strings.Cut(string(req.Target), ":")
	if strings.HasPrefix(req.Type, "app.") {
		if domain.EntityKind(kind) != domain.KindOAuthApp || id == "" {
			return remediation.Result{}, domain.Invalid("target", "%s needs an oauthApp target, got %q", req.Type, req.Target)
		}
		return c.app(ctx, req.Type, id)
	}
	if req.Type == "mailbox.remove_inbox_rule" {
		if domain.EntityKind(kind) != domain.KindMailbox || id == "" {
			return remediation.Result{}, domain.Invalid("target", "%s needs a mailbox target, got %q", req.Type, req.Target)
		}
		return c.removeRule(ctx, id, params)
	}
	if domain.EntityKind(kind) != domain.KindUser || id == "" {
		return remediation.Result{}, domain.Invalid("target", "%s needs a user target, got %q", req.Type, req.Target)
	}
	u, err := c.user(ctx, id)
	if err != nil {
		return remediation.Result{}, err
	}
	path := "/v1.0/users/" + url.PathEscape(u.ID)
	switch req.Type {
	case "user.disable", "user.enable":
		want := req.Type == "user.enable"
		state := map[bool]string{true: "enabled", false: "disabled"}[want]
		if u.AccountEnabled != nil && *u.AccountEnabled == want {
			return remediation.Result{Summary: "account " + u.UserPrincipalName + " already " + state}, nil
		}
		if err := c.API.Do(ctx, http.MethodPatch, path, map[string]any{"accountEnabled": want}, nil); err != nil {
			return remediation.Result{}, err
		}
		return remediation.Result{Summary: "account " + u.UserPrincipalName + " " + state, Changed: true}, nil
	case "user.revoke_sessions":
		var res struct {
			Value bool `json:"value"`
		}
		if err := c.API.Do(ctx, http.MethodPost, path+"/revokeSignInSessions", nil, &res); err != nil {
			return remediation.Result{}, err
		}
		return remediation.Result{Summary: "sign-in sessions of " + u.UserPrincipalName + " revoked", Changed: true}, nil
	case "user.reset_password":
		provider, _ := params["identityProvider"].(string)
		if provider == "" {
			provider = "activeDirectory"
		}
		return c.invoke(ctx, u, "forcePasswordReset", provider, "password reset forced at next sign-in")
	case "user.confirm_compromised":
		return c.invoke(ctx, u, "markUserAsCompromised", "entraID", "marked compromised")
	case "user.reset_factors":
		return c.resetFactors(ctx, u)
	default: // user.dismiss_risk
		if err := c.API.Do(ctx, http.MethodPost, "/v1.0/identityProtection/riskyUsers/dismiss",
			map[string]any{"userIds": []string{u.ID}}, nil); err != nil {
			return remediation.Result{}, err
		}
		return remediation.Result{Summary: "risk of " + u.UserPrincipalName + " dismissed", Changed: true}, nil
	}
}

// user reads the account by UPN or object id, or by on-premises SID.
func (c *Client) user(ctx context.Context, id string) (*User, error) {
	if strings.HasPrefix(strings.ToUpper(id), "S-1-") {
		q := url.Values{"$filter": {"onPremisesSecurityIdentifier eq '" + strings.ToUpper(id) + "'"}, "$select": {userFields}}
		var page struct{ Value []User }
		if err := c.API.Do(ctx, http.MethodGet, "/v1.0/users?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		if len(page.Value) == 0 {
			return nil, domain.Errorf(domain.KindNotFound, "microsoft graph has no user with on-premises SID %s", id)
		}
		return &page.Value[0], nil
	}
	var u User
	if err := c.API.Do(ctx, http.MethodGet, "/v1.0/users/"+url.PathEscape(id)+"?$select="+userFields, nil, &u); err != nil {
		return nil, err
	}
	if u.ID == "" {
		return nil, fmt.Errorf("graph user %s: answer has no id", id)
	}
	if u.UserPrincipalName == "" {
		u.UserPrincipalName = id
	}
	return &u, nil
}

// invoke calls POST /security/identities/identityAccounts/{id}/invokeAction.
// AIR addresses the account by its Entra object id, or by its on-premises
// SID for Active Directory when the account has one.
func (c *Client) invoke(ctx context.Context, u *User, action, provider, done string) (remediation.Result, error) {
	account := u.ID
	if provider == "activeDirectory" && u.OnPremisesSecurityIdentifier != "" {
		account = u.OnPremisesSecurityIdentifier
	}
	var res struct {
		CorrelationID string `json:"correlationId"`
	}
	body := map[string]any{"accountId": account, "action": action, "identityProvider": provider}
	if err := c.API.Do(ctx, http.MethodPost, "/v1.0/security/identities/identityAccounts/"+url.PathEscape(account)+"/invokeAction",
		body, &res); err != nil {
		return remediation.Result{}, err
	}
	summary := u.UserPrincipalName + ": " + done
	if res.CorrelationID != "" {
		summary += " (correlation id " + res.CorrelationID + ")"
	}
	return remediation.Result{Summary: summary, Changed: true}, nil
}

// removeRule deletes an inbox rule; a rule that is already gone is a no-op.
func (c *Client) removeRule(ctx context.Context, mailbox string, p map[string]any) (remediation.Result, error) {
	rule, _ := p["ruleId"].(string)
	if rule == "" {
		return remediation.Result{}, domain.Invalid("params.ruleId", "mailbox.remove_inbox_rule needs ruleId")
	}
	err := c.API.Do(ctx, http.MethodDelete, "/v1.0/users/"+url.PathEscape(mailbox)+"/mailFolders/inbox/messageRules/"+url.PathEscape(rule), nil, nil)
	var se *rest.StatusError
	switch {
	case err == nil:
		return remediation.Result{Summary: "inbox rule " + rule + " of " + mailbox + " deleted", Changed: true}, nil
	case errors.As(err, &se) && se.Status == http.StatusNotFound && se.Code == "ErrorItemNotFound":
		return remediation.Result{Summary: "inbox rule " + rule + " of " + mailbox + " already gone"}, nil
	}
	return remediation.Result{}, err
}

// ServicePrincipal is the part of Graph's servicePrincipal resource (an
// application's enterprise app in the tenant) AIR reads.
type ServicePrincipal struct {
	ID             string `json:"id"`
	AppID          string `json:"appId"`
	DisplayName    string `json:"displayName"`
	AccountEnabled *bool  `json:"accountEnabled"`
}

const spFields = "id,appId,displayName,accountEnabled"

// appID is an application (client) id: a GUID, the only form AIR puts
// into a Graph address or filter.
var appID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// app disables, enables or revokes the consent of the OAuth app whose
// application id is id.
func (c *Client) app(ctx context.Context, actionType, id string) (remediation.Result, error) {
	if !appID.MatchString(id) {
		return remediation.Result{}, domain.Invalid("target", "%s needs an application id (a GUID), got %q", actionType, id)
	}
	var sp ServicePrincipal
	if err := c.API.Do(ctx, http.MethodGet, "/v1.0/servicePrincipals(appId='"+id+"')?$select="+spFields, nil, &sp); err != nil {
		return remediation.Result{}, err
	}
	if sp.ID == "" {
		return remediation.Result{}, fmt.Errorf("graph service principal of app %s: answer has no id", id)
	}
	name := sp.DisplayName
	if name == "" {
		name = id
	}
	path := "/v1.0/servicePrincipals/" + url.PathEscape(sp.ID)
	if actionType == "app.revoke_consent" {
		return c.revokeConsent(ctx, &sp, name)
	}
	want := actionType == "app.enable"
	state := map[bool]string{true: "enabled", false: "disabled"}[want]
	if sp.AccountEnabled != nil && *sp.AccountEnabled == want {
		return remediation.Result{Summary: "service principal of " + name + " already " + state}, nil
	}
	if err := c.API.Do(ctx, http.MethodPatch, path, map[string]any{"accountEnabled": want}, nil); err != nil {
		return remediation.Result{}, err
	}
	return remediation.Result{Summary: "service principal of " + name + " " + state, Changed: true}, nil
}

// grant is an oAuth2PermissionGrant (delegated permissions) or an
// appRoleAssignment (application permissions) as AIR reads them.
type grant struct {
	ID          string `json:"id"`
	ConsentType string `json:"consentType"` // AllPrincipals (admin) or Principal (one user)
	Scope       string `json:"scope"`       // delegated scopes, space-separated
}

// revokeConsent deletes every delegated permission grant of the app's
// service principal (GET /oauth2PermissionGrants?$filter=clientId eq
// '{id}') and every app role assignment it holds (GET
// /servicePrincipals/{id}/appRoleAssignments). A grant deleted meanwhile
// (404) is gone, which is what was asked.
func (c *Client) revokeConsent(ctx context.Context, sp *ServicePrincipal, name string) (remediation.Result, error) {
	q := url.Values{"$filter": {"clientId eq '" + sp.ID + "'"}}
	grants, err := rest.ListOData[grant](ctx, c.API, "/v1.0/oauth2PermissionGrants?"+q.Encode())
	if err != nil {
		return remediation.Result{}, err
	}
	sppath := "/v1.0/servicePrincipals/" + url.PathEscape(sp.ID)
	roles, err := rest.ListOData[grant](ctx, c.API, sppath+"/appRoleAssignments")
	if err != nil {
		return remediation.Result{}, err
	}
	var scopes []string
	deleted := 0
	for _, g := range grants {
		gone, err := c.delete(ctx, "/v1.0/oauth2PermissionGrants/"+url.PathEscape(g.ID))
		if err != nil {
			return remediation.Result{}, err
		}
		if !gone {
			deleted++
			for _, s := range strings.Fields(g.Scope) {
				if !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	assignments := 0
	for _, r := range roles {
		gone, err := c.delete(ctx, sppath+"/appRoleAssignments/"+url.PathEscape(r.ID))
		if err != nil {
			return remediation.Result{}, err
		}
		if !gone {
			assignments++
		}
	}
	if deleted == 0 && assignments == 0 {
		return remediation.Result{Summary: name + " holds no consent grants or app role assignments"}, nil
	}
	summary := fmt.Sprintf("%s: %d delegated permission grant(s) and %d app role assignment(s) revoked", name, deleted, assignments)
	if len(scopes) > 0 {
		summary += " (scopes " + strings.Join(scopes, " ") + ")"
	}
	return remediation.Result{Summary: summary, Changed: true}, nil
}

// delete deletes one grant; gone says it was not there any more (404).
func (c *Client) delete(ctx context.Context, path string) (gone bool, err error) {
	err = c.API.Do(ctx, http.MethodDelete, path, nil, nil)
	var se *rest.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return true, nil
	}
	return false, err
}
