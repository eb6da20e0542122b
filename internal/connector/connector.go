// Package connector routes each remediation to the system that carries it
// out: Microsoft Defender for Endpoint (internal/connector/mde), Microsoft
// Graph (internal/connector/msgraph), a signed webhook
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
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/connector/webhook"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// Deps are what the router's connectors need besides configuration.
type Deps struct {
	// Store keeps the lab tenant's state.
	Store *store.Store
	// Log receives routing and vendor-call logs; nil discards them.
	Log logrus.FieldLogger
	// Env reads secrets; the zero value reads the process's environment
	// and files.
	Env Env
	// HTTP, when set, sends every vendor request (tests point it at
	// httptest servers); nil gives each connector a client with its timeout.
	HTTP *http.Client
}

// Router sends each remediation to the connector configured for its type.
type Router struct {
	routes map[string]Route
	execs  map[string]remediation.Executor // connector name → connector
	// Lab is the lab tenant, always built (it carries what no route sends
	// elsewhere).
	Lab *labtenant.Tenant
	log logrus.FieldLogger
}

// Route is where one action type goes.
type Route struct {
	Type      string `json:"type"`
	Connector string `json:"connector"` // its name: lab, mde, graph or a webhook's
	Kind      string `json:"kind"`      // lab, mde, graph, webhook
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
	kinds := map[string]string{NameLab: actions.Lab}

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
		}
	}
	if s := cfg.Graph; s != nil {
		kinds[NameGraph] = actions.Graph
		r.execs[NameGraph] = &msgraph.Client{API: &rest.Client{Vendor: "graph", BaseURL: orStr(s.BaseURL, msgraph.DefaultBaseURL),
			HTTP:  httpClient(deps.HTTP, s.Timeout),
			Token: tokenSource(s.Credentials, res.graphSecret, msgraph.Scope, deps, log),
			Log:   log.WithField("connector", NameGraph)}}
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
	log.WithField("typesPerConnector", r.summary()).Info("remediation connectors ready")
	return r, nil
}

// Execute carries out one remediation with the connector its type is
// routed to.
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
	r.log.WithFields(logrus.Fields{"action": req.ActionID, "type": req.Type, "connector": rt.Connector}).Debug("routing remediation")
	return r.execs[rt.Connector].Execute(ctx, req)
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
