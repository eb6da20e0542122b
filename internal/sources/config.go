package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Source types.
const (
	TypeGraph       = "graph"       // Microsoft Graph security alerts_v2
	TypeSentinel    = "sentinel"    // Sentinel SecurityAlert rows via the Log Analytics query API
	TypeMDE         = "mde"         // Defender for Endpoint alerts API
	TypeCrowdStrike = "crowdstrike" // Falcon alerts API
	TypeOkta        = "okta"        // Okta System Log
	TypeSimulated   = "simulated"   // the lab: generated or replayed alerts
	TypeWebhook     = "webhook"     // pushed to AIR, signed with HMAC
)

var types = []string{TypeGraph, TypeSentinel, TypeMDE, TypeCrowdStrike, TypeOkta, TypeSimulated, TypeWebhook}

// Config is the sources file: every provider AIR pulls alerts from (or
// receives them from, for webhooks). Secrets are never in it: each is named
// by an environment variable (…Env) or a file (…File).
type Config struct {
	Sources []Settings `yaml:"sources"`
}

// Settings configures one source.
type Settings struct {
	// Name identifies the source in AIR (the workflow source-<name>, the
	// sources page, /metrics); letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Interval is the time between sweeps; 0 means 1m (simulated: 30s).
	Interval time.Duration `yaml:"interval"`
	// Overlap is how far before the checkpoint each sweep reads again, for
	// updates the provider publishes late; 0 means 5m.
	Overlap time.Duration `yaml:"overlap"`
	// Backfill is how far back the very first sweep reads; 0 means 24h.
	Backfill time.Duration `yaml:"backfill"`
	// PageSize asks the vendor for pages of this many items; 0 means the
	// vendor's sensible default.
	PageSize int `yaml:"pageSize"`
	// RatePerMinute bounds this source's calls; 0 means the vendor's
	// documented limit.
	RatePerMinute int `yaml:"ratePerMinute"`
	// WriteBack sends AIR's changes to the source's alerts back to it
	// (status, classification, determination, assignment, comments) where
	// its API allows; off by default.
	WriteBack bool `yaml:"writeBack"`

	// BaseURL overrides the vendor's API root (national clouds, tests).
	BaseURL string `yaml:"baseURL"`
	// TokenURL overrides the OAuth2 token endpoint.
	TokenURL string `yaml:"tokenURL"`
	// TenantID, ClientID and the client secret are the OAuth2 client
	// credentials (Microsoft identity platform, CrowdStrike API client).
	TenantID         string `yaml:"tenantId"`
	ClientID         string `yaml:"clientId"`
	ClientSecretEnv  string `yaml:"clientSecretEnv"`
	ClientSecretFile string `yaml:"clientSecretFile"`
	// APITokenEnv / APITokenFile hold an API token (Okta "SSWS").
	APITokenEnv  string `yaml:"apiTokenEnv"`
	APITokenFile string `yaml:"apiTokenFile"`
	// WorkspaceID is the Log Analytics workspace (Sentinel).
	WorkspaceID string `yaml:"workspaceId"`
	// SubscriptionID, ResourceGroup and WorkspaceName name the Sentinel
	// workspace in Azure Resource Manager, where write-back changes its
	// incidents; ManagementURL overrides https://management.azure.com.
	SubscriptionID string `yaml:"subscriptionId"`
	ResourceGroup  string `yaml:"resourceGroup"`
	WorkspaceName  string `yaml:"workspaceName"`
	ManagementURL  string `yaml:"managementURL"`
	// Query adds a KQL filter to the Sentinel query (appended with "| where").
	Query string `yaml:"query"`
	// EventTypes are the Okta System Log event types taken as alerts; empty
	// means the security-relevant default list.
	EventTypes []string `yaml:"eventTypes"`

	// File is a file of alerts the simulated source replays (any format
	// POST /api/v1/alerts takes); empty generates alerts.
	File string `yaml:"file"`
	// Speed replays File this many times faster than its alerts' own
	// pacing; 0 means as fast as the interval allows.
	Speed float64 `yaml:"speed"`
	// PerPoll is how many alerts the simulated source raises (or replays)
	// per poll; 0 means 1 (generated) or 500 (replay).
	PerPoll int `yaml:"perPoll"`

	// SecretEnv / SecretFile hold a webhook source's HMAC key.
	SecretEnv  string `yaml:"secretEnv"`
	SecretFile string `yaml:"secretFile"`

	// ClientSecret, APIToken and Secret are refused: here only to say so.
	ClientSecret string `yaml:"clientSecret"`
	APIToken     string `yaml:"apiToken"`
	Secret       string `yaml:"secret"`
}

// Defaults fills the zero fields.
func (s Settings) withDefaults() Settings {
	if s.Interval <= 0 {
		s.Interval = time.Minute
		if s.Type == TypeSimulated {
			s.Interval = 30 * time.Second
		}
	}
	if s.Overlap <= 0 {
		s.Overlap = 5 * time.Minute
	}
	if s.Backfill <= 0 {
		s.Backfill = 24 * time.Hour
	}
	return s
}

// Polled reports whether AIR polls the source (webhooks push instead).
func (s Settings) Polled() bool { return s.Type != TypeWebhook }

// LoadConfig reads a sources file (YAML or JSON), refusing unknown fields.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read sources file: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // an empty file is no sources
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	for i := range c.Sources {
		c.Sources[i] = c.Sources[i].withDefaults()
	}
	return c, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// Env reads environment variables; tests replace it.
type Env func(string) (string, bool)

// Validate checks every source and names each problem with the setting
// that causes it; secrets are looked up (not read into the config).
func (c Config) Validate(env Env) error {
	if env == nil {
		env = os.LookupEnv
	}
	var errs []error
	seen := map[string]bool{}
	for i, s := range c.Sources {
		s = s.withDefaults()
		at := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("sources[%d] (%s)", i, s.Name)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", at, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case !namePattern.MatchString(s.Name):
			bad("name", "%q: want letters, digits, '-' or '_' (up to 63)", s.Name)
		case seen[s.Name]:
			bad("name", "%q is used by another source", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(types, s.Type) {
			bad("type", "%q: want one of %s", s.Type, strings.Join(types, ", "))
			continue
		}
		if s.ClientSecret != "" || s.APIToken != "" || s.Secret != "" {
			bad("clientSecret", "secrets are not kept in the sources file: name an environment variable (…Env) or a file (…File)")
		}
		if s.BaseURL != "" {
			if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("baseURL", "%q: want an http(s) URL", s.BaseURL)
			}
		}
		if s.PageSize < 0 || s.PageSize > 10000 {
			bad("pageSize", "%d: want 0–10000", s.PageSize)
		}
		secret := func(field, envName, file string) {
			if envName == "" && file == "" {
				bad(field+"Env", "%s needs a %s (…Env or …File)", s.Type, field)
				return
			}
			if envName != "" {
				if _, ok := env(envName); !ok {
					bad(field+"Env", "environment variable %s is not set", envName)
				}
			}
			if file != "" {
				if _, err := os.Stat(file); err != nil {
					bad(field+"File", "%v", err)
				}
			}
		}
		switch s.Type {
		case TypeGraph, TypeSentinel, TypeMDE:
			if s.TenantID == "" && s.TokenURL == "" {
				bad("tenantId", "required for %s (or tokenURL)", s.Type)
			}
			if s.ClientID == "" {
				bad("clientId", "required for %s", s.Type)
			}
			secret("clientSecret", s.ClientSecretEnv, s.ClientSecretFile)
			if s.Type == TypeSentinel && s.WorkspaceID == "" {
				bad("workspaceId", "required for sentinel")
			}
			if s.Type == TypeSentinel && s.WriteBack {
				for _, f := range [][2]string{{"subscriptionId", s.SubscriptionID}, {"resourceGroup", s.ResourceGroup}, {"workspaceName", s.WorkspaceName}} {
					if f[1] == "" {
						bad(f[0], "required for sentinel writeBack (the workspace in Azure Resource Manager)")
					}
				}
			}
		case TypeCrowdStrike:
			if s.ClientID == "" {
				bad("clientId", "required for crowdstrike")
			}
			secret("clientSecret", s.ClientSecretEnv, s.ClientSecretFile)
		case TypeOkta:
			if s.BaseURL == "" {
				bad("baseURL", "required for okta (https://<your-org>.okta.com)")
			}
			secret("apiToken", s.APITokenEnv, s.APITokenFile)
		case TypeWebhook:
			secret("secret", s.SecretEnv, s.SecretFile)
		case TypeSimulated:
			if s.File != "" {
				if _, err := os.Stat(s.File); err != nil {
					bad("file", "%v", err)
				}
			}
			if s.Speed < 0 {
				bad("speed", "%v: want 0 or more", s.Speed)
			}
		}
	}
	return errors.Join(errs...)
}

// Source returns the settings of the named source.
func (c Config) Source(name string) (Settings, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s.withDefaults(), true
		}
	}
	return Settings{}, false
}

// readSecret reads a secret from its environment variable or file.
func readSecret(env Env, envName, file string) (string, error) {
	if env == nil {
		env = os.LookupEnv
	}
	if envName != "" {
		if v, ok := env(envName); ok && v != "" {
			return v, nil
		}
		return "", fmt.Errorf("environment variable %s is not set", envName)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", errors.New("no secret configured")
}
