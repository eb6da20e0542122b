package msgraph_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// fakeGraph follows Microsoft Graph v1.0's documented contract for the
// calls AIR makes: the identity platform's token endpoint
// (POST /{tenant}/oauth2/v2.0/token, client_credentials), GET and PATCH
// /v1.0/users/{id|upn} (PATCH answers 204), POST …/revokeSignInSessions
// (200 {"value": true}), POST /v1.0/security/identities/identityAccounts/
// {id}/invokeAction (200 invokeActionResult), POST /v1.0/identityProtection/
// riskyUsers/dismiss (204), DELETE …/mailFolders/inbox/messageRules/{id}
// (204), POST /v1.0/security/collaboration/analyzedEmails/remediate
// (displayName, description, severity, action and analyzedEmails with
// networkMessageId and recipientEmailAddress required; 202 Accepted with a
// Location header to the action center, no body); for OAuth apps GET /v1.0/servicePrincipals(appId='{appId}')
// (404 Request_ResourceNotFound when the tenant has none), PATCH
// /v1.0/servicePrincipals/{id} (204), GET /v1.0/oauth2PermissionGrants?
// $filter=clientId eq '{id}' and GET /v1.0/servicePrincipals/{id}/
// appRoleAssignments (200 {"value": [...]}, paged with @odata.nextLink),
// DELETE of each (204, 404 when gone); errors as {"error": {"code",
// "message"}}.
type fakeGraph struct {
	sps    map[string]*sp    // by appId
	grants map[string]*grant // oauth2PermissionGrants by id
	roles  map[string]string // appRoleAssignment id → service principal id

	mu      sync.Mutex
	users   map[string]*user // by UPN
	rules   map[string]bool  // "mailbox/ruleId"
	inject  func(r *http.Request) (int, string, string)
	calls   []string // "METHOD path body"
	tokens  int
	bearer  string
	dismiss []string
}

type sp struct {
	ID, AppID, Name string
	Enabled         bool
}

type grant struct{ ClientID, ConsentType, PrincipalID, Scope string }

const (
	mailHelperApp = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"
	mailHelperSP  = "9a9a9a9a-0000-4000-8000-000000000001"
)

type user struct {
	ID, UPN, SID string
	Enabled      bool
}

func newFake() *fakeGraph {
	return &fakeGraph{bearer: "g-tok", rules: map[string]bool{"ana@contoso.example/rule-7": true},
		sps: map[string]*sp{mailHelperApp: {ID: mailHelperSP, AppID: mailHelperApp, Name: "Mail Helper", Enabled: true}},
		grants: map[string]*grant{
			"g-user":  {ClientID: mailHelperSP, ConsentType: "Principal", PrincipalID: "11111111-2222-3333-4444-555555555555", Scope: "Mail.Read offline_access"},
			"g-admin": {ClientID: mailHelperSP, ConsentType: "AllPrincipals", Scope: "User.Read"},
			"g-other": {ClientID: "another-sp", ConsentType: "AllPrincipals", Scope: "Files.Read"},
		},
		roles: map[string]string{"ra-1": mailHelperSP, "ra-other": "another-sp"},
		users: map[string]*user{"ana@contoso.example": {ID: "11111111-2222-3333-4444-555555555555", UPN: "ana@contoso.example",
			SID: "S-1-5-21-1004336348-1177238915-682003330-512", Enabled: true}}}
}

func gerr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"innerError":{"request-id":"r1"}}}`, code, msg)
}

func (f *fakeGraph) find(id string) *user {
	for _, u := range f.users {
		if u.ID == id || strings.EqualFold(u.UPN, id) {
			return u
		}
	}
	return nil
}

func (f *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/contoso/oauth2/v2.0/token" {
		if r.FormValue("client_secret") != "g-s3cret" || r.FormValue("scope") != msgraph.Scope {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, f.bearer)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(body)))
	if f.inject != nil {
		if status, retryAfter, b := f.inject(r); status != 0 {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(status)
			fmt.Fprint(w, b)
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+f.bearer {
		gerr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1.0")
	switch {
	case r.Method == http.MethodGet && p == "/users":
		filter := r.URL.Query().Get("$filter")
		var out []map[string]any
		for _, u := range f.users {
			if strings.Contains(filter, "'"+u.SID+"'") {
				out = append(out, map[string]any{"id": u.ID, "userPrincipalName": u.UPN, "accountEnabled": u.Enabled,
					"onPremisesSecurityIdentifier": u.SID})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"value": out})
	case strings.HasPrefix(p, "/users/") && strings.Count(p, "/") == 2:
		id, _ := url.PathUnescape(strings.TrimPrefix(p, "/users/"))
		u := f.find(id)
		if u == nil {
			gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			json.NewEncoder(w).Encode(map[string]any{"id": u.ID, "userPrincipalName": u.UPN, "accountEnabled": u.Enabled,
				"onPremisesSecurityIdentifier": u.SID})
		case http.MethodPatch:
			var patch map[string]any
			if json.Unmarshal(body, &patch) != nil {
				gerr(w, http.StatusBadRequest, "BadRequest", "Invalid request.")
				return
			}
			if v, ok := patch["accountEnabled"].(bool); ok {
				u.Enabled = v
			}
			w.WriteHeader(http.StatusNoContent)
		}
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/revokeSignInSessions"):
		if f.find(strings.Split(p, "/")[2]) == nil {
			gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist.")
			return
		}
		fmt.Fprint(w, `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean","value":true}`)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/invokeAction"):
		var in struct{ AccountID, Action, IdentityProvider string }
		json.Unmarshal(body, &in)
		fmt.Fprintf(w, `{"@odata.type":"#microsoft.graph.security.invokeActionResult","accountId":%q,"action":%q,"identityProvider":%q,"correlationId":"c-1"}`,
			in.AccountID, in.Action, in.IdentityProvider)
	case r.Method == http.MethodPost && p == "/identityProtection/riskyUsers/dismiss":
		var in struct{ UserIDs []string }
		json.Unmarshal(body, &in)
		f.dismiss = append(f.dismiss, in.UserIDs...)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && strings.Contains(p, "/mailFolders/inbox/messageRules/"):
		parts := strings.Split(p, "/")
		key := parts[2] + "/" + parts[len(parts)-1]
		if !f.rules[key] {
			gerr(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		delete(f.rules, key)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && p == "/security/collaboration/analyzedEmails/remediate":
		var in struct {
			DisplayName, Description, Severity, Action string
			AnalyzedEmails                             []struct{ NetworkMessageID, RecipientEmailAddress string }
		}
		if json.Unmarshal(body, &in) != nil || in.DisplayName == "" || in.Description == "" || in.Severity == "" ||
			!slices.Contains([]string{"moveToJunk", "moveToInbox", "hardDelete", "softDelete", "moveToDeletedItems"}, in.Action) ||
			len(in.AnalyzedEmails) == 0 || in.AnalyzedEmails[0].NetworkMessageID == "" || in.AnalyzedEmails[0].RecipientEmailAddress == "" {
			gerr(w, http.StatusBadRequest, "BadRequest", "Invalid request body.")
			return
		}
		w.Header().Set("Location", `https://security.microsoft.com/action-center/history?filters={"bulkId":["b-1"]}&tid=contoso`)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/servicePrincipals(appId='"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/servicePrincipals(appId='"), "')")
		s := f.sps[id]
		if s == nil {
			gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": s.ID, "appId": s.AppID, "displayName": s.Name, "accountEnabled": s.Enabled})
	case r.Method == http.MethodPatch && strings.HasPrefix(p, "/servicePrincipals/"):
		id := strings.TrimPrefix(p, "/servicePrincipals/")
		var patch map[string]any
		if json.Unmarshal(body, &patch) != nil {
			gerr(w, http.StatusBadRequest, "BadRequest", "Invalid request.")
			return
		}
		for _, s := range f.sps {
			if s.ID == id {
				if v, ok := patch["accountEnabled"].(bool); ok {
					s.Enabled = v
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
	case r.Method == http.MethodGet && p == "/oauth2PermissionGrants":
		// One grant a page, sorted by id, so that AIR must follow nextLink.
		filter := r.URL.Query().Get("$filter")
		var ids []string
		for id, g := range f.grants {
			if filter == "clientId eq '"+g.ClientID+"'" && id > r.URL.Query().Get("$skiptoken") {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		page := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#oauth2PermissionGrants", "value": []any{}}
		if len(ids) > 0 {
			g := f.grants[ids[0]]
			page["value"] = []any{map[string]any{"id": ids[0], "clientId": g.ClientID, "consentType": g.ConsentType,
				"principalId": g.PrincipalID, "resourceId": "graph-sp", "scope": g.Scope}}
		}
		if len(ids) > 1 {
			q := url.Values{"$filter": {filter}, "$skiptoken": {ids[0]}}
			page["@odata.nextLink"] = "http://" + r.Host + "/v1.0/oauth2PermissionGrants?" + q.Encode()
		}
		json.NewEncoder(w).Encode(page)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/oauth2PermissionGrants/"):
		id := strings.TrimPrefix(p, "/oauth2PermissionGrants/")
		if f.grants[id] == nil {
			gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
			return
		}
		delete(f.grants, id)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/appRoleAssignments"):
		spID := strings.TrimSuffix(strings.TrimPrefix(p, "/servicePrincipals/"), "/appRoleAssignments")
		out := []any{}
		for id, owner := range f.roles {
			if owner == spID {
				out = append(out, map[string]any{"id": id, "principalId": spID, "principalType": "ServicePrincipal",
					"resourceId": "graph-sp", "appRoleId": "810c84a8-4a9e-49e6-bf7d-12d183f40d01"})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"value": out})
	case r.Method == http.MethodDelete && strings.Contains(p, "/appRoleAssignments/"):
		parts := strings.Split(p, "/")
		id := parts[len(parts)-1]
		if f.roles[id] != parts[2] {
			gerr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
			return
		}
		delete(f.roles, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		gerr(w, http.StatusNotFound, "UnknownError", "no route "+r.Method+" "+p)
	}
}

func client(srv *httptest.Server, timeout time.Duration) *msgraph.Client {
	return &msgraph.Client{API: &rest.Client{Vendor: "graph", BaseURL: srv.URL, HTTP: &http.Client{Timeout: timeout},
		Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(srv.URL, "contoso"), ClientID: "app-2",
			Secret: rest.NewSecret("g-s3cret"), Scope: msgraph.Scope}}}
}

func request(typ, target, params string) remediation.Request {
	return remediation.Request{ActionID: "a1", IncidentID: 7, Type: typ, Target: domain.EntityKey(target),
		TargetName: "Ana", Params: []byte(params), IdempotencyKey: "incident-7/p/s/" + target}
}

func TestGraphContract(t *testing.T) {
	t.Parallel()
	const ana = "user:ana@contoso.example"
	const anaID = "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		name      string
		req       remediation.Request
		setup     func(f *fakeGraph)
		slow      bool
		want      string
		changed   bool
		text      string
		wantCalls []string // prefixes of the calls after the token, in order
	}{
		{name: "soft delete an email", req: request("email.soft_delete", "message:73ca4154-58d8-43d0-a890-08dc18c52e6d",
			`{"mailbox":"hannah.jarvis@contoso.com","comment":"phish"}`), want: "ok", changed: true,
			text:      "softDelete of message 73ca4154-58d8-43d0-a890-08dc18c52e6d for hannah.jarvis@contoso.com accepted",
			wantCalls: []string{`POST /v1.0/security/collaboration/analyzedEmails/remediate {"action":"softDelete","analyzedEmails":[{"networkMessageId":"73ca4154-58d8-43d0-a890-08dc18c52e6d","recipientEmailAddress":"hannah.jarvis@contoso.com"}],"description":"AIR incident 7 action a1 (email.soft_delete): phish","displayName":"AIR incident 7 action a1","remediateSendersCopy":false,"severity":"high"}`}},
		{name: "move an email back to the inbox", req: request("email.move_to_inbox", "message:73ca4154-58d8-43d0-a890-08dc18c52e6d",
			`{"mailbox":"hannah.jarvis@contoso.com"}`), want: "ok", changed: true, text: "moveToInbox",
			wantCalls: []string{`POST /v1.0/security/collaboration/analyzedEmails/remediate {"action":"moveToInbox"`}},
		{name: "an email without its recipient", req: request("email.soft_delete", "message:73ca4154", `{}`),
			want: "fail invalid", text: "params.mailbox"},
		{name: "an email remediation on a user", req: request("email.soft_delete", ana, `{"mailbox":"a@b.example"}`),
			want: "fail invalid", text: "message target"},
		{name: "disable", req: request("user.disable", ana, `{}`), want: "ok", changed: true,
			text:      "account ana@contoso.example disabled",
			wantCalls: []string{"GET /v1.0/users/ana@contoso.example", `PATCH /v1.0/users/` + anaID + ` {"accountEnabled":false}`}},
		{name: "disable a disabled account is a no-op", req: request("user.disable", ana, `{}`),
			setup: func(f *fakeGraph) { f.users["ana@contoso.example"].Enabled = false },
			want:  "ok", changed: false, text: "already disabled", wantCalls: []string{"GET /v1.0/users/ana@contoso.example"}},
		{name: "enable", req: request("user.enable", ana, `{}`),
			setup: func(f *fakeGraph) { f.users["ana@contoso.example"].Enabled = false },
			want:  "ok", changed: true, wantCalls: []string{"GET", `PATCH /v1.0/users/` + anaID + ` {"accountEnabled":true}`}},
		{name: "user by on-premises sid", req: request("user.disable", "user:s-1-5-21-1004336348-1177238915-682003330-512", `{}`),
			want: "ok", changed: true, wantCalls: []string{"GET /v1.0/users", "PATCH /v1.0/users/" + anaID}},
		{name: "revoke sessions", req: request("user.revoke_sessions", ana, `{}`), want: "ok", changed: true,
			wantCalls: []string{"GET", "POST /v1.0/users/" + anaID + "/revokeSignInSessions"}},
		{name: "force password reset", req: request("user.reset_password", ana, `{"identityProvider":"activeDirectory"}`),
			want: "ok", changed: true, text: "correlation id c-1",
			wantCalls: []string{"GET", `POST /v1.0/security/identities/identityAccounts/S-1-5-21-1004336348-1177238915-682003330-512/invokeAction {"accountId":"S-1-5-21-1004336348-1177238915-682003330-512","action":"forcePasswordReset","identityProvider":"activeDirectory"}`}},
		{name: "mark compromised", req: request("user.confirm_compromised", ana, `{}`), want: "ok", changed: true,
			wantCalls: []string{"GET", `POST /v1.0/security/identities/identityAccounts/` + anaID + `/invokeAction {"accountId":"` + anaID + `","action":"markUserAsCompromised","identityProvider":"entraID"}`}},
		{name: "dismiss risk", req: request("user.dismiss_risk", ana, `{}`), want: "ok", changed: true,
			wantCalls: []string{"GET", `POST /v1.0/identityProtection/riskyUsers/dismiss {"userIds":["` + anaID + `"]}`}},
		{name: "remove inbox rule", req: request("mailbox.remove_inbox_rule", "mailbox:ana@contoso.example", `{"ruleId":"rule-7"}`),
			want: "ok", changed: true, wantCalls: []string{"DELETE /v1.0/users/ana@contoso.example/mailFolders/inbox/messageRules/rule-7"}},
		{name: "remove a rule that is gone", req: request("mailbox.remove_inbox_rule", "mailbox:ana@contoso.example", `{"ruleId":"rule-8"}`),
			want: "ok", changed: false, text: "already gone"},

		{name: "disable an app", req: request("app.disable", "oauthApp:"+mailHelperApp, `{}`), want: "ok", changed: true,
			text: "service principal of Mail Helper disabled",
			wantCalls: []string{"GET /v1.0/servicePrincipals(appId='" + mailHelperApp + "')",
				`PATCH /v1.0/servicePrincipals/` + mailHelperSP + ` {"accountEnabled":false}`}},
		{name: "disable a disabled app is a no-op", req: request("app.disable", "oauthApp:"+mailHelperApp, `{}`),
			setup: func(f *fakeGraph) { f.sps[mailHelperApp].Enabled = false },
			want:  "ok", changed: false, text: "already disabled", wantCalls: []string{"GET /v1.0/servicePrincipals"}},
		{name: "enable an app", req: request("app.enable", "oauthApp:"+mailHelperApp, `{}`),
			setup: func(f *fakeGraph) { f.sps[mailHelperApp].Enabled = false },
			want:  "ok", changed: true, wantCalls: []string{"GET", `PATCH /v1.0/servicePrincipals/` + mailHelperSP + ` {"accountEnabled":true}`}},
		{name: "revoke an app's consent, every page", req: request("app.revoke_consent", "oauthApp:"+mailHelperApp, `{}`),
			want: "ok", changed: true,
			text: "Mail Helper: 2 delegated permission grant(s) and 1 app role assignment(s) revoked (scopes User.Read Mail.Read offline_access)",
			wantCalls: []string{"GET /v1.0/servicePrincipals(appId=", "GET /v1.0/oauth2PermissionGrants", "GET /v1.0/oauth2PermissionGrants",
				"GET /v1.0/servicePrincipals/" + mailHelperSP + "/appRoleAssignments",
				"DELETE /v1.0/oauth2PermissionGrants/g-admin", "DELETE /v1.0/oauth2PermissionGrants/g-user",
				"DELETE /v1.0/servicePrincipals/" + mailHelperSP + "/appRoleAssignments/ra-1"}},
		{name: "revoke when nothing is granted is a no-op", req: request("app.revoke_consent", "oauthApp:"+mailHelperApp, `{}`),
			setup: func(f *fakeGraph) {
				delete(f.grants, "g-user")
				delete(f.grants, "g-admin")
				delete(f.roles, "ra-1")
			},
			want: "ok", changed: false, text: "Mail Helper holds no consent grants or app role assignments"},
		{name: "a grant deleted meanwhile counts as gone", req: request("app.revoke_consent", "oauthApp:"+mailHelperApp, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/g-admin") {
						return http.StatusNotFound, "", `{"error":{"code":"Request_ResourceNotFound","message":"Resource 'g-admin' does not exist."}}`
					}
					return 0, "", ""
				}
			},
			want: "ok", changed: true, text: "1 delegated permission grant(s) and 1 app role assignment(s) revoked (scopes Mail.Read offline_access)"},
		{name: "403 without DelegatedPermissionGrant.ReadWrite.All", req: request("app.revoke_consent", "oauthApp:"+mailHelperApp, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					if r.Method != http.MethodDelete {
						return 0, "", ""
					}
					return http.StatusForbidden, "", `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`
				}
			},
			want: "fail forbidden", text: "Insufficient privileges"},
		{name: "404 app not in the tenant", req: request("app.disable", "oauthApp:00000000-0000-4000-8000-00000000dead", `{}`),
			want: "fail not_found", text: "Request_ResourceNotFound"},
		{name: "an app id must be a GUID", req: request("app.disable", "oauthApp:x') or true", `{}`),
			want: "fail invalid", text: "needs an application id"},
		{name: "a user is not an app", req: request("app.revoke_consent", "user:ana@contoso.example", `{}`),
			want: "fail invalid", text: "needs an oauthApp target"},
		{name: "404 user", req: request("user.disable", "user:bob@contoso.example", `{}`),
			want: "fail not_found", text: "Request_ResourceNotFound"},
		{name: "401 refused even with a fresh token", req: request("user.revoke_sessions", ana, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					return http.StatusUnauthorized, "", `{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed"}}`
				}
			},
			want: "fail forbidden", text: "InvalidAuthenticationToken"},
		{name: "403 insufficient privileges", req: request("user.disable", ana, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					if r.Method != http.MethodPatch {
						return 0, "", ""
					}
					return http.StatusForbidden, "", `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`
				}
			},
			want: "fail forbidden", text: "Insufficient privileges"},
		{name: "429 retry-after", req: request("user.revoke_sessions", ana, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					return http.StatusTooManyRequests, "12", `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`
				}
			},
			want: "retry after 12s"},
		{name: "503", req: request("user.revoke_sessions", ana, `{}`),
			setup: func(f *fakeGraph) {
				f.inject = func(r *http.Request) (int, string, string) {
					return http.StatusServiceUnavailable, "", `{"error":{"code":"serviceNotAvailable","message":"try later"}}`
				}
			},
			want: "retry", text: "serviceNotAvailable"},
		{name: "bad client secret", req: request("user.disable", ana, `{}`),
			setup: func(f *fakeGraph) { f.bearer = "other" },
			want:  "fail forbidden"},
		{name: "a device is not a user", req: request("user.disable", "device:ws1", `{}`), want: "fail invalid", text: "needs a user target"},
		{name: "not a graph action", req: request("device.isolate", "device:ws1", `{}`), want: "fail invalid", text: "cannot carry out device.isolate"},
		{name: "slow answer times out", req: request("user.disable", ana, `{}`), slow: true, want: "retry", text: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			if tt.setup != nil {
				tt.setup(f)
			}
			var h http.Handler = f
			timeout := 5 * time.Second
			if tt.slow {
				timeout = 50 * time.Millisecond
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/token") {
						f.ServeHTTP(w, r)
						return
					}
					<-r.Context().Done()
				})
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := client(srv, timeout)
			if tt.name == "bad client secret" {
				c.API.Token.(*rest.ClientCredentials).Secret = rest.NewSecret("wrong")
			}
			res, err := connectortest.Run(c, tt.req, "", nil)
			if got := connectortest.Outcome(err); got != tt.want {
				t.Fatalf("outcome: got %q (%v), want %q", got, err, tt.want)
			}
			text := res.Summary
			if err != nil {
				text = err.Error()
			} else if res.Changed != tt.changed {
				t.Errorf("changed: got %v, want %v (%s)", res.Changed, tt.changed, res.Summary)
			}
			if !strings.Contains(text, tt.text) {
				t.Errorf("result: got %q, want it to contain %q", text, tt.text)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.wantCalls != nil {
				if len(f.calls) != len(tt.wantCalls) {
					t.Fatalf("calls: got %q, want %q", f.calls, tt.wantCalls)
				}
				for i, want := range tt.wantCalls {
					if !strings.HasPrefix(f.calls[i], want) {
						t.Errorf("call %d: got %q, want %q", i, f.calls[i], want)
					}
				}
			}
		})
	}
}
