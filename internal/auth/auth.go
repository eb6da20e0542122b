// Package auth is AIR's access control: who is calling (a principal, found
// from an API token or a page session), what their role lets them do, and
// which device groups they may see and act on.
//
// Tokens are random 32-byte secrets shown once at creation; the store keeps
// only their SHA-256, so a database leak does not leak working tokens. A
// page session is another random secret in a cookie, also kept hashed, tied
// to the token that signed in: revoking the token ends its sessions.
//
// Roles are ordered — viewer < analyst < responder < admin — and each
// includes the ones below it (SPEC §5). Device-group scoping narrows what a
// principal sees; it never widens a role.
package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// Role is what a principal may do; the workflow checks the same roles.
type Role = domain.Role

// Roles, weakest first.
const (
	// Viewer reads incidents, actions and the queue.
	Viewer = domain.RoleViewer
	// Analyst also manages incidents and sends alerts.
	Analyst = domain.RoleAnalyst
	// Responder also approves, rejects and undoes actions and requests
	// manual ones.
	Responder = domain.RoleResponder
	// Admin also manages tokens, automation levels, guardrails and
	// playbooks, and reads the audit log.
	Admin = domain.RoleAdmin
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(strings.ToLower(s)))
	if !slices.Contains(domain.Roles, r) {
		return "", domain.Invalid("role", "unknown role %q, want one of viewer, analyst, responder, admin", s)
	}
	return r, nil
}

// Principal is the authenticated caller.
type Principal struct {
	// Name is who decided, as recorded on actions and in the audit log.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Groups scopes the principal to these device groups (compared without
	// regard to case); empty means every group.
	Groups []string `json:"groups,omitempty"`
	// TokenID is the token the principal authenticated with.
	TokenID string `json:"tokenId"`
}

// Scoped reports whether the principal is limited to some device groups.
func (p *Principal) Scoped() bool { return len(p.Groups) > 0 }

// SeesGroup reports whether a device group is in the principal's scope.
func (p *Principal) SeesGroup(group string) bool {
	if !p.Scoped() {
		return true
	}
	return slices.ContainsFunc(p.Groups, func(g string) bool { return strings.EqualFold(g, group) })
}

// Require returns a forbidden error unless the principal's role allows
// need. Every decision path calls it, not only the HTTP middleware.
func (p *Principal) Require(need Role) error {
	if p == nil {
		return domain.Errorf(domain.KindForbidden, "not signed in")
	}
	if !p.Role.AtLeast(need) {
		return domain.Errorf(domain.KindForbidden, "%s needs the %s role; %s has %s", what[need], need, p.Name, p.Role)
	}
	return nil
}

var what = map[Role]string{
	Viewer:    "reading",
	Analyst:   "managing incidents",
	Responder: "deciding actions",
	Admin:     "administration",
}

type ctxKey struct{}

// WithPrincipal returns a context carrying the principal.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the context's principal, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// ParseGroups splits a comma-separated list of device groups, trimming
// blanks and dropping duplicates (without regard to case).
func ParseGroups(list []string) []string {
	var out []string
	for _, v := range list {
		for _, g := range strings.Split(v, ",") {
			g = strings.TrimSpace(g)
			if g != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, g) }) {
				out = append(out, g)
			}
		}
	}
	return out
}
