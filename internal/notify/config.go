package notify

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/configenv"
	"github.com/airsoc/air/internal/domain"
)

// Config is a notifications file (worker -notify FILE): where messages go
// (channels), what sends them (rules), and how hard delivery tries. The
// zero value has no channels and no rules: nothing is sent, and incident
// events are routed to nobody.
type Config struct {
	// File is where the configuration came from, for messages.
	File string
	// BaseURL is AIR's address as people reach it (https://air.example);
	// messages link to the incident there. Empty: no links.
	BaseURL  string
	Delivery Delivery
	// Channels by name, and the names in file order.
	Channels map[string]*Channel
	Names    []string
	Rules    []Rule
}

// Delivery says how hard the dispatcher tries. The zero value is the
// default of each field.
type Delivery struct {
	// Attempts is how many sends a message gets before it is marked
	// failed; 0 means 8.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff; 0 means 10s and 15m. A channel's
	// Retry-After, when longer, wins.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one send; 0 means 20s.
	Timeout time.Duration
}

func (d Delivery) attempts() int { return cmpOr(d.Attempts, 8) }
func (d Delivery) backoff() time.Duration {
	return cmpOr(d.Backoff, 10*time.Second)
}
func (d Delivery) maxBackoff() time.Duration { return cmpOr(d.MaxBackoff, 15*time.Minute) }
func (d Delivery) timeout() time.Duration    { return cmpOr(d.Timeout, 20*time.Second) }

// lease is how long a claimed message is held before another dispatcher
// may take it: well past one send's timeout, so that a slow but live
// dispatcher is not overtaken.
func (d Delivery) lease() time.Duration { return max(4*d.timeout(), time.Minute) }

// delay is the wait after the attempt'th failed attempt (1-based).
func (d Delivery) delay(attempt int) time.Duration {
	w := d.backoff()
	for i := 1; i < attempt && w < d.maxBackoff(); i++ {
		w *= 2
	}
	return min(w, d.maxBackoff())
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Channel types.
const (
	TypeSMTP  = "smtp"
	TypeSlack = "slack"
	TypeTeams = "teams"
)

// SMTP security modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded by STARTTLS, required (port 587)
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: loopback relays only, with insecure: true
)

// Teams payload formats.
const (
	FormatAdaptive    = "adaptive"    // an Adaptive Card in a message envelope: Workflows and incoming webhooks
	FormatMessageCard = "messagecard" // the legacy MessageCard: incoming webhooks (Microsoft 365 connectors) only
)

// Channel is one configured destination.
type Channel struct {
	Name string
	Type string

	// SMTP.
	Host     string
	Port     int
	From     string
	To       []string
	Username string
	TLS      string
	Insecure bool
	// RootCAs verify the server's certificate; nil means the system's.
	RootCAs  *x509.CertPool
	password string

	// Slack and Teams: the incoming webhook's URL, a secret.
	url string
	// Format is the Teams payload.
	Format string
}

// Rule sends a message to its channels when an event it watches matches
// its filters. Filters combine with AND; the values inside one with OR;
// an empty filter matches everything.
type Rule struct {
	Name string
	// On lists the events: incident.created, incident.escalated,
	// action.waiting.
	On []string
	// After is how long an action must wait for approval before
	// action.waiting fires.
	After time.Duration
	// MinSeverity is the lowest incident severity that matches; "" means
	// any.
	MinSeverity domain.Severity
	// ServiceSources match the incident's alerts' service sources.
	ServiceSources []string
	// DeviceGroups match its devices' groups, without regard to case.
	DeviceGroups []string
	// Tags match its custom or system tags.
	Tags     []string
	Channels []string
}

// Events a rule can watch.
const (
	OnIncidentCreated   = "incident.created"
	OnIncidentEscalated = "incident.escalated"
	OnActionWaiting     = "action.waiting"
	// OnQuestionAsked sends the questions playbooks ask (ask steps) and
	// their reminders; a rule's filters do not apply to it.
	OnQuestionAsked = "question.asked"
)

var ruleEvents = []string{OnIncidentCreated, OnIncidentEscalated, OnActionWaiting, OnQuestionAsked}

// Watches reports whether the rule fires on the event.
func (r *Rule) Watches(event string) bool { return slices.Contains(r.On, event) }

// Env is how configuration reads the environment and files; the zero value
// reads the process's.
type Env = configenv.Env

// LoadFile reads, checks and resolves a notifications file: secrets are
// read from their files and environment variables now, so that a missing
// one stops the worker at start rather than the first message. Every
// problem is reported, each as file:line:column: setting: reason.
func LoadFile(path string, env Env) (*Config, error) {
	data, err := env.File(path)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return Parse(path, data, env)
}

// Parse is LoadFile for a file already read; file names it in messages.
func Parse(file string, data []byte, env Env) (*Config, error) {
	r := &reader{file: file}
	c := &Config{File: file, Channels: map[string]*Channel{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil // an empty file: nothing to send
		}
		r.syntax(err)
		return nil, r.err()
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return c, nil
	}
	vals, _ := r.fields(doc.Content[0], "", "baseURL", "delivery", "channels", "rules")
	if n := vals["baseURL"]; n != nil {
		if s, ok := r.str(n, "baseURL"); ok {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				r.at(n, "baseURL", "want AIR's http(s) address such as https://air.example.com, got %q", s)
			} else {
				c.BaseURL = strings.TrimRight(s, "/")
			}
		}
	}
	if n := vals["delivery"]; n != nil {
		c.Delivery = r.delivery(n)
	}
	if n := vals["channels"]; n != nil {
		r.channels(n, c, env)
	}
	if n := vals["rules"]; n != nil {
		r.rules(n, c)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *reader) delivery(n *yaml.Node) Delivery {
	var d Delivery
	vals, _ := r.fields(n, "delivery", "attempts", "backoff", "maxBackoff", "timeout")
	if v := vals["attempts"]; v != nil {
		if a, ok := r.integer(v, "delivery.attempts"); ok {
			if a < 1 || a > 100 {
				r.at(v, "delivery.attempts", "want 1 to 100, got %d", a)
			}
			d.Attempts = a
		}
	}
	for key, dst := range map[string]*time.Duration{"backoff": &d.Backoff, "maxBackoff": &d.MaxBackoff, "timeout": &d.Timeout} {
		if v := vals[key]; v != nil {
			*dst, _ = r.duration(v, "delivery."+key)
		}
	}
	if v := vals["maxBackoff"]; v != nil && d.MaxBackoff > 0 && d.MaxBackoff < d.backoff() {
		r.at(v, "delivery.maxBackoff", "%s is shorter than backoff %s", d.MaxBackoff, d.backoff())
	}
	return d
}

var channelName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

var channelKeys = map[string][]string{
	TypeSMTP:  {"type", "host", "port", "from", "to", "username", "passwordFile", "passwordEnv", "tls", "insecure", "caFile"},
	TypeSlack: {"type", "urlFile", "urlEnv"},
	TypeTeams: {"type", "urlFile", "urlEnv", "format"},
}

func (r *reader) channels(n *yaml.Node, c *Config, env Env) {
	vals, keys := r.fields(n, "channels")
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		v := vals[name]
		if v == nil {
			continue // reported by fields
		}
		path := "channels." + name
		if !channelName.MatchString(name) {
			r.at(keys[name], path, "a channel name is lower-case letters, digits, '-' and '_'")
		}
		ch := r.channel(v, path, env)
		if ch == nil {
			continue
		}
		ch.Name = name
		c.Channels[name] = ch
		c.Names = append(c.Names, name)
	}
}

func (r *reader) channel(n *yaml.Node, path string, env Env) *Channel {
	if n.Kind != yaml.MappingNode {
		r.at(n, path, "want a mapping, got %s", kind(n))
		return nil
	}
	t := lookup(n, "type")
	if t == nil {
		r.at(n, path+".type", "required: smtp, slack or teams")
		return nil
	}
	typ, ok := r.str(t, path+".type")
	if !ok {
		return nil
	}
	allowed, ok := channelKeys[typ]
	if !ok {
		r.at(t, path+".type", "unknown channel type %q, want smtp, slack or teams", typ)
		return nil
	}
	vals, _ := r.fields(n, path, allowed...)
	ch := &Channel{Type: typ}
	switch typ {
	case TypeSMTP:
		r.smtp(n, vals, path, ch, env)
	default:
		r.webhook(n, vals, path, ch, env)
	}
	return ch
}

func (r *reader) smtp(n *yaml.Node, vals map[string]*yaml.Node, path string, ch *Channel, env Env) {
	if v := vals["host"]; v == nil {
		r.at(n, path+".host", "required: the SMTP server's host name")
	} else if s, ok := r.str(v, path+".host"); ok {
		if strings.ContainsAny(s, ":/ ") || s == "" {
			r.at(v, path+".host", "want a host name or address without port or scheme, got %q", s)
		}
		ch.Host = s
	}
	ch.TLS = TLSStartTLS
	if v := vals["tls"]; v != nil {
		if s, ok := r.str(v, path+".tls"); ok {
			if s != TLSStartTLS && s != TLSImplicit && s != TLSNone {
				r.at(v, path+".tls", "want starttls, implicit or none, got %q", s)
			}
			ch.TLS = s
		}
	}
	if v := vals["insecure"]; v != nil {
		ch.Insecure, _ = r.boolean(v, path+".insecure")
	}
	switch {
	case ch.TLS == TLSNone && !ch.Insecure:
		r.at(vals["tls"], path+".tls", "none sends mail and any password in the clear: say insecure: true as well (loopback relays only)")
	case ch.Insecure && ch.TLS != TLSNone:
		r.at(vals["insecure"], path+".insecure", "insecure: true goes with tls: none; with TLS on, leave it out")
	case ch.Insecure && ch.Host != "" && !loopback(ch.Host):
		r.at(vals["insecure"], path+".insecure", "mail without TLS may only go to a relay on this host (a loopback address), not %q", ch.Host)
	}
	switch ch.TLS {
	case TLSImplicit:
		ch.Port = 465
	case TLSNone:
		ch.Port = 25
	default:
		ch.Port = 587
	}
	if v := vals["port"]; v != nil {
		if p, ok := r.integer(v, path+".port"); ok {
			if p < 1 || p > 65535 {
				r.at(v, path+".port", "want 1 to 65535, got %d", p)
			}
			ch.Port = p
		}
	}
	if v := vals["from"]; v == nil {
		r.at(n, path+".from", "required: the sender address")
	} else if s, ok := r.str(v, path+".from"); ok {
		if _, err := mail.ParseAddress(s); err != nil {
			r.at(v, path+".from", "want an address such as air@example.com, got %q", s)
		}
		ch.From = s
	}
	if v := vals["to"]; v == nil {
		r.at(n, path+".to", "required: one or more recipient addresses")
	} else if to, ok := r.strings(v, path+".to"); ok {
		if len(to) == 0 {
			r.at(v, path+".to", "want one or more recipient addresses")
		}
		for i, s := range to {
			if _, err := mail.ParseAddress(s); err != nil {
				r.at(v, fmt.Sprintf("%s.to[%d]", path, i), "want an address such as soc@example.com, got %q", s)
			}
		}
		ch.To = to
	}
	if v := vals["username"]; v != nil {
		ch.Username, _ = r.str(v, path+".username")
	}
	pw := r.secret(vals, path, "passwordFile", "passwordEnv", env)
	switch {
	case ch.Username != "" && pw == "" && vals["passwordFile"] == nil && vals["passwordEnv"] == nil:
		r.at(vals["username"], path+".passwordFile", "a username needs its password: name passwordFile or passwordEnv")
	case ch.Username == "" && pw != "":
		r.at(n, path+".username", "a password needs its username")
	}
	ch.password = pw
	if v := vals["caFile"]; v != nil {
		if f, ok := r.str(v, path+".caFile"); ok {
			pem, err := env.File(f)
			pool := x509.NewCertPool()
			switch {
			case err != nil:
				r.at(v, path+".caFile", "%v", err)
			case !pool.AppendCertsFromPEM(pem):
				r.at(v, path+".caFile", "%s holds no PEM certificate", f)
			default:
				ch.RootCAs = pool
			}
		}
	}
}

func (r *reader) webhook(n *yaml.Node, vals map[string]*yaml.Node, path string, ch *Channel, env Env) {
	if vals["urlFile"] == nil && vals["urlEnv"] == nil {
		r.at(n, path+".urlFile", "required: the incoming webhook's URL is a secret; name the file (urlFile) or environment variable (urlEnv) that holds it")
	}
	raw := r.secret(vals, path, "urlFile", "urlEnv", env)
	if raw != "" {
		at := vals["urlFile"]
		if at == nil {
			at = vals["urlEnv"]
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			// Never the value: it is a secret.
			r.at(at, path+".url", "the secret does not hold an absolute http(s) URL")
		case u.Scheme != "https" && !loopback(u.Hostname()):
			r.at(at, path+".url", "want https (plain http only to a loopback address)")
		}
		ch.url = raw
	}
	if ch.Type == TypeTeams {
		ch.Format = FormatAdaptive
		if v := vals["format"]; v != nil {
			if s, ok := r.str(v, path+".format"); ok {
				if s != FormatAdaptive && s != FormatMessageCard {
					r.at(v, path+".format", "want adaptive (Workflows and incoming webhooks) or messagecard (incoming webhooks only), got %q", s)
				}
				ch.Format = s
			}
		}
	}
}

// secret reads a secret from exactly one of a file (fileKey) and an
// environment variable (envKey); the variable NAME may also be given as
// NAME_FILE, a file holding it, like the worker's own settings. Problems
// name the setting and the file or variable, never the value.
func (r *reader) secret(vals map[string]*yaml.Node, path, fileKey, envKey string, env Env) string {
	fn, en := vals[fileKey], vals[envKey]
	switch {
	case fn != nil && en != nil:
		r.at(en, path+"."+envKey, "give %s or %s, not both", fileKey, envKey)
	case fn != nil:
		f, ok := r.str(fn, path+"."+fileKey)
		if !ok {
			return ""
		}
		b, err := env.File(f)
		if err != nil {
			r.at(fn, path+"."+fileKey, "%v", err)
			return ""
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			r.at(fn, path+"."+fileKey, "%s is empty", f)
		}
		return v
	case en != nil:
		name, ok := r.str(en, path+"."+envKey)
		if !ok {
			return ""
		}
		if v := env.Var(name); v != "" {
			return v
		}
		if f := env.Var(name + "_FILE"); f != "" {
			b, err := env.File(f)
			if err != nil {
				r.at(en, path+"."+envKey, "%s_FILE: %v", name, err)
				return ""
			}
			if v := strings.TrimRight(string(b), "\r\n"); v != "" {
				return v
			}
		}
		r.at(en, path+"."+envKey, "environment variable %s (or %s_FILE) is not set or empty", name, name)
	}
	return ""
}

var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func (r *reader) rules(n *yaml.Node, c *Config) {
	if n.Kind != yaml.SequenceNode {
		r.at(n, "rules", "want a list of rules, got %s", kind(n))
		return
	}
	seen := map[string]int{}
	for i, rn := range n.Content {
		path := fmt.Sprintf("rules[%d]", i)
		vals, _ := r.fields(rn, path, "name", "on", "after", "minSeverity", "serviceSources", "deviceGroups", "tags", "channels")
		if rn.Kind != yaml.MappingNode {
			continue
		}
		var rule Rule
		if v := vals["name"]; v == nil {
			r.at(rn, path+".name", "required: a name for the rule, shown in the delivery history")
		} else if s, ok := r.str(v, path+".name"); ok {
			switch {
			case !ruleName.MatchString(s):
				r.at(v, path+".name", "%q: want letters, digits, '.', '-' or '_' (up to 63)", s)
			case seen[s] > 0:
				r.at(v, path+".name", "%q is the name of another rule too (line %d)", s, seen[s])
			}
			seen[s] = v.Line
			rule.Name = s
		}
		if v := vals["on"]; v == nil {
			r.at(rn, path+".on", "required: one or more of %s", strings.Join(ruleEvents, ", "))
		} else if on, ok := r.strings(v, path+".on"); ok {
			if len(on) == 0 {
				r.at(v, path+".on", "want one or more of %s", strings.Join(ruleEvents, ", "))
			}
			for j, e := range on {
				if !slices.Contains(ruleEvents, e) {
					r.at(v, fmt.Sprintf("%s.on[%d]", path, j), "unknown event %q, want one of %s", e, strings.Join(ruleEvents, ", "))
				}
			}
			rule.On = on
		}
		if v := vals["after"]; v != nil {
			rule.After, _ = r.duration(v, path+".after")
			if !rule.Watches(OnActionWaiting) {
				r.at(v, path+".after", "after is for action.waiting: add it to on, or leave after out")
			}
		} else if rule.Watches(OnActionWaiting) {
			r.at(vals["on"], path+".after", "action.waiting needs after: how long an action waits for approval before the rule fires (30m, say)")
		}
		if v := vals["minSeverity"]; v != nil {
			if s, ok := r.str(v, path+".minSeverity"); ok {
				sev, err := domain.ParseEnum("minSeverity", s, domain.Severities, false)
				if err != nil {
					r.at(v, path+".minSeverity", "unknown severity %q, want informational, low, medium or high", s)
				}
				rule.MinSeverity = sev
			}
		}
		for key, dst := range map[string]*[]string{"serviceSources": &rule.ServiceSources, "deviceGroups": &rule.DeviceGroups, "tags": &rule.Tags} {
			if v := vals[key]; v != nil {
				*dst, _ = r.strings(v, path+"."+key)
			}
		}
		if v := vals["channels"]; v == nil {
			r.at(rn, path+".channels", "required: the channels the rule sends to")
		} else if chs, ok := r.strings(v, path+".channels"); ok {
			if len(chs) == 0 {
				r.at(v, path+".channels", "want one or more channels")
			}
			for j, name := range chs {
				if _, ok := c.Channels[name]; !ok {
					r.at(v, fmt.Sprintf("%s.channels[%d]", path, j), "unknown channel %q, want one of %s", name, orNone(c.Names))
				}
			}
			rule.Channels = chs
		}
		c.Rules = append(c.Rules, rule)
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none: define it under channels)"
	}
	return strings.Join(names, ", ")
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HasChannel reports whether a channel of that name is configured.
func (c *Config) HasChannel(name string) bool {
	if c == nil {
		return false
	}
	_, ok := c.Channels[name]
	return ok
}

// ChannelNames lists the configured channels in file order.
func (c *Config) ChannelNames() []string {
	if c == nil {
		return nil
	}
	return slices.Clone(c.Names)
}

// ChannelsFor lists, without repeats and in rule order, the channels of
// the rules that watch event.
func (c *Config) ChannelsFor(event string) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, r := range c.Rules {
		if !r.Watches(event) {
			continue
		}
		for _, ch := range r.Channels {
			if !slices.Contains(out, ch) {
				out = append(out, ch)
			}
		}
	}
	return out
}
