// Package connector routes each remediation to the system that carries it
// out: Microsoft Defender for Endpoint (internal/connector/mde), Microsoft
// Graph (internal/connector/msgraph), CrowdStrike Falcon
// (internal/connector/falcon), Okta (internal/connector/okta), Exchange
// Online (internal/connector/exo), a signed webhook
// (internal/connector/webhook) or the built-in lab tenant
// (internal/labtenant). A SOC rarely runs everything through one vendor, so
// the choice is per action type and comes from configuration (Config),
// which is checked whole at start — every problem reported, each naming its
// setting — so that a typo fails the worker's start, not an isolation at
// 3 a.m.
//
// Router implements remediation.Executor; the ExecuteAction activity calls
// it. Connectors return errors that say what the vendor answered
// (rest.StatusError, domain errors); activities.classify alone decides
// what is retried. Credentials are read from environment variables or files
// when the router is built and held as rest.Secret, which never prints.
package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/connector/exo"
	"github.com/airsoc/air/internal/connector/falcon"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/okta"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/connector/webhook"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/labstate"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/remediation"
)

// Deps are what the router's connectors need besides configuration.
type Deps struct {
	// Store keeps the lab tenant's state (store.Store implements it).
	Store labstate.Store
	// Log receives routing and vendor-call logs; nil discards them.
	Log logrus.FieldLogger
	// Env reads secrets; the zero value reads the process's environment
	// and files.
	Env Env
	// HTTP, when set, sends every vendor request (tests point it at
	// httptest servers); nil gives each connector a client with its timeout.
	HTTP *http.Client
	// AIR are the executors of the actions AIR carries out on itself (the
	// connector kind actions.AIR, named "air"), by action type: case
	// actions (internal/caseaction), notifications. A type of that kind
	// without an executor here fails as not configured.
	AIR map[string]remediation.Executor
}

// Router sends each remediation to the connector configured for its type.
type Router struct {
	routes map[string]Route
	execs  map[string]remediation.Executor // connector name → connector
	kinds  map[string]string               // connector name → kind
	// Lab is the lab tenant, always built (it carries what no route sends
	// elsewhere).
	Lab *labtenant.Tenant
	log logrus.FieldLogger
	// enrichers are the connectors that enrich each entity kind.
	enrichers map[domain.EntityKind][]enrich.Enricher
}

// Route is where one action type goes.
type Route struct {
	Type      string `json:"type"`
	Connector string `json:"connector"` // its name: lab, mde, graph, falcon, okta, exo or a webhook's
	Kind      string `json:"kind"`      // lab, mde, graph, falcon, okta, exo, webhook
	By        string `json:"by"`        // the route that chose it; "" for the default
}

var _ remediation.Executor = (*Router)(nil)

// NewRouter validates cfg, reads its secrets and builds every configured
// connector. It seeds the lab tenant when a seed file is configured.
func NewRouter(ctx context.Context, cfg Config, deps Deps) (*Router, error) {
	res, err := cfg.resolve(deps.Env)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	if cfg.Tenant != "" {
		log = log.WithField("tenant", cfg.Tenant)
	}
	r := &Router{routes: map[string]Route{}, execs: map[string]remediation.Executor{}, log: log}
	kinds := map[string]string{NameLab: actions.Lab, NameAIR: actions.AIR}
	r.kinds = kinds
	r.execs[NameAIR] = ownExecutors(maps.Clone(deps.AIR))

	r.Lab = &labtenant.Tenant{Store: deps.Store, Strict: cfg.Lab.Strict, Faults: slices.Clone(cfg.Lab.Faults)}
	r.execs[NameLab] = r.Lab
	if res.seed != nil {
		if deps.Store == nil {
			return nil, fmt.Errorf("connectors.lab.seedFile: the lab tenant has no store to seed")
		}
		if err := r.Lab.Seed(ctx, *res.seed); err != nil {
			return nil, fmt.Errorf("connectors.lab.seedFile: %w", err)
		}
	}
	if s := cfg.MDE; s != nil {
		kinds[NameMDE] = actions.MDE
		perMin, perHour := or(s.RateLimit, mde.Limits[0].Calls), or(s.HourlyLimit, mde.Limits[1].Calls)
		r.execs[NameMDE] = &mde.Client{
			API: &rest.Client{Vendor: "mde", BaseURL: orStr(s.BaseURL, mde.DefaultBaseURL),
				HTTP:    httpClient(deps.HTTP, s.Timeout),
				Token:   tokenSource(s.Credentials, res.mdeSecret, mde.Scope, deps, log),
				Limiter: rest.NewLimiter(rest.Window{Calls: perMin, Per: time.Minute}, rest.Window{Calls: perHour, Per: time.Hour}),
				Log:     log.WithField("connector", NameMDE)},
			PollInterval: s.PollInterval, PollTimeout: s.PollTimeout, Log: log.WithField("connector", NameMDE),
			KillProcessScript: s.KillProcessScript, RemovePersistenceScript: s.RemovePersistenceScript,
		}
	}
	if s := cfg.Graph; s != nil {
		kinds[NameGraph] = actions.Graph
		r.execs[NameGraph] = &msgraph.Client{API: &rest.Client{Vendor: "graph", BaseURL: orStr(s.BaseURL, msgraph.DefaultBaseURL),
			HTTP:  httpClient(deps.HTTP, s.Timeout),
			Token: tokenSource(s.Credentials, res.graphSecret, msgraph.Scope, deps, log),
			Log:   log.WithField("connector", NameGraph)}}
	}
	if s := cfg.Falcon; s != nil {
		kinds[NameFalcon] = actions.Falcon
		base := s.baseURL()
		var extra url.Values
		if s.MemberCID != "" {
			extra = url.Values{"member_cid": {s.MemberCID}}
		}
		r.execs[NameFalcon] = &falcon.Client{API: &rest.Client{Vendor: "falcon", BaseURL: base,
			HTTP: httpClient(deps.HTTP, s.Timeout),
			Token: &rest.ClientCredentials{TokenURL: falcon.TokenURL(base), ClientID: s.ClientID, Secret: res.falconSecret, Extra: extra,
				HTTP: httpClient(deps.HTTP, 0), Log: log.WithField("component", "token")},
			Limiter: rest.NewLimiter(rest.Window{Calls: or(s.RateLimit, falcon.Limits[0].Calls), Per: time.Minute}),
			Log:     log.WithField("connector", NameFalcon)},
			PollInterval: s.PollInterval, PollTimeout: s.PollTimeout, Platforms: s.Platforms, Log: log.WithField("connector", NameFalcon)}
	}
	if s := cfg.Okta; s != nil {
		kinds[NameOkta] = actions.Okta
		if cc, ok := res.okta.(*rest.ClientCredentials); ok {
			cc.HTTP, cc.Log = httpClient(deps.HTTP, 0), log.WithField("component", "token")
		}
		r.execs[NameOkta] = &okta.Client{API: &rest.Client{Vendor: "okta", BaseURL: s.OrgURL,
			HTTP: httpClient(deps.HTTP, s.Timeout), Token: res.okta,
			Limiter: rest.NewLimiter(rest.Window{Calls: or(s.RateLimit, okta.Limits[0].Calls), Per: time.Minute}),
			Log:     log.WithField("connector", NameOkta)}}
	}
	if s := cfg.EXO; s != nil {
		kinds[NameEXO] = actions.EXO
		r.execs[NameEXO] = &exo.Client{API: &rest.Client{Vendor: "exo", BaseURL: orStr(s.BaseURL, exo.DefaultBaseURL),
			HTTP:    httpClient(deps.HTTP, s.Timeout),
			Token:   tokenSource(s.Credentials, res.exoSecret, exo.Scope, deps, log),
			Limiter: rest.NewLimiter(rest.Window{Calls: or(s.RateLimit, exo.DefaultRateLimit), Per: time.Minute}),
			Log:     log.WithField("connector", NameEXO)},
			TenantID: s.TenantID, Organization: s.Organization}
	}
	for name, s := range cfg.Webhooks {
		kinds[name] = actions.Webhook
		r.execs[name] = &webhook.Client{Name: name, URL: s.URL, Secret: res.webhookSecrets[name],
			HTTP: httpClient(deps.HTTP, s.Timeout), Attempts: s.Attempts, Backoff: s.Backoff, MaxBackoff: s.MaxBackoff,
			Log: log.WithField("connector", name)}
	}
	for t, rt := range res.routes {
		r.routes[t] = Route{Type: t, Connector: rt.connector, Kind: kinds[rt.connector], By: rt.by}
	}
	r.enrichers = enrichersOf(r.execs, r.Lab, cfg.Lab.Enrich)
	log.WithField("typesPerConnector", r.summary()).Info("remediation connectors ready")
	return r, nil
}

// Execute carries out one remediation with the connector its type is
// routed to, or, when the request names connectors (a playbook step's
// connectors:), with the first of them that acts (see fallback).
func (r *Router) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	rt, ok := r.routes[req.Type]
	if !ok {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "no connector carries out %s: it is not a remediation action type", req.Type)
	}
	// Playbooks are checked at load; manual and undo actions arrive here
	// too, so the request is checked against the registry once more.
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	if spec, ok := actions.Lookup(req.Type); ok {
		if _, err := spec.CheckArgs(params); err != nil {
			return remediation.Result{}, err
		}
	}
	if req.Exercise != 0 && rt.Kind != actions.AIR {
		// An exercise's remediation never reaches a vendor: the attack is
		// a replay, the devices and users in it are real. AIR's own case
		// actions act on the exercise's incident and stay where they are.
		r.log.WithFields(logrus.Fields{"action": req.ActionID, "type": req.Type, "exercise": req.Exercise}).
			Debug("routing an exercise's remediation to the lab tenant")
		res, err := r.Lab.Execute(ctx, req)
		if err == nil {
			res.Connector = NameLab
		}
		return res, err
	}
	if len(req.Connectors) > 0 {
		return r.fallback(ctx, req)
	}
	r.log.WithFields(logrus.Fields{"action": req.ActionID, "type": req.Type, "connector": rt.Connector}).Debug("routing remediation")
	res, err := r.execs[rt.Connector].Execute(ctx, req)
	if err == nil {
		res.Connector = rt.Connector
	}
	return res, err
}

// fallback carries out a request with the first of its connectors that
// acts. It moves on to the next connector only when one definitively did
// not act: it is not configured here, cannot carry the type, or answered
// that the target is unknown to it (not_found) or that AIR may not
// (forbidden). Any other failure — a timeout, a 5xx, a throttle, an
// answer AIR cannot read — may hide an effect, so it ends the attempt
// with that connector's error: the activity retries it with the same
// idempotency key, and a remediation never runs through two connectors.
// The result names the connector that acted and, in Skipped, why each
// earlier one was passed over; an error carries the same notes.
func (r *Router) fallback(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	var skipped []string
	var last error
	for i, name := range req.Connectors {
		conn, why := r.pick(name, req.Type)
		if conn == "" {
			skipped = append(skipped, name+": "+why)
			continue
		}
		r.log.WithFields(logrus.Fields{"action": req.ActionID, "type": req.Type, "connector": conn, "preference": i + 1}).
			Debug("routing remediation by the step's connectors")
		res, err := r.execs[conn].Execute(ctx, req)
		if err == nil {
			res.Connector, res.Skipped = conn, skipped
			return res, nil
		}
		if !didNotAct(err) {
			return remediation.Result{}, noted(err, skipped)
		}
		r.log.WithError(err).WithFields(logrus.Fields{"action": req.ActionID, "connector": conn}).
			Info("connector did not act; trying the step's next connector")
		skipped = append(skipped, conn+": "+err.Error())
		last = err
	}
	if last != nil { // the last one reached did not act: its kind stands
		return remediation.Result{}, noted(fmt.Errorf("no connector of %s carried out %s", strings.Join(req.Connectors, ", "), req.Type), skipped, last)
	}
	return remediation.Result{}, noted(domain.Errorf(domain.KindInvalid, "none of the step's connectors %s can carry out %s here",
		strings.Join(req.Connectors, ", "), req.Type), skipped)
}

// didNotAct reports whether a connector's error says for certain that
// nothing happened: the target is unknown to it, AIR may not act there, or
// the connector is not configured. Only then may another connector act.
func didNotAct(err error) bool {
	switch domain.KindOf(err) {
	case domain.KindNotFound, domain.KindForbidden:
		return true
	}
	return errors.Is(err, errNotConfigured)
}

// noted adds to err why earlier connectors were passed over. It keeps
// err's kind and retry delay (errors.As still finds them), or cause's when
// given.
func noted(err error, skipped []string, cause ...error) error {
	if len(skipped) == 0 {
		return err
	}
	n := &notedError{msg: err.Error() + " (passed over: " + strings.Join(skipped, "; ") + ")", err: err}
	if len(cause) > 0 {
		n.err = cause[0]
	}
	return n
}

type notedError struct {
	msg string
	err error
}

func (e *notedError) Error() string { return e.msg }
func (e *notedError) Unwrap() error { return e.err }

// pick resolves one of a step's connectors for an action type: a
// configured connector's name (lab, mde, graph, air, a webhook's), or a
// connector kind, which means the connector the tenant's routes send the
// type to when it is of that kind, else the one configured connector of
// that kind. It returns "" and why when none fits.
func (r *Router) pick(name, actionType string) (string, string) {
	spec, _ := actions.Lookup(actionType)
	carries := func(conn string) (string, string) {
		if spec != nil && !spec.CarriedBy(r.kinds[conn]) {
			return "", fmt.Sprintf("%s (%s) cannot carry out %s", conn, r.kinds[conn], actionType)
		}
		if own, ok := r.execs[conn].(ownExecutors); ok && own[actionType] == nil {
			return "", "AIR has no executor for " + actionType + " configured"
		}
		return conn, ""
	}
	if _, ok := r.kinds[name]; ok {
		return carries(name)
	}
	if !actions.IsConnectorKind(name) {
		return "", "no connector of that name is configured"
	}
	if rt, ok := r.routes[actionType]; ok && rt.Kind == name {
		return carries(rt.Connector)
	}
	var of []string
	for _, n := range sortedKeys(r.kinds) {
		if r.kinds[n] == name {
			of = append(of, n)
		}
	}
	switch len(of) {
	case 0:
		return "", "not configured"
	case 1:
		return carries(of[0])
	}
	return "", fmt.Sprintf("several %s connectors are configured (%s): name one", name, strings.Join(of, ", "))
}

// CheckConnectors checks a playbook step's connectors against this
// configuration, for the worker's start: every name must be a connector
// kind or a configured connector, and a kind with several configured
// connectors (webhooks) must be named by the connector instead. A kind
// that is not configured is no error: the step passes over it.
func (r *Router) CheckConnectors(actionType string, names []string) error {
	var errs []error
	for _, name := range names {
		if _, ok := r.kinds[name]; ok {
			continue
		}
		if !actions.IsConnectorKind(name) {
			errs = append(errs, fmt.Errorf("connector %q is neither a connector kind (%s) nor configured (%s)",
				name, strings.Join(actions.ConnectorKinds, ", "), strings.Join(sortedKeys(r.kinds), ", ")))
			continue
		}
		if _, why := r.pick(name, actionType); strings.HasPrefix(why, "several ") {
			errs = append(errs, fmt.Errorf("connector %q: %s", name, why))
		}
	}
	return errors.Join(errs...)
}

// errNotConfigured is what an AIR executor missing for a type answers.
var errNotConfigured = errors.New("not configured")

// ownExecutors carries out the actions of kind air, each type with its own
// executor (Deps.AIR).
type ownExecutors map[string]remediation.Executor

func (o ownExecutors) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	e := o[req.Type]
	if e == nil {
		return remediation.Result{}, fmt.Errorf("AIR has no executor for %s: %w", req.Type, errNotConfigured)
	}
	return e.Execute(ctx, req)
}

// Routes lists where every remediation action type goes, by type.
func (r *Router) Routes() []Route {
	out := make([]Route, 0, len(r.routes))
	for _, rt := range r.routes {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// What each vendor connector enriches (internal/enrich).
var enrichedKinds = map[string][]domain.EntityKind{
	NameMDE:   {domain.KindFile, domain.KindIP, domain.KindDevice},
	NameGraph: {domain.KindUser},
}

// enrichersOf picks the enrichers of each entity kind: the configured
// vendor connectors that enrich it; the lab tenant for the kinds none
// enriches, when no vendor connector is configured at all or the lab is
// told to (lab.enrich).
func enrichersOf(execs map[string]remediation.Executor, lab *labtenant.Tenant, labEnrich bool) map[domain.EntityKind][]enrich.Enricher {
	out := map[domain.EntityKind][]enrich.Enricher{}
	vendors := 0
	for _, name := range sortedKeys(enrichedKinds) {
		en, ok := execs[name].(enrich.Enricher)
		if !ok {
			continue
		}
		vendors++
		for _, k := range enrichedKinds[name] {
			out[k] = append(out[k], en)
		}
	}
	if vendors == 0 || labEnrich {
		for _, k := range labtenant.EnrichKinds {
			if len(out[k]) == 0 {
				out[k] = []enrich.Enricher{lab}
			}
		}
	}
	return out
}

// Enrichers are the connectors that enrich entities of kind k, in a fixed
// order; none when no connector does.
func (r *Router) Enrichers(k domain.EntityKind) []enrich.Enricher {
	return slices.Clone(r.enrichers[k])
}

// summary says in one line how many action types each connector carries.
func (r *Router) summary() string {
	count := map[string]int{}
	for _, rt := range r.routes {
		count[rt.Connector]++
	}
	parts := make([]string, 0, len(count))
	for _, name := range sortedKeys(count) {
		parts = append(parts, fmt.Sprintf("%s=%d", name, count[name]))
	}
	return strings.Join(parts, ", ")
}

func tokenSource(c Credentials, secret rest.Secret, scope string, deps Deps, log logrus.FieldLogger) rest.TokenSource {
	return &rest.ClientCredentials{
		TokenURL: rest.MicrosoftTokenURL(c.Authority, c.TenantID),
		ClientID: c.ClientID, Secret: secret, Scope: orStr(c.Scope, scope),
		HTTP: httpClient(deps.HTTP, 0), Log: log.WithField("component", "token"),
	}
}

func httpClient(shared *http.Client, timeout time.Duration) *http.Client {
	if shared != nil {
		return shared
	}
	return &http.Client{Timeout: or(timeout, rest.DefaultTimeout)}
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func orStr(v, def string) string { return or(v, def) }
