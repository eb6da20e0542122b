package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/configenv"
	"github.com/airsoc/air/internal/connector/falcon"
	"github.com/airsoc/air/internal/connector/okta"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/labstate"
	"github.com/airsoc/air/internal/labtenant"
)

// Config is one tenant's connector configuration: which connector carries
// which action type, and how to reach each. The zero value sends every
// action type to the lab tenant.
//
// Secrets are never part of it: each credential is named by an environment
// variable (…Env) or a file (…File, e.g. a mounted Kubernetes or Docker
// secret), read when the router is built.
type Config struct {
	// Tenant names the tenant in logs.
	Tenant string `yaml:"tenant"`
	// Routes maps an action type, a family ("device.*") or "*" to a
	// connector name: "lab", "mde", "graph", "falcon", "okta", "exo" or a webhook's name. The most
	// specific route wins; action types no route covers go to the lab.
	Routes map[string]string `yaml:"routes"`
	// MDE configures the Defender for Endpoint connector, named "mde".
	MDE *MDESettings `yaml:"mde"`
	// Graph configures the Microsoft Graph connector, named "graph".
	Graph *GraphSettings `yaml:"graph"`
	// Falcon configures the CrowdStrike Falcon connector, named "falcon".
	Falcon *FalconSettings `yaml:"falcon"`
	// Okta configures the Okta connector, named "okta".
	Okta *OktaSettings `yaml:"okta"`
	// EXO configures the Exchange Online connector, named "exo".
	EXO *EXOSettings `yaml:"exo"`
	// Webhooks configures signed webhooks by name.
	Webhooks map[string]WebhookSettings `yaml:"webhooks"`
	// Lab configures the built-in lab tenant, named "lab".
	Lab LabSettings `yaml:"lab"`
}

// Credentials are Microsoft identity platform client credentials.
type Credentials struct {
	TenantID string `yaml:"tenantId"`
	ClientID string `yaml:"clientId"`
	// ClientSecretEnv names the environment variable holding the secret.
	ClientSecretEnv string `yaml:"clientSecretEnv"`
	// ClientSecretFile names a file holding the secret (trailing newline
	// ignored).
	ClientSecretFile string `yaml:"clientSecretFile"`
	// Authority is the identity platform; empty means
	// https://login.microsoftonline.com (set it for national clouds).
	Authority string `yaml:"authority"`
	// Scope overrides the API's default scope.
	Scope string `yaml:"scope"`
	// ClientSecret is refused: it is here only to say so clearly.
	ClientSecret string `yaml:"clientSecret"`
}

// MDESettings configures Defender for Endpoint.
type MDESettings struct {
	Credentials `yaml:",inline"`
	// BaseURL is the API; empty means https://api.security.microsoft.com.
	BaseURL string `yaml:"baseURL"`
	// RateLimit is calls per minute; 0 means 100, the API's limit. Give
	// each of N workers 1/N of it.
	RateLimit int `yaml:"rateLimit"`
	// HourlyLimit is calls per hour; 0 means 1500.
	HourlyLimit int `yaml:"hourlyLimit"`
	// PollInterval and PollTimeout drive the wait for a machine action;
	// 0 means 5s and 100s.
	PollInterval time.Duration `yaml:"pollInterval"`
	PollTimeout  time.Duration `yaml:"pollTimeout"`
	// Timeout bounds one HTTP exchange; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// KillProcessScript and RemovePersistenceScript name the live response
	// library scripts for process.kill and persistence.remove; empty means
	// air-kill-process.ps1 and air-remove-persistence.ps1.
	KillProcessScript       string `yaml:"killProcessScript"`
	RemovePersistenceScript string `yaml:"removePersistenceScript"`
}

// GraphSettings configures Microsoft Graph.
type GraphSettings struct {
	Credentials `yaml:",inline"`
	// BaseURL is Graph without the version; empty means https://graph.microsoft.com.
	BaseURL string `yaml:"baseURL"`
	// Timeout bounds one HTTP exchange; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// EXOSettings configures Exchange Online: an app registration with the
// Office 365 Exchange Online application permission Exchange.ManageAsApp
// (admin-consented) whose service principal holds an Exchange role that
// includes the cmdlets (Security Administrator for the tenant allow/block
// list, Exchange Administrator or the Mail Recipients role for
// Set-Mailbox).
type EXOSettings struct {
	Credentials `yaml:",inline"`
	// Organization is the tenant's initial domain, e.g.
	// contoso.onmicrosoft.com: requests are anchored on its system mailbox.
	Organization string `yaml:"organization"`
	// BaseURL is Exchange Online without the path; empty means
	// https://outlook.office365.com (set it for national clouds).
	BaseURL string `yaml:"baseURL"`
	// RateLimit is calls per minute; 0 means 60. Give each of N workers
	// 1/N of it.
	RateLimit int `yaml:"rateLimit"`
	// Timeout bounds one HTTP exchange; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// FalconSettings configures CrowdStrike Falcon: an API client (Falcon
// console, Support and resources > API clients and keys) with the Hosts
// (write) and IOC Management (write) scopes.
type FalconSettings struct {
	// Cloud is the Falcon cloud: us-1 (the default), us-2, eu-1 or
	// us-gov-1.
	Cloud string `yaml:"cloud"`
	// BaseURL overrides the cloud's API URL.
	BaseURL  string `yaml:"baseURL"`
	ClientID string `yaml:"clientId"`
	// ClientSecretEnv or ClientSecretFile holds the API client's secret.
	ClientSecretEnv  string `yaml:"clientSecretEnv"`
	ClientSecretFile string `yaml:"clientSecretFile"`
	// MemberCID acts in a child tenant (Flight Control); empty for the
	// API client's own.
	MemberCID string `yaml:"memberCid"`
	// Platforms a hash IOC applies to; empty means windows, mac and linux.
	Platforms []string `yaml:"platforms"`
	// RateLimit is calls per minute; 0 means 300. Give each of N workers
	// 1/N of it.
	RateLimit int `yaml:"rateLimit"`
	// PollInterval and PollTimeout drive the wait for a containment;
	// 0 means 5s and 100s.
	PollInterval time.Duration `yaml:"pollInterval"`
	PollTimeout  time.Duration `yaml:"pollTimeout"`
	// Timeout bounds one HTTP exchange; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// ClientSecret is refused: it is here only to say so clearly.
	ClientSecret string `yaml:"clientSecret"`
}

func (s FalconSettings) baseURL() string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	return falcon.Clouds[or(s.Cloud, "us-1")]
}

// OktaSettings configures Okta: either an API token (sent as "SSWS
// <token>", acting with the rights of the admin who created it), or,
// preferred, an API service app's OAuth 2.0 client credentials with a
// private key (private_key_jwt) granted the okta.users.manage scope.
type OktaSettings struct {
	// OrgURL is the Okta org, e.g. https://contoso.okta.com.
	OrgURL string `yaml:"orgURL"`
	// APITokenEnv or APITokenFile holds an API token.
	APITokenEnv  string `yaml:"apiTokenEnv"`
	APITokenFile string `yaml:"apiTokenFile"`
	// ClientID is the API service app's client id (OAuth 2.0).
	ClientID string `yaml:"clientId"`
	// PrivateKeyEnv or PrivateKeyFile holds the app's PEM private key
	// (RSA or EC P-256); KeyID is its kid in the app's public keys.
	PrivateKeyEnv  string `yaml:"privateKeyEnv"`
	PrivateKeyFile string `yaml:"privateKeyFile"`
	KeyID          string `yaml:"keyId"`
	// Scope overrides okta.users.manage.
	Scope string `yaml:"scope"`
	// RateLimit is calls per minute; 0 means 300.
	RateLimit int `yaml:"rateLimit"`
	// Timeout bounds one HTTP exchange; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// APIToken is refused: it is here only to say so clearly.
	APIToken string `yaml:"apiToken"`
}

// WebhookSettings configures one signed webhook.
type WebhookSettings struct {
	// URL receives the deliveries; https, except on a loopback address.
	URL string `yaml:"url"`
	// SecretEnv or SecretFile holds the HMAC signing secret.
	SecretEnv  string `yaml:"secretEnv"`
	SecretFile string `yaml:"secretFile"`
	// Attempts, Backoff and MaxBackoff drive in-process retries; 0 means
	// 3, 1s and 30s.
	Attempts   int           `yaml:"attempts"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Timeout bounds one delivery; 0 means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Secret is refused: it is here only to say so clearly.
	Secret string `yaml:"secret"`
}

// LabSettings configures the lab tenant.
type LabSettings struct {
	// Strict makes unknown targets "not found" instead of enrolling them.
	Strict bool `yaml:"strict"`
	// Faults make the lab answer like a vendor having a bad day.
	Faults []labtenant.Fault `yaml:"faults"`
	// SeedFile is a YAML or JSON file of devices, users, mailboxes,
	// messages and OAuth apps (labstate.Seed) loaded at start.
	SeedFile string `yaml:"seedFile"`
	// Enrich makes the lab tenant answer enrichment look-ups (made-up file
	// and IP statistics, logged-on users, related alerts, user risk and
	// sign-ins) for the entity kinds no configured vendor connector
	// enriches. Without it the lab enriches only when no vendor connector
	// is configured at all (worker -dev, -connectors lab).
	Enrich bool `yaml:"enrich"`
}

// Connector names that are not webhooks.
const (
	NameLab   = "lab"
	NameMDE   = "mde"
	NameGraph = "graph"
	// NameFalcon and NameOkta are the CrowdStrike Falcon and Okta
	// connectors.
	NameFalcon = "falcon"
	NameOkta   = "okta"
	// NameEXO is the Exchange Online connector.
	NameEXO = "exo"
	// NameAIR carries out the actions AIR takes on itself (case actions);
	// routes cannot send other types to it, nor its types elsewhere.
	NameAIR = "air"
)

// LoadFile reads a YAML or JSON configuration file. Unknown keys are errors.
func LoadFile(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("connectors: %w", err)
	}
	if err := decodeStrict(data, &c); err != nil {
		return c, fmt.Errorf("connectors file %s: %w", path, err)
	}
	return c, nil
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return err
	}
	return nil
}

// Env is how configuration reads the environment and files; the zero value
// reads the process's.
type Env = configenv.Env

// problems collects configuration errors, each naming its setting.
type problems []error

func (p *problems) add(setting, format string, args ...any) {
	*p = append(*p, fmt.Errorf("connectors.%s: %s", setting, fmt.Sprintf(format, args...)))
}

func (p problems) err() error { return errors.Join(p...) }

var webhookName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Validate checks the configuration as NewRouter will use it, secrets
// included, and returns every problem found, each naming its setting.
func (c Config) Validate(env Env) error {
	_, err := c.resolve(env)
	return err
}

// resolved is a valid configuration with its secrets read and its routes
// resolved per action type.
type resolved struct {
	mdeSecret, graphSecret rest.Secret
	exoSecret              rest.Secret
	falconSecret           rest.Secret
	okta                   rest.TokenSource // an SSWS token or private_key_jwt client credentials
	webhookSecrets         map[string]rest.Secret
	routes                 map[string]resolvedRoute // action type → route
	seed                   *labstate.Seed
}

type resolvedRoute struct {
	connector string // the connector's name
	by        string // the route that chose it ("*" when none did)
}

func (c Config) resolve(env Env) (*resolved, error) {
	var p problems
	r := &resolved{webhookSecrets: map[string]rest.Secret{}, routes: map[string]resolvedRoute{}}

	kinds := map[string]string{NameLab: actions.Lab, NameAIR: actions.AIR} // connector name → connector kind
	if c.MDE != nil {
		kinds[NameMDE] = actions.MDE
		r.mdeSecret = c.MDE.Credentials.check(&p, "mde", env)
		checkURL(&p, "mde.baseURL", c.MDE.BaseURL, false)
		if c.MDE.RateLimit < 0 || c.MDE.HourlyLimit < 0 {
			p.add("mde.rateLimit", "want a positive number of calls, got %d per minute and %d per hour", c.MDE.RateLimit, c.MDE.HourlyLimit)
		}
		if c.MDE.PollInterval < 0 || c.MDE.PollTimeout < 0 || c.MDE.Timeout < 0 {
			p.add("mde.pollInterval", "durations must not be negative")
		}
		if c.MDE.PollTimeout > 0 && c.MDE.PollInterval >= c.MDE.PollTimeout {
			p.add("mde.pollInterval", "%s must be shorter than pollTimeout %s", c.MDE.PollInterval, c.MDE.PollTimeout)
		}
	}
	if c.Graph != nil {
		kinds[NameGraph] = actions.Graph
		r.graphSecret = c.Graph.Credentials.check(&p, "graph", env)
		checkURL(&p, "graph.baseURL", c.Graph.BaseURL, false)
	}
	if c.Falcon != nil {
		kinds[NameFalcon] = actions.Falcon
		r.falconSecret = c.Falcon.check(&p, env)
	}
	if c.Okta != nil {
		kinds[NameOkta] = actions.Okta
		r.okta = c.Okta.check(&p, env)
	}
	if c.EXO != nil {
		kinds[NameEXO] = actions.EXO
		r.exoSecret = c.EXO.check(&p, env)
	}
	for _, name := range sortedKeys(c.Webhooks) {
		w := c.Webhooks[name]
		at := fmt.Sprintf("webhooks[%q]", name)
		if _, taken := kinds[name]; taken || name == NameMDE || name == NameGraph || name == NameAIR || name == NameFalcon || name == NameOkta || name == NameEXO {
			p.add(at, "%q is a built-in connector's name; name the webhook otherwise", name)
			continue
		}
		if !webhookName.MatchString(name) {
			p.add(at, "a webhook name is lower-case letters, digits, '-' and '_'")
		}
		kinds[name] = actions.Webhook
		if w.URL == "" {
			p.add(at+".url", "required")
		} else {
			checkURL(&p, at+".url", w.URL, true)
		}
		if w.Secret != "" {
			p.add(at+".secret", "secrets are not read from the configuration; use secretEnv or secretFile")
		}
		if w.Attempts < 0 || w.Backoff < 0 || w.MaxBackoff < 0 || w.Timeout < 0 {
			p.add(at+".attempts", "attempts and durations must not be negative")
		}
		r.webhookSecrets[name] = secret(&p, at, "secretEnv", "secretFile", w.SecretEnv, w.SecretFile, env)
	}
	for i, f := range c.Lab.Faults {
		at := fmt.Sprintf("lab.faults[%d]", i)
		if !validPattern(f.Type) && !labtenant.IsEnrichFault(f.Type) {
			p.add(at+".type", "unknown action type %q, want a remediation action type, a family such as device.* or *, or enrich.* or enrich.<file|ip|device|user> for enrichment", f.Type)
		}
		if !slices.Contains(labtenant.Answers, f.Answer) {
			p.add(at+".answer", "unknown answer %q, want one of %s", f.Answer, strings.Join(labtenant.Answers, ", "))
		}
		if f.Times < 0 || f.RetryAfter < 0 {
			p.add(at+".times", "times and retryAfter must not be negative")
		}
	}
	if c.Lab.SeedFile != "" {
		data, err := env.File(c.Lab.SeedFile)
		if err != nil {
			p.add("lab.seedFile", "%v", err)
		} else if seed, err := decodeSeed(data); err != nil {
			p.add("lab.seedFile", "%s: %v", c.Lab.SeedFile, err)
		} else {
			r.seed = seed
		}
	}

	names := slices.DeleteFunc(sortedKeys(kinds), func(n string) bool { return n == NameAIR }) // routable connectors
	for _, pattern := range sortedKeys(c.Routes) {
		name := c.Routes[pattern]
		at := fmt.Sprintf("routes[%q]", pattern)
		if !validPattern(pattern) {
			p.add(at, "unknown action type, want a remediation action type, a family such as device.* or *")
			continue
		}
		if name == NameAIR {
			p.add(at, "air carries out only the actions on AIR's own incident, which need no route")
			continue
		}
		if _, ok := kinds[name]; !ok {
			switch name {
			case NameMDE, NameGraph, NameFalcon, NameOkta, NameEXO:
				p.add(at, "connector %q is not configured: add a connectors.%s section", name, name)
			default:
				p.add(at, "unknown connector %q, want one of %s", name, strings.Join(names, ", "))
			}
		}
	}
	for _, s := range actions.All() {
		if !s.Remediation {
			continue
		}
		if s.CaseAction() { // AIR's own incident: never routed elsewhere
			r.routes[s.Type] = resolvedRoute{connector: NameAIR}
			continue
		}
		rt := route(c.Routes, s.Type)
		r.routes[s.Type] = rt
		kind, ok := kinds[rt.connector]
		if !ok {
			continue // reported above
		}
		if !s.CarriedBy(kind) {
			at := fmt.Sprintf("routes[%q]", rt.by)
			if rt.by == "" {
				at = "routes"
			}
			p.add(at, "%s (%s) cannot carry out %s, which only %s can; route %s to one of them",
				rt.connector, kind, s.Type, strings.Join(s.Connectors, ", "), s.Type)
		}
	}
	if len(p) > 0 {
		return nil, p.err()
	}
	return r, nil
}

// route picks the most specific route for an action type: the type itself,
// then its family ("device.*"), then "*", then the lab.
func route(routes map[string]string, actionType string) resolvedRoute {
	family, _, _ := strings.Cut(actionType, ".")
	for _, k := range []string{actionType, family + ".*", "*"} {
		if name, ok := routes[k]; ok {
			return resolvedRoute{connector: name, by: k}
		}
	}
	return resolvedRoute{connector: NameLab}
}

// validPattern reports whether a route or fault key names remediation
// action types: one, a family with at least one, or all.
func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	for _, s := range actions.All() {
		if s.Remediation && !s.CaseAction() && labtenant.Matches(p, s.Type) {
			return true
		}
	}
	return false
}

func (cr Credentials) check(p *problems, at string, env Env) rest.Secret {
	if cr.TenantID == "" {
		p.add(at+".tenantId", "required (the Entra ID tenant id or domain)")
	}
	if cr.ClientID == "" {
		p.add(at+".clientId", "required (the app registration's application id)")
	}
	if cr.ClientSecret != "" {
		p.add(at+".clientSecret", "secrets are not read from the configuration; use clientSecretEnv or clientSecretFile")
	}
	if cr.Authority != "" {
		checkURL(p, at+".authority", cr.Authority, false)
	}
	return secret(p, at, "clientSecretEnv", "clientSecretFile", cr.ClientSecretEnv, cr.ClientSecretFile, env)
}

func (s EXOSettings) check(p *problems, env Env) rest.Secret {
	sec := s.Credentials.check(p, "exo", env)
	switch {
	case s.Organization == "":
		p.add("exo.organization", "required (the tenant's initial domain, e.g. contoso.onmicrosoft.com)")
	case strings.ContainsAny(s.Organization, "/@ :") || !strings.Contains(s.Organization, "."):
		p.add("exo.organization", "want a domain such as contoso.onmicrosoft.com, got %q", s.Organization)
	}
	checkURL(p, "exo.baseURL", s.BaseURL, false)
	if s.RateLimit < 0 || s.Timeout < 0 {
		p.add("exo.rateLimit", "the rate limit and timeout must not be negative")
	}
	return sec
}

func (s FalconSettings) check(p *problems, env Env) rest.Secret {
	if s.Cloud != "" && falcon.Clouds[s.Cloud] == "" {
		p.add("falcon.cloud", "unknown cloud %q, want one of %s (or set baseURL)", s.Cloud, strings.Join(sortedKeys(falcon.Clouds), ", "))
	}
	checkURL(p, "falcon.baseURL", s.BaseURL, false)
	if s.ClientID == "" {
		p.add("falcon.clientId", "required (the Falcon API client's id)")
	}
	if s.ClientSecret != "" {
		p.add("falcon.clientSecret", "secrets are not read from the configuration; use clientSecretEnv or clientSecretFile")
	}
	for i, pl := range s.Platforms {
		if !slices.Contains(falcon.DefaultPlatforms, pl) {
			p.add(fmt.Sprintf("falcon.platforms[%d]", i), "unknown platform %q, want windows, mac or linux", pl)
		}
	}
	if s.RateLimit < 0 {
		p.add("falcon.rateLimit", "want a positive number of calls per minute, got %d", s.RateLimit)
	}
	if s.PollInterval < 0 || s.PollTimeout < 0 || s.Timeout < 0 {
		p.add("falcon.pollInterval", "durations must not be negative")
	}
	if s.PollTimeout > 0 && s.PollInterval >= s.PollTimeout {
		p.add("falcon.pollInterval", "%s must be shorter than pollTimeout %s", s.PollInterval, s.PollTimeout)
	}
	return secret(p, "falcon", "clientSecretEnv", "clientSecretFile", s.ClientSecretEnv, s.ClientSecretFile, env)
}

// check validates the Okta settings and builds the token source: an SSWS
// API token, or OAuth 2.0 client credentials signed with the private key.
func (s OktaSettings) check(p *problems, env Env) rest.TokenSource {
	if s.OrgURL == "" {
		p.add("okta.orgURL", "required (the Okta org, e.g. https://contoso.okta.com)")
	} else {
		checkURL(p, "okta.orgURL", s.OrgURL, true)
	}
	if s.APIToken != "" {
		p.add("okta.apiToken", "secrets are not read from the configuration; use apiTokenEnv or apiTokenFile")
	}
	if s.RateLimit < 0 || s.Timeout < 0 {
		p.add("okta.rateLimit", "the rate limit and timeout must not be negative")
	}
	token := s.APITokenEnv != "" || s.APITokenFile != ""
	switch {
	case token && s.ClientID != "":
		p.add("okta.apiTokenEnv", "give an API token or an OAuth 2.0 service app (clientId and a private key), not both")
		return nil
	case s.ClientID == "" && (s.PrivateKeyEnv != "" || s.PrivateKeyFile != ""):
		p.add("okta.clientId", "required with a private key (the API service app's client id)")
		return nil
	case s.ClientID == "":
		sec := secret(p, "okta", "apiTokenEnv", "apiTokenFile", s.APITokenEnv, s.APITokenFile, env)
		return &rest.StaticToken{Scheme: "SSWS", Value: sec}
	}
	key := secret(p, "okta", "privateKeyEnv", "privateKeyFile", s.PrivateKeyEnv, s.PrivateKeyFile, env)
	if key.IsZero() {
		return nil
	}
	pemKey := key.Reveal()
	if !strings.Contains(pemKey, "\n") {
		pemKey = strings.ReplaceAll(pemKey, `\n`, "\n") // a key in one environment variable line
	}
	sign, err := rest.PrivateKeyJWT(s.ClientID, s.KeyID, []byte(pemKey), nil)
	if err != nil {
		at := "okta.privateKeyEnv"
		if s.PrivateKeyFile != "" {
			at = "okta.privateKeyFile"
		}
		p.add(at, "%v", err)
		return nil
	}
	return &rest.ClientCredentials{TokenURL: okta.TokenURL(s.OrgURL), ClientID: s.ClientID, Scope: or(s.Scope, okta.Scope), Assertion: sign}
}

// secret reads a credential from exactly one of an environment variable and
// a file. Errors name the setting and the variable or file, never a value.
func secret(p *problems, at, envKey, fileKey, envName, file string, env Env) rest.Secret {
	switch {
	case envName != "" && file != "":
		p.add(at+"."+envKey, "give %s or %s, not both", envKey, fileKey)
	case envName != "":
		v := env.Var(envName)
		if v == "" {
			p.add(at+"."+envKey, "environment variable %s is not set or empty", envName)
		}
		return rest.NewSecret(v)
	case file != "":
		b, err := env.File(file)
		if err != nil {
			p.add(at+"."+fileKey, "%v", err)
			return rest.Secret{}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			p.add(at+"."+fileKey, "%s is empty", file)
		}
		return rest.NewSecret(v)
	default:
		p.add(at+"."+envKey, "required: name the environment variable (%s) or the file (%s) holding the secret", envKey, fileKey)
	}
	return rest.Secret{}
}

// checkURL checks an absolute http(s) URL; https is required for webhooks
// except on loopback addresses (a receiver on the same host, a test).
func checkURL(p *problems, at, raw string, httpsUnlessLoopback bool) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(at, "want an absolute http or https URL, got %q", raw)
		return
	}
	if u.User != nil {
		p.add(at, "credentials in the URL are not allowed; use the secret settings")
	}
	if httpsUnlessLoopback && u.Scheme != "https" && !loopback(u.Hostname()) {
		p.add(at, "want https (plain http only to a loopback address), got %q", u.Scheme+"://"+u.Host)
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeSeed reads lab seed data from YAML or JSON with the JSON field
// names of labstate.Seed, refusing unknown fields.
func decodeSeed(data []byte) (*labstate.Seed, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var seed labstate.Seed
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return nil, err
	}
	return &seed, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
