package sources

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Options are what building a poller may need from outside.
type Options struct {
	// HTTPClient carries the vendor calls (and token requests); nil means
	// a client with a 60 s timeout.
	HTTPClient *http.Client
	// Env looks secrets' environment variables up; nil means os.LookupEnv.
	Env Env
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// vendorDefaults are each vendor's API root, token scope, page size and
// calls per minute, from its documentation (docs/sources.md).
var vendorDefaults = map[string]struct {
	base, scope string
	page, rate  int
}{
	TypeGraph:       {"https://graph.microsoft.com", "https://graph.microsoft.com/.default", 500, 60},
	TypeSentinel:    {"https://api.loganalytics.io", "https://api.loganalytics.io/.default", 1000, 60},
	TypeMDE:         {"https://api.securitycenter.microsoft.com", "https://api.securitycenter.microsoft.com/.default", 1000, 100},
	TypeCrowdStrike: {"https://api.crowdstrike.com", "", 500, 300},
	TypeOkta:        {"", "", 1000, 60},
}

// New builds the poller of one source. Secrets are read here, once.
func New(ctx context.Context, s Settings, o Options) (Poller, error) {
	s = s.withDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if s.Type == TypeSimulated {
		per := s.PerPoll
		if per <= 0 {
			per = 1
			if s.File != "" {
				per = 500
			}
		}
		return &simulatedPoller{name: s.Name, file: s.File, speed: s.Speed, perPoll: per, now: o.Now}, nil
	}
	d, ok := vendorDefaults[s.Type]
	if !ok {
		return nil, fmt.Errorf("source %s: type %q is not polled", s.Name, s.Type)
	}
	base := s.BaseURL
	if base == "" {
		base = d.base
	}
	page := s.PageSize
	if page <= 0 {
		page = d.page
	}
	perMinute := s.RatePerMinute
	if perMinute <= 0 {
		perMinute = d.rate
	}
	var client *http.Client
	switch s.Type {
	case TypeOkta:
		token, err := readSecret(o.Env, s.APITokenEnv, s.APITokenFile)
		if err != nil {
			return nil, fmt.Errorf("source %s: API token: %w", s.Name, err)
		}
		v, err := newVendor(base, o.HTTPClient, perMinute)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		v.header.Set("Authorization", "SSWS "+token)
		v.now = o.Now
		types := s.EventTypes
		if len(types) == 0 {
			types = DefaultOktaEventTypes
		}
		return &oktaPoller{v: v, types: types, overlap: s.Overlap, pageSize: page}, nil
	default:
		secret, err := readSecret(o.Env, s.ClientSecretEnv, s.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("source %s: client secret: %w", s.Name, err)
		}
		tokenURL := s.TokenURL
		var scopes []string
		inParams := false
		if s.Type == TypeCrowdStrike {
			if tokenURL == "" {
				tokenURL = strings.TrimRight(base, "/") + "/oauth2/token"
			}
			inParams = true
		} else {
			if tokenURL == "" {
				tokenURL = "https://login.microsoftonline.com/" + s.TenantID + "/oauth2/v2.0/token"
			}
			scopes = []string{d.scope}
		}
		client = oauthClient(ctx, o.HTTPClient, tokenURL, s.ClientID, secret, scopes, inParams)
	}
	v, err := newVendor(base, client, perMinute)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	v.now = o.Now
	switch s.Type {
	case TypeGraph:
		return &graphPoller{v: v, overlap: s.Overlap, pageSize: page}, nil
	case TypeSentinel:
		return &sentinelPoller{v: v, workspace: s.WorkspaceID, filter: s.Query, overlap: s.Overlap, pageSize: page}, nil
	case TypeMDE:
		return &mdePoller{v: v, overlap: s.Overlap, pageSize: page}, nil
	}
	return &crowdStrikePoller{v: v, overlap: s.Overlap, pageSize: page}, nil
}
