// Package app wires AIR's long-running service: the embedded or remote
// Temporal server, the store, the worker that runs incident workflows and
// their activities, and the HTTP API. worker/main.go only parses flags and
// calls Run; the end-to-end tests call Run too.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	tlog "go.temporal.io/server/common/log"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/caseaction"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/engine"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/printpdf"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/reportrun"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/web"
	"github.com/airsoc/air/workflows"
)

// Config is the service's configuration. The zero value, with Dev set, is
// the embedded default: everything under ./.air, the API on 127.0.0.1:8080.
type Config struct {
	// Dev runs Temporal in-process on a SQLite file under DataDir and, when
	// DatabaseURL is empty, keeps AIR's store in DataDir too.
	Dev bool
	// DataDir holds the dev-mode state; empty means ./.air.
	DataDir string
	// HTTPAddr is where the API listens; empty means 127.0.0.1:8080.
	HTTPAddr string
	// TemporalAddress is the Temporal frontend (host:port) without Dev.
	TemporalAddress string
	// TemporalPort pins the embedded server's frontend port in Dev mode; 0 means 7233.
	TemporalPort int
	// Namespace is the Temporal namespace; empty means "default".
	Namespace string
	// DatabaseURL is postgres://… or a SQLite path.
	DatabaseURL string
	// PlaybookDir holds the playbooks; empty means the shipped set built
	// into the binary.
	PlaybookDir string
	// Automation is the tenant's automation settings.
	Automation policy.Settings
	// ApprovalExpiry is how long pending actions wait; 0 means 7 days.
	ApprovalExpiry time.Duration
	// Correlation configures how alerts join incidents; the zero value is
	// the default rules (see internal/correlate).
	Correlation correlate.Rules
	// Connectors routes remediations to Defender for Endpoint, Graph,
	// webhooks or the lab tenant; the zero value sends all to the lab.
	Connectors connector.Config
	// ConnectorsChosen says Connectors was configured on purpose (a file,
	// or -connectors lab). Production refuses to start without it: a
	// worker that silently sends every remediation to the simulated lab
	// tenant would look like it contains threats while it touches nothing.
	ConnectorsChosen bool
	// Log is the service's logger.
	Log *logrus.Logger
	// Out receives the start-up banner; nil means os.Stdout.
	Out io.Writer
	// Listening, when set, receives the API's base URL once it listens.
	Listening func(url string)
	// AdminTokenFile, when set, keeps a working admin token there (mode
	// 0600), creating one on first start; Dev sets it to
	// <DataDir>/admin-token.
	AdminTokenFile string
	// RateLimit limits API and page requests per token, counted in the
	// database for every process that shares it; the zero value is 20 a
	// second with bursts of 100.
	RateLimit auth.Rate
	// PlanMaxAlerts and PlanConcurrency bound plan mode (api.Server's
	// fields of the same names); 0 means 500 alerts and 2 at once.
	PlanMaxAlerts, PlanConcurrency int
	// SecureCookies marks the pages' cookies Secure behind a TLS proxy.
	SecureCookies bool
	// Sources are the providers AIR pulls alerts from (and webhook
	// sources that push them); the zero value has none.
	Sources sources.Config
	// TemporalTLS authenticates AIR to the Temporal frontend without Dev.
	TemporalTLS TemporalTLS
	// TemporalCompression is the gRPC compression of the calls to
	// Temporal: engine.CompressionNone (the default) or CompressionGzip.
	TemporalCompression string
	// StartTimeout is how long start-up waits for the database and
	// Temporal to answer, retrying with backoff; 0 means 2 minutes.
	StartTimeout time.Duration
	// TemporalTimeout bounds each call to Temporal an API request waits
	// for (a decision, an investigation's start or signal for new alerts):
	// past it the request answers 503 instead of hanging while Temporal is
	// unreachable; 0 means 15 s.
	TemporalTimeout time.Duration
	// Role is what this process does: RoleAll (the default) serves the
	// API and pages and runs workflows and activities; RoleAPI only serves
	// (starting and signalling workflows); RoleWorker only runs them, with
	// /healthz and /readyz on HTTPAddr for probes. Scale each on its own.
	Role Role
	// WorkflowCache is how many workflow executions the worker keeps in
	// memory between their tasks (Temporal's sticky cache); 0 means the
	// SDK's default, 10,000. Smaller saves memory with many open
	// investigations; an evicted one replays its history on its next task.
	WorkflowCache int
	// CreateNamespace registers Namespace on Temporal when it is missing.
	CreateNamespace bool
	// Notify is the notifications file's content (channels and rules,
	// internal/notify), its secrets already read; nil means no channels:
	// incident events are still routed (to no one) and incident.notify
	// steps fail. Give every worker process the same file.
	Notify *notify.Config
	// Chromium is the browser that prints kept reports to PDF; empty
	// means $AIR_CHROMIUM, else chromium on PATH, else no PDF (503).
	Chromium string
	// MessageKeyFile holds the key every AIR process shares to sign the
	// decisions and changes it sends to incident workflows (see
	// internal/msgauth); Dev makes <DataDir>/message-key on first start,
	// production requires it.
	MessageKeyFile string
}

// Role is what a process does (Config.Role).
type Role string

// The roles.
const (
	RoleAll    Role = "all"
	RoleAPI    Role = "api"
	RoleWorker Role = "worker"
)

func (r Role) serves() bool { return r != RoleWorker }
func (r Role) runs() bool   { return r != RoleAPI }

// probesOnly is a worker-role process's HTTP handler: the probes, nothing
// an analyst or attacker could use.
func probesOnly(srv *api.Server) http.Handler {
	full := srv.Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", full)
	mux.Handle("GET /readyz", full)
	return mux
}

func (c *Config) defaults() error {
	switch c.Role {
	case "":
		c.Role = RoleAll
	case RoleAll, RoleAPI, RoleWorker:
	default:
		return fmt.Errorf("role %q: want all, api or worker", c.Role)
	}
	if _, err := engine.Compression(c.TemporalCompression); err != nil {
		return err
	}
	if c.Dev && c.Role != RoleAll {
		return errors.New("-role api and -role worker share one Temporal and one database: use them without -dev")
	}
	if c.DataDir == "" {
		c.DataDir = ".air"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = logrus.New()
	}
	if c.Dev {
		if c.DatabaseURL == "" {
			c.DatabaseURL = filepath.Join(c.DataDir, "air.db")
		}
		if c.TemporalPort == 0 {
			c.TemporalPort = 7233
		}
		if c.AdminTokenFile == "" {
			c.AdminTokenFile = filepath.Join(c.DataDir, "admin-token")
		}
		if c.MessageKeyFile == "" {
			c.MessageKeyFile = filepath.Join(c.DataDir, "message-key")
		}
		return nil
	}
	if c.MessageKeyFile == "" {
		return errors.New("AIR_MESSAGE_KEY_FILE (-message-key-file) is required without -dev: every AIR process signs " +
			"what it sends to incident workflows with this shared key; make one with `openssl rand -hex 32 > message-key` (mode 0600)")
	}
	if c.TemporalAddress == "" {
		return errors.New("AIR_TEMPORAL_ADDRESS (-temporal) is required without -dev")
	}
	if c.DatabaseURL == "" {
		return errors.New("AIR_DATABASE_URL (-db) is required without -dev")
	}
	if !c.ConnectorsChosen {
		return errors.New("AIR_CONNECTORS (-connectors) is required without -dev: a connectors file says which vendor carries each remediation " +
			"(docs/connectors.md); -connectors lab sends them all to the simulated lab tenant on purpose")
	}
	return c.TemporalTLS.check(c.TemporalAddress)
}

// Run starts the service and blocks until ctx ends, then shuts down.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Log

	books, pinned, err := loadPlaybooks(cfg.PlaybookDir)
	if err != nil {
		return err
	}
	if err := cfg.Connectors.Validate(connector.Env{}); err != nil { // before anything starts
		return fmt.Errorf("remediation connectors are misconfigured:\n%w", err)
	}
	if err := cfg.Sources.Validate(nil); err != nil {
		return fmt.Errorf("alert sources are misconfigured:\n%w", err)
	}
	keys, err := msgauth.Load(cfg.MessageKeyFile, cfg.Dev) // before anything starts, too
	if err != nil {
		return err
	}

	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		srv, err := devserver.Start(ctx, devserver.Config{
			DatabaseFile: filepath.Join(cfg.DataDir, "temporal.db"),
			FrontendPort: cfg.TemporalPort,
			Namespace:    cfg.Namespace,
			Logger:       tlog.NewNoopLogger(),
		})
		if err != nil {
			return fmt.Errorf("start embedded temporal: %w", err)
		}
		defer srv.Stop()
		cfg.TemporalAddress = srv.HostPort()
	}

	st, err := retryStart(ctx, cfg, "the database at "+redact(cfg.DatabaseURL), func() (*store.Store, error) { return store.Open(ctx, cfg.DatabaseURL) })
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Committed changes to incidents and actions go to the hub, and from it
	// to the open pages (GET /live). One hub per process: the worker's
	// activities and the API share this store, so both reach the pages.
	hub := &events.Hub{}
	st.SetPublisher(hub)
	// Notifications: the service routes incident events and waiting
	// actions to channels and sends them, on goroutines of its own, in
	// every process that runs workflows; ingest and workflows only write
	// rows. The API's test message and incident.notify steps queue
	// through it.
	notifier := &notify.Service{Store: st, Config: cfg.Notify, Feed: hub, Log: log.WithField("component", "notify")}
	// Case actions (a playbook setting severity, classifying, assigning,
	// resolving, notifying) are carried out by AIR itself: through the
	// store's manage code, and the notification service's outbox (a step
	// naming a channel no notifications file configures fails, saying so).
	own := map[string]remediation.Executor{notify.ActionType: &notify.Executor{Service: notifier}}
	cases := &caseaction.Executor{Store: st}
	for _, t := range caseaction.Types() {
		own[t] = cases
	}
	router, err := connector.NewRouter(ctx, cfg.Connectors, connector.Deps{Store: st, Log: log.WithField("component", "connectors"), AIR: own})
	if err != nil {
		return fmt.Errorf("remediation connectors are misconfigured:\n%w", err)
	}
	if err := checkStepConnectors(router, books); err != nil {
		return fmt.Errorf("playbook steps name connectors this configuration lacks:\n%w", err)
	}

	opts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.Namespace,
		Logger:    logging.NewTemporal(log.WithField("component", "temporal")),
	}
	opts.ConnectionOptions.GrpcCompression, _ = engine.Compression(cfg.TemporalCompression) // checked by defaults
	if !cfg.Dev {
		if err := cfg.TemporalTLS.apply(&opts); err != nil {
			return err
		}
	}
	if cfg.CreateNamespace {
		if err := ensureNamespace(ctx, cfg, opts); err != nil {
			return err
		}
	}
	tc, err := retryStart(ctx, cfg, "Temporal at "+cfg.TemporalAddress, func() (client.Client, error) { return client.DialContext(ctx, opts) })
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer tc.Close()

	writeBack := writeBacker(tc, st, cfg.Sources)
	if writeBack != nil {
		// A playbook's case action reaches the alerts' providers as an
		// analyst's change does. Set before the worker starts.
		wlog := log.WithField("component", "caseactions")
		cases.Changed = func(ctx context.Context, id int64, before, after *domain.Incident, by string) {
			if ch := sources.ChangeOf(before, after, "", by); !ch.Empty() {
				if err := writeBack(context.WithoutCancel(ctx), id, ch); err != nil {
					wlog.WithError(err).WithField("incident", id).Warn("write-back to the providers not started")
				}
			}
		}
	}
	eng := &engine.Engine{Client: tc, ApprovalExpiry: cfg.ApprovalExpiry, Keys: keys, UpdateTimeout: cfg.TemporalTimeout}
	pipeline := &ingest.Pipeline{Store: st, Notifier: eng, Log: log.WithField("component", "ingest"), Rules: cfg.Correlation}
	pulled, err := newSources(ctx, cfg.Sources, st, pipeline, log)
	if err != nil {
		return err
	}

	if cfg.WorkflowCache > 0 {
		worker.SetStickyWorkflowCacheSize(cfg.WorkflowCache)
	}
	wopts := workflows.WorkerOptions
	wopts.Interceptors = append(slices.Clone(wopts.Interceptors), workflows.Authenticator(keys))
	w := worker.New(tc, workflows.TaskQueue, wopts)
	acts := &activities.Activities{
		Store:      st,
		Executor:   router,
		Vendors:    router,
		LabVendors: router.Lab,
		Playbooks:  pinned,
		Automation: cfg.Automation,
		Log:        log.WithField("component", "activities"),
	}
	if cfg.Notify != nil {
		if chans := cfg.Notify.ChannelsFor(notify.OnQuestionAsked); len(chans) > 0 {
			acts.Notifier = questionNotifier{svc: notifier, channels: chans}
		}
	}
	Register(w, acts)
	RegisterSources(w, pulled)
	// Listen before anything runs, so that the address links in reports
	// sent from now on lead to is known; serving starts below.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	// Reports: documents rendered from the pages' templates, kept in the
	// store, sent through the notification outbox, printed to PDF by the
	// system's Chromium when there is one.
	linkBase := base
	if cfg.Notify != nil && cfg.Notify.BaseURL != "" {
		linkBase = cfg.Notify.BaseURL
	}
	printer := &printpdf.Printer{Browser: printpdf.Find(cfg.Chromium)}
	docs, err := web.NewReportDocuments(linkBase)
	if err != nil {
		return err
	}
	keeper := &reportrun.Keeper{Store: st, Render: docs, BaseURL: linkBase, PDF: printer}
	if cfg.Notify != nil {
		keeper.Notify = notifier
		notifier.Attach = keeper.Attachments
	}
	RegisterReports(w, keeper)
	if cfg.Role.runs() {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
		if err := startSources(ctx, tc, cfg.Sources); err != nil {
			return err
		}
		ensureReportSchedules(ctx, st, eng, log.WithField("component", "reports"))
		nctx, stopNotify := context.WithCancel(ctx)
		notified := make(chan struct{})
		go func() { defer close(notified); notifier.Run(nctx) }()
		defer func() { stopNotify(); <-notified }()
	}
	access := &auth.Service{Store: st}
	adminToken := ""
	if cfg.AdminTokenFile != "" {
		secret, created, err := access.BootstrapAdmin(ctx, cfg.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if created {
			adminToken = secret
		}
	}
	// The counts live in the database, so that every API process behind a
	// load balancer enforces one limit per token and one sign-in lockout.
	limiter := &auth.Limiter{Rate: cfg.RateLimit, Shared: st, Log: log.WithField("component", "limiter")}
	srv := &api.Server{
		Store:             st,
		Ingest:            pipeline,
		Sources:           cfg.Sources,
		WebhookSecrets:    pulled.webhookSecrets,
		WriteBack:         writeBack,
		Engine:            eng,
		History:           eng,
		Log:               log.WithField("component", "api"),
		Auth:              access,
		Limiter:           limiter,
		DefaultAutomation: cfg.Automation,
		Playbooks:         books,
		PlanMaxAlerts:     cfg.PlanMaxAlerts,
		PlanConcurrency:   cfg.PlanConcurrency,
		Notifier:          notifier,
		Schedules:         eng,
		Keeper:            keeper,
		PDF:               printer,
		Ready: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
	}
	if srv.Pages, err = (&web.Server{Center: srv, Incidents: srv, Reviews: srv, Reports: srv, Kept: srv, Exercises: srv, Entities: srv, Auth: access, Limiter: limiter, SecureCookies: cfg.SecureCookies,
		Feed: hub, Scope: srv, Notes: srv, Log: log.WithField("component", "pages")}).Handler(); err != nil {
		return err
	}
	handler := srv.Handler()
	if !cfg.Role.serves() {
		handler = probesOnly(srv)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	// Live page streams last until the hub closes: close it on shutdown,
	// or Shutdown would wait for them.
	hs.RegisterOnShutdown(hub.Close)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	banner(cfg, base, books, adminToken)
	if cfg.Listening != nil {
		cfg.Listening(base)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// RegisterReports registers the scheduled report workflow and its
// activities on a worker.
func RegisterReports(w worker.Registry, k *reportrun.Keeper) {
	w.RegisterWorkflow(workflows.ReportWorkflow)
	w.RegisterActivity(&reportrun.Activities{Keeper: k})
}

// ensureReportSchedules re-creates the Temporal schedule of every report
// schedule AIR keeps that Temporal lacks (a Temporal whose state was lost
// or replaced); the ones it has are left as they are. A failure is
// logged, not fatal: the reports on demand work without schedules.
func ensureReportSchedules(ctx context.Context, st *store.Store, eng *engine.Engine, log logrus.FieldLogger) {
	list, err := st.ReportSchedules(ctx)
	if err != nil {
		log.WithError(err).Warn("read report schedules")
		return
	}
	for _, s := range list {
		created, err := eng.CreateReportSchedule(ctx, s)
		switch {
		case err != nil:
			log.WithError(err).WithField("schedule", s.ID).Warn("re-create report schedule in Temporal")
		case created:
			log.WithField("schedule", s.ID).Info("report schedule was missing in Temporal: re-created")
		}
	}
}

// Register registers the incident workflow and its activities on a worker.
func Register(w worker.Registry, a *activities.Activities) {
	w.RegisterWorkflow(workflows.IncidentWorkflow)
	w.RegisterActivity(a)
}

// checkStepConnectors checks every step's connectors against the
// configuration, so that a typo in a connector's name fails the start, not
// a containment at 3 a.m. A connector kind the tenant does not configure
// is no error: the step passes over it.
func checkStepConnectors(r *connector.Router, books []*playbook.Playbook) error {
	var errs []error
	for _, pb := range books {
		for _, stage := range playbook.Stages {
			for _, st := range pb.Steps(stage) {
				if len(st.Connectors) == 0 {
					continue
				}
				if err := r.CheckConnectors(st.Action, st.Connectors); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: step %s: %w", pb.File, st.Line, st.ID, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// loadPlaybooks loads and checks every playbook before anything runs: the
// service refuses to start with an invalid one.
func loadPlaybooks(dir string) ([]*playbook.Playbook, []activities.PlaybookSource, error) {
	books, err := playbook.Load(dir)
	where := dir
	if dir == "" {
		where = "the built-in set"
	}
	if err != nil {
		return nil, nil, fmt.Errorf("playbooks in %s are invalid; fix them or point -playbooks elsewhere:\n%w", where, err)
	}
	if len(books) == 0 {
		return nil, nil, fmt.Errorf("no playbooks in %s", where)
	}
	sources := make([]activities.PlaybookSource, len(books))
	for i, b := range books {
		sources[i] = activities.PlaybookSource{File: b.File, Source: b.Source}
	}
	return books, sources, nil
}

func banner(cfg Config, base string, books []*playbook.Playbook, adminToken string) {
	names := make([]string, len(books))
	for i, b := range books {
		names[i] = fmt.Sprintf("%s v%d", b.Name, b.Version)
	}
	mode := "production"
	if cfg.Role != RoleAll {
		mode += ", role " + string(cfg.Role)
	}
	if cfg.Dev {
		mode = "dev (embedded Temporal, state in " + cfg.DataDir + ")"
	}
	fmt.Fprintf(cfg.Out, `AIR is running — %s
  API:        %s/api/v1   (health: %s/healthz)
  Temporal:   %s  namespace %s  (UI: temporal ui or docker-compose's temporal-ui)
  Database:   %s
  Playbooks:  %s
  Try:        go run ./starter ingest internal/graph/testdata/sample-alert.json
`, mode, base, base, cfg.TemporalAddress, cfg.Namespace, redact(cfg.DatabaseURL), strings.Join(names, ", ")+playbookSource(cfg.PlaybookDir))
	fmt.Fprintf(cfg.Out, "  Pages:      %s/incidents (sign in with an API token)\n", base)
	fmt.Fprintf(cfg.Out, "  Remediations: %s\n", remediationRoutes(cfg.Connectors))
	fmt.Fprintf(cfg.Out, "  Notifications: %s\n", notificationSummary(cfg.Notify))
	switch {
	case adminToken != "":
		// Shown once, on the start that created it; the file keeps it.
		fmt.Fprintf(cfg.Out, "  Admin token (new, shown once; also in %s):\n    %s\n", cfg.AdminTokenFile, adminToken)
	case cfg.AdminTokenFile != "":
		fmt.Fprintf(cfg.Out, "  Admin token: in %s (starter reads it when AIR_TOKEN is unset)\n", cfg.AdminTokenFile)
	}
}

// remediationRoutes says where remediations go, for the banner.
func remediationRoutes(c connector.Config) string {
	if len(c.Routes) == 0 {
		return "all to the simulated lab tenant (nothing real is touched; -connectors FILE routes them to vendors)"
	}
	routes := make([]string, 0, len(c.Routes))
	for _, k := range slices.Sorted(maps.Keys(c.Routes)) {
		routes = append(routes, k+" → "+c.Routes[k])
	}
	return strings.Join(routes, ", ") + "; anything else to the lab tenant"
}

// notificationSummary says where notifications go, for the banner.
func notificationSummary(c *notify.Config) string {
	if c == nil || len(c.Names) == 0 {
		return "none (-notify FILE sends mail, Slack and Teams messages; docs/notifications.md)"
	}
	return fmt.Sprintf("%d channels (%s), %d rules, from %s", len(c.Names), strings.Join(c.Names, ", "), len(c.Rules), c.File)
}

func playbookSource(dir string) string {
	if dir == "" {
		return " (built in; -playbooks DIR to use others)"
	}
	return " (from " + dir + ")"
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			if k := strings.Index(dsn[i+3:i+3+j], ":"); k >= 0 {
				return dsn[:i+3+k] + ":***" + dsn[i+3+j:]
			}
		}
	}
	return dsn
}

// questionNotifier sends the questions playbooks ask, and their reminders,
// to the channels of the notification rules that watch question.asked. A
// question for a user names them first: the channels are the SOC's, and
// an analyst records the user's answer.
type questionNotifier struct {
	svc      *notify.Service
	channels []string
}

func (q questionNotifier) Notify(ctx context.Context, m activities.Message) error {
	text := m.Body
	if m.To != "" {
		text = "For " + m.To + ": " + text
	}
	_, err := q.svc.Enqueue(ctx, notify.Message{Key: m.Key, Channels: q.channels, Subject: m.Subject, Text: text,
		IncidentID: m.IncidentID})
	return err
}
