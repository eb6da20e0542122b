// Package labtenant is AIR's built-in lab tenant: a simulated tenant whose
// devices, users, mailboxes, messages, OAuth apps and indicators keep their state in
// AIR's store, reached through the labstate.Store contract (the package
// never imports the store). It carries out every remediation type the registry knows,
// the way a real target does — it remembers each request's idempotency key
// and answers a repeat with the first answer, and isolating an isolated
// device is a no-op that says so — so that the demo, `worker -dev` and the
// tests exercise the same exactly-once path a production connector must.
//
// Like the real APIs it can be told to misbehave (Faults): answer "already
// in progress", throttle with a Retry-After, or be unavailable, a given
// number of times per action type. Strict makes it refuse targets it has
// not been seeded with, as a real tenant answers 404; by default it enrols
// an unknown device, user, mailbox, message or OAuth app on first use.
package labtenant

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labstate"
	"github.com/airsoc/air/internal/remediation"
)

// Tenant is the lab tenant. The zero value with a Store is ready: lenient,
// no faults.
type Tenant struct {
	Store labstate.Store
	// Strict refuses (not found) devices, users, mailboxes, messages and
	// OAuth apps that were not seeded.
	Strict bool
	// Faults are the misbehaviours to simulate, first match wins.
	Faults []Fault

	mu   sync.Mutex
	used map[int]int // fault index → answers given
}

// Fault answers requests of some action types with a vendor's bad news.
type Fault struct {
	// Type is an action type, "<prefix>.*" or "*".
	Type string `json:"type" yaml:"type"`
	// Answer is InProgress, Throttled or Unavailable.
	Answer string `json:"answer" yaml:"answer"`
	// Times is how many requests get the answer; 0 means every one.
	Times int `json:"times" yaml:"times"`
	// RetryAfter is the Retry-After of a Throttled answer; 0 means 1s.
	RetryAfter time.Duration `json:"retryAfter" yaml:"retryAfter"`
}

// Fault answers.
const (
	// InProgress: the same action is already running on the target (Defender
	// for Endpoint's 400 "Action is already in progress"). The lab lets the
	// running request finish and reports that this one changed nothing, as
	// the Defender for Endpoint connector does when it joins a running action.
	InProgress = "inProgress"
	// Throttled: 429 with Retry-After; the activity retries after it.
	Throttled = "throttled"
	// Unavailable: 503 without Retry-After; retried with backoff.
	Unavailable = "unavailable"
)

// Answers lists the fault answers.
var Answers = []string{InProgress, Throttled, Unavailable}

var _ remediation.Executor = (*Tenant)(nil)

// Seed creates or overwrites lab state.
func (t *Tenant) Seed(ctx context.Context, seed labstate.Seed) error {
	return t.Store.LabSeedState(ctx, seed)
}

// Execute carries out one remediation.
func (t *Tenant) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	kind, id, ok := strings.Cut(string(req.Target), ":")
	_, verb, _ := strings.Cut(req.Type, ".")
	h, known := handlers[req.Type]
	if !known {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "the lab tenant cannot carry out %s", req.Type)
	}
	if !ok || id == "" || domain.EntityKind(kind) != h.target {
		return remediation.Result{}, domain.Invalid("target", "%s needs a %s target, got %q", req.Type, h.target, req.Target)
	}
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	// Like a real API, refuse a request missing what the action needs.
	if spec, ok := actions.Lookup(req.Type); ok {
		if params, err = spec.CheckArgs(params); err != nil {
			return remediation.Result{}, err
		}
	}
	joined := false
	switch f := t.fault(req.Type); {
	case f == nil:
	case f.Answer == Throttled:
		after := f.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		return remediation.Result{}, rest.Throttled("lab", http.MethodPost, req.Type, after)
	case f.Answer == Unavailable:
		return remediation.Result{}, &rest.StatusError{Vendor: "lab", Method: http.MethodPost, Path: req.Type,
			Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "the lab tenant is unavailable"}
	case f.Answer == InProgress:
		joined = true
	}
	r := request{t: t, req: req, id: id, params: params,
		lab: labstate.Request{Key: req.IdempotencyKey, Operation: verb, Enroll: !t.Strict}}
	op, err := h.run(ctx, r)
	if err != nil {
		return remediation.Result{}, err
	}
	res := remediation.Result{Summary: op.Result, Changed: op.Changed}
	if joined {
		res = remediation.Result{Summary: "already in progress: joined the running request; " + op.Result}
	}
	return res, nil
}

// fault returns the fault that answers this request, counting it, or nil.
func (t *Tenant) fault(actionType string) *Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.Faults {
		f := &t.Faults[i]
		if !Matches(f.Type, actionType) {
			continue
		}
		if f.Times > 0 && t.used[i] >= f.Times {
			continue
		}
		if t.used == nil {
			t.used = map[int]int{}
		}
		t.used[i]++
		return f
	}
	return nil
}

// Matches reports whether an action type pattern ("device.isolate",
// "device.*" or "*") matches an action type.
func Matches(pattern, actionType string) bool {
	if pattern == "*" || pattern == actionType {
		return true
	}
	prefix, ok := strings.CutSuffix(pattern, ".*")
	return ok && strings.HasPrefix(actionType, prefix+".")
}

// Types lists the action types the lab tenant carries out.
func Types() []string {
	out := make([]string, 0, len(handlers))
	for t := range handlers {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

type request struct {
	t      *Tenant
	req    remediation.Request
	id     string // the target's id, without the kind
	params map[string]any
	lab    labstate.Request
}

func (r request) str(name string) string {
	s, _ := r.params[name].(string)
	return s
}

type handler struct {
	target domain.EntityKind
	run    func(ctx context.Context, r request) (*labstate.Operation, error)
}

func change(result string) (labstate.Change, error) {
	return labstate.Change{Result: result, Changed: true}, nil
}
func same(result string) (labstate.Change, error) { return labstate.Change{Result: result}, nil }

// device builds a handler that changes a device.
func device(decide func(r request, d *labstate.Device) (labstate.Change, error)) handler {
	return handler{target: domain.KindDevice, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		return r.t.Store.LabApplyDevice(ctx, r.lab, r.id, r.req.TargetName, func(d *labstate.Device) (labstate.Change, error) {
			return decide(r, d)
		})
	}}
}

func user(decide func(r request, u *labstate.User) (labstate.Change, error)) handler {
	return handler{target: domain.KindUser, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		return r.t.Store.LabApplyUser(ctx, r.lab, r.id, r.req.TargetName, func(u *labstate.User) (labstate.Change, error) {
			return decide(r, u)
		})
	}}
}

func mailbox(decide func(r request, m *labstate.Mailbox) (labstate.Change, error)) handler {
	return handler{target: domain.KindMailbox, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		return r.t.Store.LabApplyMailbox(ctx, r.lab, r.id, r.req.TargetName, func(m *labstate.Mailbox) (labstate.Change, error) {
			return decide(r, m)
		})
	}}
}

func message(folder, done string) handler {
	return handler{target: domain.KindMessage, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		return r.t.Store.LabApplyMessage(ctx, r.lab, r.id, r.req.TargetName, func(m *labstate.Message) (labstate.Change, error) {
			if m.Folder == folder {
				return same("message already in " + folder)
			}
			m.Folder = folder
			return change(done)
		})
	}}
}

// artifact builds a handler that moves an artifact (a file, a process, a
// persistence mechanism, an indicator) into state `to`; scope, when given,
// scopes it to a device.
func artifact(target domain.EntityKind, kind, to, done, already string, scope func(r request) string) handler {
	return handler{target: target, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		sc := ""
		if scope != nil {
			sc = scope(r)
		}
		id := r.id
		if kind == "persistence" {
			id = r.str("kind") + ":" + r.str("name")
		}
		exp, err := expiry(r)
		if err != nil {
			return nil, err
		}
		return r.t.Store.LabApplyArtifact(ctx, r.lab, kind, id, sc, func(a *labstate.Artifact) (labstate.Change, error) {
			if a.State == to {
				return same(already)
			}
			a.State, a.ExpiresAt = to, exp
			return change(done)
		})
	}}
}

// app builds a handler that changes an OAuth app.
func app(decide func(r request, a *labstate.OAuthApp) (labstate.Change, error)) handler {
	return handler{target: domain.KindOAuthApp, run: func(ctx context.Context, r request) (*labstate.Operation, error) {
		return r.t.Store.LabApplyOAuthApp(ctx, r.lab, r.id, r.req.TargetName, func(a *labstate.OAuthApp) (labstate.Change, error) {
			return decide(r, a)
		})
	}}
}

// revokeConsent empties an app's grants and says what went, the way Graph
// deletes each delegated grant and app role assignment: an app enrolled on
// first use holds grants the lab does not know, revoked all the same.
func revokeConsent(r request, a *labstate.OAuthApp) (labstate.Change, error) {
	if a.ConsentRevoked && len(a.Grants) == 0 {
		return same("no consent grants left to revoke")
	}
	if len(a.Grants) == 0 {
		a.ConsentRevoked = true
		return change("consent grants and app role assignments revoked")
	}
	delegated, application := 0, 0
	var scopes []string
	for _, g := range a.Grants {
		if g.Type == "application" {
			application++
			continue
		}
		delegated++
		for _, sc := range strings.Fields(g.Scope) {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	a.Grants, a.ConsentRevoked = nil, true
	res := fmt.Sprintf("%d delegated permission grant(s) and %d app role assignment(s) revoked", delegated, application)
	if len(scopes) > 0 {
		res += " (scopes " + strings.Join(scopes, " ") + ")"
	}
	return change(res)
}

func expiry(r request) (*time.Time, error) {
	s := r.str("expiresIn")
	if s == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, domain.Invalid("params.expiresIn", "want a positive duration such as 720h, got %q", s)
	}
	t := time.Now().Add(d)
	return &t, nil
}

func deviceScope(r request) string { return r.str("deviceId") }

var handlers = map[string]handler{
	"device.isolate": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		if d.Isolated {
			return same("already isolated")
		}
		d.Isolated, d.IsolationType = true, r.str("isolationType")
		if d.IsolationType == "" {
			d.IsolationType = "Full"
		}
		return change("isolated")
	}),
	"device.release": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		if !d.Isolated {
			return same("not isolated")
		}
		d.Isolated, d.IsolationType = false, ""
		return change("released")
	}),
	"device.restrict_app_execution": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		if d.AppRestricted {
			return same("app execution already restricted")
		}
		d.AppRestricted = true
		return change("app execution restricted")
	}),
	"device.unrestrict_app_execution": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		if !d.AppRestricted {
			return same("app execution not restricted")
		}
		d.AppRestricted = false
		return change("app execution restriction lifted")
	}),
	"device.run_av_scan": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		d.LastScan = r.str("scanType")
		if d.LastScan == "" {
			d.LastScan = "Quick"
		}
		d.Scans++
		return change(d.LastScan + " scan run")
	}),
	"device.collect_investigation_package": device(func(r request, d *labstate.Device) (labstate.Change, error) {
		d.Packages++
		return change(fmt.Sprintf("investigation package %d collected", d.Packages))
	}),

	"file.stop_and_quarantine": artifact(domain.KindFile, "file", "quarantined", "file stopped and quarantined", "already quarantined", deviceScope),
	"file.release_quarantine":  artifact(domain.KindFile, "file", "released", "file released from quarantine", "not quarantined", deviceScope),
	"process.kill":             artifact(domain.KindProcess, "process", "killed", "process killed", "process already ended", nil),
	"persistence.remove": artifact(domain.KindDevice, "persistence", "removed", "persistence removed", "persistence already removed",
		func(r request) string { return r.id }),
	"persistence.restore": artifact(domain.KindDevice, "persistence", "restored", "persistence restored", "persistence not removed",
		func(r request) string { return r.id }),
	"email.block_sender":   artifact(domain.KindMailbox, "sender", "blocked", "sender blocked", "sender already blocked", nil),
	"email.unblock_sender": artifact(domain.KindMailbox, "sender", "unblocked", "sender unblocked", "sender not blocked", nil),
	"url.block":            artifact(domain.KindURL, "url", "blocked", "URL blocked", "URL already blocked", nil),
	"url.unblock":          artifact(domain.KindURL, "url", "unblocked", "URL unblocked", "URL not blocked", nil),
	"ip.block":             artifact(domain.KindIP, "ip", "blocked", "IP address blocked", "IP address already blocked", nil),
	"ip.unblock":           artifact(domain.KindIP, "ip", "unblocked", "IP address unblocked", "IP address not blocked", nil),
	"file.block":           artifact(domain.KindFile, "fileHash", "blocked", "file hash blocked", "file hash already blocked", nil),
	"file.unblock":         artifact(domain.KindFile, "fileHash", "unblocked", "file hash unblocked", "file hash not blocked", nil),

	"email.soft_delete":   message("deleteditems", "message moved to Deleted Items"),
	"email.move_to_inbox": message("inbox", "message moved to the inbox"),

	"mailbox.disable_external_forwarding": mailbox(func(r request, m *labstate.Mailbox) (labstate.Change, error) {
		if m.ExternalForwarding == "" {
			return same("no external forwarding")
		}
		to := m.ExternalForwarding
		m.ExternalForwarding = ""
		return change("forwarding to " + to + " disabled")
	}),
	"mailbox.remove_inbox_rule": mailbox(func(r request, m *labstate.Mailbox) (labstate.Change, error) {
		rule := r.str("ruleId")
		if rule == "" {
			return labstate.Change{}, domain.Invalid("params.ruleId", "mailbox.remove_inbox_rule needs ruleId")
		}
		i := slices.IndexFunc(m.InboxRules, func(x labstate.InboxRule) bool { return x.ID == rule })
		if i < 0 {
			return same("inbox rule " + rule + " already gone")
		}
		m.InboxRules = slices.Delete(m.InboxRules, i, i+1)
		return change("inbox rule " + rule + " removed")
	}),

	"app.disable": app(func(r request, a *labstate.OAuthApp) (labstate.Change, error) {
		if !a.Enabled {
			return same("service principal already disabled")
		}
		a.Enabled = false
		return change("service principal disabled")
	}),
	"app.enable": app(func(r request, a *labstate.OAuthApp) (labstate.Change, error) {
		if a.Enabled {
			return same("service principal not disabled")
		}
		a.Enabled = true
		return change("service principal enabled")
	}),
	"app.revoke_consent": app(revokeConsent),

	"user.disable": user(func(r request, u *labstate.User) (labstate.Change, error) {
		if !u.Enabled {
			return same("already disabled")
		}
		u.Enabled = false
		return change("disabled")
	}),
	"user.enable": user(func(r request, u *labstate.User) (labstate.Change, error) {
		if u.Enabled {
			return same("already enabled")
		}
		u.Enabled = true
		return change("enabled")
	}),
	"user.revoke_sessions": user(func(r request, u *labstate.User) (labstate.Change, error) {
		u.SessionsRevoked++
		return change("sign-in sessions revoked")
	}),
	"user.reset_factors": user(func(r request, u *labstate.User) (labstate.Change, error) {
		return change("MFA methods removed: the user registers again at next sign-in")
	}),
	"user.reset_password": user(func(r request, u *labstate.User) (labstate.Change, error) {
		if u.MustChangePassword {
			return same("password change already required")
		}
		u.MustChangePassword = true
		return change("password change required at next sign-in")
	}),
	"user.confirm_compromised": user(func(r request, u *labstate.User) (labstate.Change, error) {
		if u.Risk == "confirmedCompromised" {
			return same("already confirmed compromised")
		}
		u.Risk = "confirmedCompromised"
		return change("confirmed compromised (risk high)")
	}),
	"user.dismiss_risk": user(func(r request, u *labstate.User) (labstate.Change, error) {
		if u.Risk != "confirmedCompromised" {
			return same("no risk to dismiss")
		}
		u.Risk = "dismissed"
		return change("risk dismissed")
	}),
}
