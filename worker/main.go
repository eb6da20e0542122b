// Command worker is AIR's long-running service: it runs incident workflows
// and their activities on Temporal and serves the HTTP API.
//
//	go run ./worker -dev     # everything embedded, state in ./.air
//	worker -temporal host:7233 -db postgres://…   # production
//
// Every flag has an AIR_* environment variable; the flag wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/airsoc/air/internal/app"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/sources"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "probe" {
		return probe(os.Getenv("AIR_HTTP_ADDR"))
	}
	if len(args) > 1 && args[0] == "bench" && args[1] == "e2e" {
		return benchE2E(args[2:])
	}
	if len(args) > 1 && args[0] == "bench" && args[1] == "flood" {
		return benchFlood(args[2:])
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var secretErrs []error
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: worker [flags]

Runs AIR: the incident workflows, their activities and the HTTP API.
With -dev everything is embedded (Temporal in-process, SQLite under ./.air).
"worker probe" checks a running worker's /healthz on AIR_HTTP_ADDR (for
container health checks) and exits 0 when it answers 200; "worker bench e2e"
measures the whole engine on an embedded Temporal (worker bench e2e -h);
"worker bench flood" measures a worker's memory under an alert flood
(worker bench flood -h).

Flags (each also read from the environment variable shown, or from the
file named by that variable with _FILE appended, e.g. AIR_DATABASE_URL_FILE
for a mounted secret):
`)
		fs.PrintDefaults()
	}
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		if f := os.Getenv(name + "_FILE"); f != "" { // a mounted secret
			if b, err := os.ReadFile(f); err == nil {
				return strings.TrimSpace(string(b))
			}
			secretErrs = append(secretErrs, fmt.Errorf("%s_FILE: cannot read %s", name, f))
		}
		return def
	}
	var cfg app.Config
	var logCfg logging.Config
	var startTimeout string
	var level, expiry, window, connectors, sourcesFile, notifyFile string
	fs.BoolVar(&cfg.Dev, "dev", env("AIR_DEV", "") == "true", "embedded mode: in-process Temporal and SQLite under -data (AIR_DEV=true)")
	fs.StringVar(&cfg.DataDir, "data", env("AIR_DATA_DIR", ".air"), "directory for dev-mode state (AIR_DATA_DIR)")
	fs.StringVar(&cfg.HTTPAddr, "http", env("AIR_HTTP_ADDR", "127.0.0.1:8080"), "address the API listens on (AIR_HTTP_ADDR)")
	fs.StringVar(&cfg.TemporalAddress, "temporal", env("AIR_TEMPORAL_ADDRESS", ""), "Temporal frontend host:port, without -dev (AIR_TEMPORAL_ADDRESS)")
	fs.StringVar(&cfg.Namespace, "namespace", env("AIR_TEMPORAL_NAMESPACE", "default"), "Temporal namespace (AIR_TEMPORAL_NAMESPACE)")
	fs.StringVar(&cfg.DatabaseURL, "db", env("AIR_DATABASE_URL", ""), "postgres://… or a SQLite file path; -dev defaults to <data>/air.db (AIR_DATABASE_URL)")
	fs.StringVar(&cfg.PlaybookDir, "playbooks", env("AIR_PLAYBOOKS", ""), "directory of playbooks; empty: the shipped set built into this binary (AIR_PLAYBOOKS)")
	fs.StringVar(&level, "automation", env("AIR_AUTOMATION_LEVEL", string(policy.SemiAll)), "tenant automation level: full, semi-all, semi-core, semi-nontemp, none (AIR_AUTOMATION_LEVEL)")
	fs.StringVar(&expiry, "approval-expiry", env("AIR_APPROVAL_EXPIRY", "168h"), "how long a pending action waits before it expires (AIR_APPROVAL_EXPIRY)")
	var kinds, stopList string
	fs.StringVar(&kinds, "correlation-kinds", env("AIR_CORRELATION_KINDS", ""), "entity kinds that link alerts, comma-separated (device,user,mailbox,file,ip,url,…); empty: the default kinds (AIR_CORRELATION_KINDS)")
	fs.StringVar(&stopList, "correlation-stoplist", env("AIR_CORRELATION_STOPLIST", ""), "entity keys that never link, comma-separated, e.g. ip:10.0.0.53,device:dc01,mailbox:* (AIR_CORRELATION_STOPLIST)")
	fs.IntVar(&cfg.Correlation.CommonAfter, "correlation-common-after", envInt("AIR_CORRELATION_COMMON_AFTER", 0), "a key seen in more open incidents than this stops linking; 0: 25, negative: never (AIR_CORRELATION_COMMON_AFTER)")
	fs.IntVar(&cfg.Correlation.MaxAlerts, "correlation-max-alerts", envInt("AIR_CORRELATION_MAX_ALERTS", 0), "alerts an incident takes before new ones open another; 0: the default cap (AIR_CORRELATION_MAX_ALERTS)")
	fs.StringVar(&window, "correlation-window", env("AIR_CORRELATION_WINDOW", "24h"), "how far apart related alerts may be to share an incident (AIR_CORRELATION_WINDOW)")
	var linkGap, burst, stormGap, pivot string
	fs.StringVar(&linkGap, "correlation-link-gap", env("AIR_CORRELATION_LINK_GAP", "1h"), "how close in time an alert must be to an incident's sighting of a shared entity, unless it advances the kill chain; set it to the window for plain window correlation (AIR_CORRELATION_LINK_GAP)")
	fs.StringVar(&burst, "correlation-burst", env("AIR_CORRELATION_BURST", "1m"), "the same detection rule firing on different entities this close together is one campaign; off disables (AIR_CORRELATION_BURST)")
	fs.StringVar(&stormGap, "correlation-storm-gap", env("AIR_CORRELATION_STORM_GAP", "40m"), "a lone alert joins an attack under way with notable activity this recent; off disables (AIR_CORRELATION_STORM_GAP)")
	fs.StringVar(&pivot, "correlation-pivot", env("AIR_CORRELATION_PIVOT", "24h"), "a destination of an incident that becomes the source of an alert on another host this soon after, not earlier in the kill chain, links them (a pivot); off disables (AIR_CORRELATION_PIVOT)")
	fs.IntVar(&cfg.Correlation.RoutineBuckets, "correlation-routine-buckets", envInt("AIR_CORRELATION_ROUTINE_BUCKETS", 0), "a detector firing on an entity in this many distinct 10-minute buckets within 24 h is routine noise; 0: 3, negative: no routine detection (AIR_CORRELATION_ROUTINE_BUCKETS)")
	fs.StringVar(&sourcesFile, "sources", env("AIR_SOURCES", ""), "YAML or JSON file of the providers AIR pulls alerts from (Graph, Sentinel, Defender, CrowdStrike, Okta, simulated) and webhook sources; see docs/sources.md (AIR_SOURCES)")
	fs.StringVar(&connectors, "connectors", env("AIR_CONNECTORS", ""), "YAML or JSON file routing remediations to Defender for Endpoint, Graph, webhooks or the lab tenant, or \"lab\" to send all to the simulated lab tenant; required without -dev, where unset means the lab (AIR_CONNECTORS)")
	fs.StringVar(&notifyFile, "notify", env("AIR_NOTIFY", ""), "YAML file of notification channels (SMTP, Slack, Teams) and the rules that send to them; see docs/notifications.md (AIR_NOTIFY)")
	fs.StringVar(&cfg.AdminTokenFile, "admin-token-file", env("AIR_ADMIN_TOKEN_FILE", ""), "keep a working admin token in this file (mode 0600), made on first start; -dev defaults to <data>/admin-token (AIR_ADMIN_TOKEN_FILE)")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", env("AIR_SECURE_COOKIES", "") == "true", "mark the pages' session cookies Secure, behind a TLS proxy (AIR_SECURE_COOKIES=true)")
	fs.StringVar(&cfg.Chromium, "chromium", env("AIR_CHROMIUM", ""), "the Chromium that prints kept reports to PDF (AIR_CHROMIUM); empty: chromium on PATH, else no PDF")
	fs.Float64Var(&cfg.RateLimit.PerSecond, "rate-limit", envFloat("AIR_RATE_LIMIT", 20), "API requests per second per token (bursts of 100), counted in the database for every API process; negative turns limiting off (AIR_RATE_LIMIT)")
	fs.IntVar(&cfg.PlanMaxAlerts, "plan-max-alerts", envInt("AIR_PLAN_MAX_ALERTS", 0), "inline alerts one plan request may hold; 0: 500 (AIR_PLAN_MAX_ALERTS)")
	fs.IntVar(&cfg.PlanConcurrency, "plan-concurrency", envInt("AIR_PLAN_CONCURRENCY", 0), "plan evaluations this process runs at once; 0: 2 (AIR_PLAN_CONCURRENCY)")
	fs.StringVar(&cfg.MessageKeyFile, "message-key-file", env("AIR_MESSAGE_KEY_FILE", ""), "file of the key (hex, 32 bytes or more; extra lines verify only, for rotation) every AIR process shares to sign decisions sent to incident workflows; required without -dev, -dev makes <data>/message-key (AIR_MESSAGE_KEY_FILE)")
	fs.StringVar(&cfg.TemporalTLS.CAFile, "temporal-tls-ca", env("AIR_TEMPORAL_TLS_CA", ""), "PEM CA certificates that sign the Temporal frontend's certificate; empty: system roots (AIR_TEMPORAL_TLS_CA)")
	fs.StringVar(&cfg.TemporalTLS.CertFile, "temporal-tls-cert", env("AIR_TEMPORAL_TLS_CERT", ""), "PEM client certificate for mTLS to Temporal (AIR_TEMPORAL_TLS_CERT)")
	fs.StringVar(&cfg.TemporalTLS.KeyFile, "temporal-tls-key", env("AIR_TEMPORAL_TLS_KEY", ""), "PEM private key of -temporal-tls-cert (AIR_TEMPORAL_TLS_KEY)")
	fs.StringVar(&cfg.TemporalTLS.ServerName, "temporal-tls-server-name", env("AIR_TEMPORAL_TLS_SERVER_NAME", ""), "name to check in the frontend's certificate, when it differs from the -temporal host (AIR_TEMPORAL_TLS_SERVER_NAME)")
	fs.StringVar(&cfg.TemporalTLS.APIKeyFile, "temporal-api-key-file", env("AIR_TEMPORAL_API_KEY_FILE", ""), "file holding an API key for Temporal (Temporal Cloud or a frontend with an authorizer); implies TLS (AIR_TEMPORAL_API_KEY_FILE)")
	fs.BoolVar(&cfg.TemporalTLS.Insecure, "insecure-temporal", env("AIR_INSECURE_TEMPORAL", "") == "true", "allow a Temporal frontend off loopback without mTLS or an API key; anyone who reaches it can forge workflow messages (AIR_INSECURE_TEMPORAL=true)")
	fs.StringVar(&cfg.TemporalCompression, "temporal-compression", env("AIR_TEMPORAL_COMPRESSION", "none"), "gRPC compression of the calls to Temporal: none, or gzip for a frontend across a slow or metered link; gzip costs CPU on both sides (docs/deployment.md) (AIR_TEMPORAL_COMPRESSION)")
	var role string
	fs.StringVar(&role, "role", env("AIR_ROLE", "all"), "what this process does: all, api (serve the API and pages; start and signal workflows) or worker (run workflows and activities; only /healthz and /readyz on -http) (AIR_ROLE)")
	fs.IntVar(&cfg.WorkflowCache, "workflow-cache", envInt("AIR_WORKFLOW_CACHE", 0), "investigations kept in memory between their tasks; 0: Temporal's default, 10000; lower it under a container memory limit (docs/performance.md) (AIR_WORKFLOW_CACHE)")
	fs.IntVar(&cfg.TemporalPort, "dev-temporal-port", envInt("AIR_DEV_TEMPORAL_PORT", 0), "-dev only: the embedded Temporal frontend's port; 0: 7233 (AIR_DEV_TEMPORAL_PORT)")
	fs.StringVar(&startTimeout, "start-timeout", env("AIR_START_TIMEOUT", "2m"), "how long start-up waits for the database and Temporal, retrying with backoff (AIR_START_TIMEOUT)")
	var temporalTimeout string
	fs.StringVar(&temporalTimeout, "temporal-timeout", env("AIR_TEMPORAL_TIMEOUT", "15s"), "how long an API request waits for Temporal (a decision, an investigation's start or signal) before answering 503 (AIR_TEMPORAL_TIMEOUT)")
	fs.BoolVar(&cfg.CreateNamespace, "create-namespace", env("AIR_CREATE_NAMESPACE", "") == "true", "register the Temporal namespace when it is missing, 30 days of retention (AIR_CREATE_NAMESPACE=true)")
	fs.StringVar(&logCfg.Format, "log-format", env("AIR_LOG_FORMAT", "text"), "log format: text or json (AIR_LOG_FORMAT)")
	fs.StringVar(&logCfg.Level, "log-level", env("AIR_LOG_LEVEL", "info"), "log level: debug, info, warn, error (AIR_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if err := errors.Join(secretErrs...); err != nil {
		return err
	}
	cfg.Role = app.Role(strings.TrimSpace(role))
	log, err := logging.New(os.Stderr, logCfg)
	if err != nil {
		return err
	}
	cfg.Log = log
	if cfg.Automation.Default, err = policy.ParseLevel("automation", strings.TrimSpace(level)); err != nil {
		return err
	}
	if cfg.StartTimeout, err = parseDuration("start-timeout", startTimeout); err != nil {
		return err
	}
	if cfg.TemporalTimeout, err = parseDuration("temporal-timeout", temporalTimeout); err != nil {
		return err
	}
	if cfg.ApprovalExpiry, err = parseDuration("approval-expiry", expiry); err != nil {
		return err
	}
	if cfg.Correlation.Window, err = parseDuration("correlation-window", window); err != nil {
		return err
	}
	if cfg.Correlation.LinkGap, err = parseDuration("correlation-link-gap", linkGap); err != nil {
		return err
	}
	if cfg.Correlation.Burst, err = parseSwitch("correlation-burst", burst); err != nil {
		return err
	}
	if cfg.Correlation.StormGap, err = parseSwitch("correlation-storm-gap", stormGap); err != nil {
		return err
	}
	if cfg.Correlation.Pivot, err = parseSwitch("correlation-pivot", pivot); err != nil {
		return err
	}
	known := []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindMailbox, domain.KindFile, domain.KindProcess,
		domain.KindIP, domain.KindURL, domain.KindMessage, entity.KindRegistryKey, entity.KindRegistryValue, entity.KindCloudApp, entity.KindOAuthApp}
	for _, k := range splitComma(kinds) {
		kind, err := domain.ParseEnum("correlation-kinds", k, known, false)
		if err != nil {
			return err
		}
		cfg.Correlation.Kinds = append(cfg.Correlation.Kinds, kind)
	}
	cfg.Correlation.StopList = splitComma(stopList)
	if err := cfg.Correlation.Validate(); err != nil {
		return err
	}
	switch connectors {
	case "":
	case "lab":
		cfg.ConnectorsChosen = true
	default:
		if cfg.Connectors, err = connector.LoadFile(connectors); err != nil {
			return err
		}
		cfg.ConnectorsChosen = true
	}
	if sourcesFile != "" {
		if cfg.Sources, err = sources.LoadConfig(sourcesFile); err != nil {
			return err
		}
	}
	if notifyFile != "" {
		if cfg.Notify, err = notify.LoadFile(notifyFile, notify.Env{}); err != nil {
			return fmt.Errorf("notifications are misconfigured:\n%w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, cfg)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func splitComma(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

// parseSwitch reads a duration that may be turned off: "off" becomes the
// negative value the correlation rules take for disabled.
func parseSwitch(name, v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "off" {
		return -1, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a positive duration such as 1m or 40m, or off, got %q", name, v)
	}
	return d, nil
}

func parseDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a positive duration such as 24h or 30m, got %q", name, v)
	}
	return d, nil
}

// probe asks a running worker's /healthz on addr (host:port; an unspecified
// host means this machine) and fails unless it answers 200.
func probe(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("probe: AIR_HTTP_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /healthz answered %s", resp.Status)
	}
	return nil
}
