package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// RateLimitedError says a caller sent too many requests and when to retry.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return "too many requests; retry after " + e.RetryAfter.String()
}

// RetryAfterSeconds is the Retry-After header's value: whole seconds,
// rounded up, at least 1.
func (e *RateLimitedError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

func (s *Server) limiter() *auth.Limiter {
	if s.Limiter == nil {
		s.Limiter = &auth.Limiter{}
	}
	return s.Limiter
}

// guard authenticates, rate-limits and checks the role of a route's caller
// before its handler runs.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Role != "" {
			p, err := s.authenticate(r)
			if err == nil {
				err = p.Require(rt.Role)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		}
		if err := checkParams(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// checkParams refuses a request whose path or query parameters hold text
// the store cannot (a NUL, bytes that are not UTF-8), naming the
// parameter: search, filters, ids, names and tags all reach SQL, where
// PostgreSQL would fail the query as an internal error.
func checkParams(r *http.Request) error {
	if err := store.CheckText("path", r.URL.Path); err != nil {
		return err
	}
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the same parameter named on every try
	for _, name := range names {
		if err := store.CheckText("query parameter", name); err != nil {
			return err
		}
		for _, v := range q[name] {
			if err := store.CheckText(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// authenticate finds the principal of the request's bearer token. Failed
// attempts count against the caller's address, so that guessing tokens
// runs into 429s; successful calls count against the token.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	if s.Auth == nil {
		return nil, errors.New("api: no authentication service configured")
	}
	secret, ok := BearerToken(r)
	var p *auth.Principal
	err := auth.ErrUnauthenticated()
	if ok {
		p, err = s.Auth.Authenticate(r.Context(), secret)
	}
	// A failure is charged to the address one at a time (Charge), so that
	// every API process sees the address's failures at once.
	allow := s.limiter().Charge
	key := auth.KeyAPIAuthFailed + ClientAddr(r)
	if err == nil {
		allow, key = s.limiter().Allow, "token:"+p.TokenID
	} else if !auth.IsUnauthenticated(err) {
		return nil, err
	}
	if allowed, wait := allow(key); !allowed {
		return nil, &RateLimitedError{RetryAfter: wait}
	}
	return p, err
}

// BearerToken returns the secret of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

// ClientAddr is the request's remote address without the port. Forwarding
// headers are not trusted: they are the caller's to forge.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, auth.FromContext(r.Context()))
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var body TokenRequest
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	if body.Role == "" {
		return domain.Invalid("role", "required: one of viewer, analyst, responder, admin")
	}
	c, err := s.Auth.CreateToken(r.Context(), auth.FromContext(r.Context()).Name,
		auth.NewToken{Name: body.Name, Role: auth.Role(body.Role), Groups: body.Groups})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.Store.ListTokens(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": toks})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.RevokeToken(r.Context(), r.PathValue("id"), auth.FromContext(r.Context()).Name, time.Now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// decodeBody decodes a JSON body, refusing unknown fields; an empty body is
// an error only when required.
func decodeBody(w http.ResponseWriter, r *http.Request, out any, required bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(out)
	if errors.Is(err, io.EOF) {
		if required {
			return domain.Invalid("", "request body is empty; want a JSON object")
		}
		return nil
	}
	if err != nil {
		return jsonError(err)
	}
	if field, ok := decode.NULField(out); ok {
		return domain.Invalid(field, "contains a NUL character (\\u0000), which AIR does not store")
	}
	return nil
}

// incidentInScope answers not found for an incident outside a scoped
// principal's device groups: to them it does not exist.
func (s *Server) incidentInScope(ctx context.Context, p *auth.Principal, id int64) error {
	if p == nil || !p.Scoped() {
		return nil
	}
	in, err := s.Store.IncidentsInGroups(ctx, []int64{id}, p.Groups)
	if err != nil {
		return err
	}
	if !in[id] {
		return domain.Errorf(domain.KindNotFound, "incident %d not found", id)
	}
	return nil
}

// EventVisible reports whether p may hear of a change: always when
// unscoped; for a scoped principal only of an action or incident inside
// their device groups (the pages' live updates must not leak the id of an
// incident they cannot open). An event naming nothing is visible.
func (s *Server) EventVisible(ctx context.Context, p *auth.Principal, e events.Event) (bool, error) {
	if p == nil || !p.Scoped() {
		return true, nil
	}
	if e.ActionID != "" {
		return s.Store.ActionInScope(ctx, e.ActionID, p.Groups)
	}
	if e.IncidentID != 0 {
		in, err := s.Store.IncidentsInGroups(ctx, []int64{e.IncidentID}, p.Groups)
		return in[e.IncidentID], err
	}
	return true, nil
}

// scopeState hides from a scoped principal the workflow's actions outside
// their scope (visible holds the actions they may see).
func scopeState(st *workflows.State, visible []domain.Action, p *auth.Principal) *workflows.State {
	if p == nil || !p.Scoped() {
		return st
	}
	seen := func(id string) bool {
		return slices.ContainsFunc(visible, func(v domain.Action) bool { return v.ID == id })
	}
	c := *st
	c.Actions = slices.DeleteFunc(slices.Clone(st.Actions), func(a *domain.Action) bool { return !seen(a.ID) })
	c.Steps = slices.DeleteFunc(slices.Clone(st.Steps), func(r workflows.StepRecord) bool {
		id := r.Action()
		return id != "" && !seen(id)
	})
	return &c
}
