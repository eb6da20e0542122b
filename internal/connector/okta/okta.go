// Package okta carries out user remediations with the Okta Management
// API: suspend and unsuspend a user (user.disable, user.enable), clear a
// user's sessions and OAuth tokens (user.revoke_sessions), and expire a
// user's password so that it must be changed at the next sign-in
// (user.reset_password), and reset every enrolled factor so that the user
// enrolls again (user.reset_factors).
//
// Okta's lifecycle operations are not idempotent — a repeated suspend of a
// suspended user is refused — and carry no idempotency key. So Execute
//
//  1. looks the user up by login (GET /api/v1/users/{login}) and reads its
//     status: a user already in the asked state is left alone (changed
//     false), and one Okta cannot move there (deactivated, never
//     activated) is a conflict that says why;
//  2. records in the activity's heartbeat that it is about to act, then
//     calls the lifecycle operation, so that the next attempt after a crash
//     recognises the state it finds as its own doing (changed true);
//  3. confirms the result by reading the user's status again: the result
//     says what Okta reports, not what AIR asked for.
//
// Every call waits on the client-side limiter, and rest.Client follows
// Okta's rate-limit headers: X-Rate-Limit-Remaining 0 holds calls back
// until X-Rate-Limit-Reset (an epoch second, read against the answer's
// Date), and so does a 429.
package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/remediation"
)

// Scope is the OAuth 2.0 scope the connector's service app needs.
const Scope = "okta.users.manage"

// TokenURL is the org authorization server's token endpoint, the one that
// issues tokens for the Management API.
func TokenURL(orgURL string) string { return strings.TrimRight(orgURL, "/") + "/oauth2/v1/token" }

// Limits is the client-side limit AIR keeps by default, below the
// per-minute limits Okta sets on /api/v1/users for most orgs; the answers'
// X-Rate-Limit headers govern beyond it.
var Limits = []rest.Window{{Calls: 300, Per: time.Minute}}

// User statuses.
const (
	Staged          = "STAGED"
	Provisioned     = "PROVISIONED"
	Active          = "ACTIVE"
	Recovery        = "RECOVERY"
	LockedOut       = "LOCKED_OUT"
	PasswordExpired = "PASSWORD_EXPIRED"
	Suspended       = "SUSPENDED"
	Deprovisioned   = "DEPROVISIONED"
)

// User is the Users API's user, the fields AIR reads.
type User struct {
	ID                    string `json:"id"`
	Status                string `json:"status"`
	TransitioningToStatus string `json:"transitioningToStatus,omitempty"`
	Profile               struct {
		Login string `json:"login"`
	} `json:"profile"`
}

// Client is an Okta connector.
type Client struct {
	// API calls the org's Management API (BaseURL is the org URL,
	// https://contoso.okta.com; token: SSWS API token or OAuth 2.0).
	API *rest.Client
}

var _ remediation.Executor = (*Client)(nil)

// op is how an AIR action maps onto Okta.
type op struct {
	path string // under /api/v1/users/{id}/
	// done is the status that means the action holds; "" when no status
	// tells (sessions).
	done string
	// refuse maps statuses Okta cannot act on to the reason.
	refuse map[string]string
}

var (
	notActivated = "has not been activated, so it has no sign-in to stop or password to expire"
	deactivated  = "is deactivated (DEPROVISIONED): it cannot sign in, and Okta acts on active users only"
	ops          = map[string]op{
		"user.disable": {"lifecycle/suspend", Suspended, map[string]string{Staged: notActivated, Provisioned: notActivated, Deprovisioned: deactivated}},
		"user.enable":  {"lifecycle/unsuspend", Active, map[string]string{Deprovisioned: deactivated + "; reactivating it is not undoing a suspension"}},
		"user.revoke_sessions": {"sessions?oauthTokens=true", "", map[string]string{
			Deprovisioned: "is deactivated (DEPROVISIONED): it has no sessions"}},
		"user.reset_password": {"lifecycle/expire_password", PasswordExpired, map[string]string{Staged: notActivated, Provisioned: notActivated,
			Deprovisioned: deactivated}},
		"user.reset_factors": {"lifecycle/reset_factors", "", map[string]string{Staged: notActivated, Provisioned: notActivated,
			Deprovisioned: deactivated}},
	}
)

// Types lists the action types the connector carries out.
func Types() []string {
	out := make([]string, 0, len(ops))
	for t := range ops {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Execute carries out one remediation.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	o, ok := ops[req.Type]
	if !ok {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "okta cannot carry out %s", req.Type)
	}
	kind, login, ok := entity.Split(req.Target)
	if !ok || kind != domain.KindUser || login == "" {
		return remediation.Result{}, domain.Invalid("target", "%s needs a user target such as user:ana@contoso.example, got %q", req.Type, req.Target)
	}
	u, err := c.user(ctx, login)
	if err != nil {
		return remediation.Result{}, err
	}
	who := fmt.Sprintf("okta user %s (%s)", u.Profile.Login, u.ID)
	if why, refused := o.refuse[u.Status]; refused {
		return remediation.Result{}, domain.Errorf(domain.KindConflict, "%s %s", who, why)
	}
	if u.TransitioningToStatus != "" {
		return remediation.Result{}, fmt.Errorf("%s is %s, transitioning to %s; the next attempt acts once it has settled", who, u.Status, u.TransitioningToStatus)
	}
	mine := remediation.ResumedWith(ctx, req.Type+":"+u.ID)
	switch {
	case o.done != "" && u.Status == o.done && mine:
		return remediation.Result{Summary: fmt.Sprintf("%s is %s, by this action before a retry", who, u.Status), Changed: true}, nil
	case o.done != "" && u.Status == o.done:
		return remediation.Result{Summary: fmt.Sprintf("%s is already %s", who, u.Status)}, nil
	case req.Type == "user.enable" && u.Status != Suspended && mine:
		return remediation.Result{Summary: fmt.Sprintf("%s is %s, unsuspended by this action before a retry", who, u.Status), Changed: true}, nil
	case req.Type == "user.enable" && u.Status != Suspended:
		return remediation.Result{Summary: fmt.Sprintf("%s is not suspended (status %s), nothing to undo", who, u.Status)}, nil
	}
	remediation.Heartbeat(ctx, req.Type+":"+u.ID)
	method := http.MethodPost
	if req.Type == "user.revoke_sessions" {
		method = http.MethodDelete
	}
	err = c.API.Do(ctx, method, "/api/v1/users/"+url.PathEscape(u.ID)+"/"+o.path, nil, nil)
	if err != nil {
		var se *rest.StatusError
		if !errors.As(err, &se) || !(se.Status == http.StatusBadRequest || se.Code == "E0000038") {
			return remediation.Result{}, err
		}
		// Okta refuses a lifecycle move from a status it does not allow
		// (400 E0000001, or 403 E0000038 "not allowed in the user's current
		// status"): someone may have moved the user meanwhile.
		after, rerr := c.user(ctx, u.ID)
		if rerr == nil && o.done != "" && after.Status == o.done {
			return remediation.Result{Summary: fmt.Sprintf("%s is already %s (someone acted meanwhile)", who, after.Status)}, nil
		}
		status := u.Status
		if rerr == nil {
			status = after.Status
		}
		return remediation.Result{}, domain.Errorf(domain.KindConflict, "okta refused to %s %s (status %s): %s", verb(req.Type), who, status, se.Message)
	}
	if o.done == "" {
		what := map[string]string{"user.revoke_sessions": "every session and OAuth token revoked",
			"user.reset_factors": "every enrolled factor reset; the user enrolls again at next sign-in"}[req.Type]
		return remediation.Result{Summary: fmt.Sprintf("%s: %s", who, what), Changed: true}, nil
	}
	after, err := c.user(ctx, u.ID)
	if err != nil {
		return remediation.Result{}, err
	}
	if after.Status != o.done && after.TransitioningToStatus != o.done {
		return remediation.Result{}, fmt.Errorf("%s: okta accepted the request but the user is %s, not %s; the next attempt looks again", who, after.Status, o.done)
	}
	return remediation.Result{Summary: fmt.Sprintf("%s is %s (was %s)", who, o.done, u.Status), Changed: true}, nil
}

func verb(t string) string {
	return map[string]string{"user.disable": "suspend", "user.enable": "unsuspend", "user.reset_password": "expire the password of",
		"user.revoke_sessions": "clear the sessions of", "user.reset_factors": "reset the factors of"}[t]
}

// user reads a user by id or login.
func (c *Client) user(ctx context.Context, idOrLogin string) (User, error) {
	var u User
	if err := c.API.Do(ctx, http.MethodGet, "/api/v1/users/"+url.PathEscape(idOrLogin), nil, &u); err != nil {
		return User{}, err
	}
	if u.ID == "" {
		return User{}, fmt.Errorf("okta user %s: the answer has no id", idOrLogin)
	}
	return u, nil
}
