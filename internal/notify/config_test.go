package notify

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// testEnv is an environment of variables and files for configuration
// tests.
func testEnv(vars, files map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(name string) ([]byte, error) {
			if v, ok := files[name]; ok {
				return []byte(v), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

const goodConfig = `
baseURL: https://air.example.com/
delivery:
  attempts: 5
  backoff: 2s
channels:
  soc-mail:
    type: smtp
    host: smtp.example.com
    from: AIR <air@example.com>
    to: [soc@example.com, lead@example.com]
    username: air
    passwordFile: /run/secrets/smtp
  soc-slack:
    type: slack
    urlEnv: SLACK_URL
  soc-teams:
    type: teams
    urlFile: /run/secrets/teams
    format: messagecard
rules:
  - name: high
    on: [incident.created, incident.escalated]
    minSeverity: high
    serviceSources: [microsoftDefenderForEndpoint]
    deviceGroups: [Servers]
    tags: [vip]
    channels: [soc-mail, soc-slack]
  - name: approvals
    on: action.waiting
    after: 30m
    channels: soc-teams
`

func TestConfigReadsChannelsRulesAndSecrets(t *testing.T) {
	t.Parallel()
	env := testEnv(map[string]string{"SLACK_URL": "https://hooks.slack.com/services/T/B/x"},
		map[string]string{"/run/secrets/smtp": "pw\n", "/run/secrets/teams": "https://example.webhook.office.com/webhookb2/x\n"})
	c, err := Parse("notify.yaml", []byte(goodConfig), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://air.example.com" || c.Delivery.attempts() != 5 || c.Delivery.backoff() != 2*time.Second ||
		c.Delivery.maxBackoff() != 15*time.Minute {
		t.Errorf("settings: %+v", c)
	}
	if strings.Join(c.Names, ",") != "soc-mail,soc-slack,soc-teams" {
		t.Errorf("channel order: %v", c.Names)
	}
	m := c.Channels["soc-mail"]
	if m.Port != 587 || m.TLS != TLSStartTLS || m.password != "pw" || len(m.To) != 2 {
		t.Errorf("mail channel: %+v", m)
	}
	if c.Channels["soc-slack"].url != "https://hooks.slack.com/services/T/B/x" || c.Channels["soc-teams"].Format != FormatMessageCard ||
		c.Channels["soc-teams"].url != "https://example.webhook.office.com/webhookb2/x" {
		t.Errorf("webhooks: %+v %+v", c.Channels["soc-slack"], c.Channels["soc-teams"])
	}
	if len(c.Rules) != 2 || c.Rules[0].MinSeverity != domain.SeverityHigh || c.Rules[1].After != 30*time.Minute ||
		strings.Join(c.Rules[1].Channels, ",") != "soc-teams" || !c.Rules[1].Watches(OnActionWaiting) {
		t.Errorf("rules: %+v", c.Rules)
	}
	// NAME_FILE stands for NAME, like the worker's own settings.
	env = testEnv(map[string]string{"SLACK_URL_FILE": "/s"}, map[string]string{"/s": "https://hooks.slack.com/x\n",
		"/run/secrets/smtp": "pw", "/run/secrets/teams": "https://t.example/x"})
	if c, err := Parse("notify.yaml", []byte(goodConfig), env); err != nil || c.Channels["soc-slack"].url != "https://hooks.slack.com/x" {
		t.Errorf("urlEnv through _FILE: %v", err)
	}
	// The shipped example parses (with its secrets present).
	example, err := os.ReadFile("../../docs/notifications.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env = testEnv(map[string]string{"AIR_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"},
		map[string]string{"/run/secrets/smtp-password": "pw", "/run/secrets/teams-webhook-url": "https://t.example/x"})
	if _, err := Parse("docs/notifications.example.yaml", example, env); err != nil {
		t.Errorf("docs/notifications.example.yaml: %v", err)
	}
	if c, err := Parse("empty.yaml", nil, Env{}); err != nil || len(c.Rules) != 0 {
		t.Errorf("an empty file: %v", err)
	}
}

// TestConfigErrorsNameFileLineColumnAndSetting: each mistake is reported
// where it stands, all of them at once.
func TestConfigErrorsNameFileLineColumnAndSetting(t *testing.T) {
	t.Parallel()
	env := testEnv(map[string]string{"SLACK_URL": "http://hooks.slack.com/x", "GOOD": "https://hooks.slack.com/x"}, map[string]string{"/pw": "pw"})
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"syntax", "channels:\n  a: [\n", []string{"f.yaml:2:1: did not find expected node content"}},
		{"unknown top-level key", "channel: {}\n", []string{"f.yaml:1:1: channel: unknown setting"}},
		{"channel type", "channels:\n  x:\n    type: pager\n", []string{`f.yaml:3:11: channels.x.type: unknown channel type "pager"`}},
		{"missing type", "channels:\n  x:\n    host: a\n", []string{"f.yaml:3:5: channels.x.type: required"}},
		{"bad name", "channels:\n  Soc Mail:\n    type: slack\n    urlEnv: GOOD\n", []string{"f.yaml:2:3: channels.Soc Mail: a channel name"}},
		{"smtp", `channels:
  m:
    type: smtp
    host: smtp.example.com:25
    port: 99999
    from: not an address
    to: [ok@example.com, nope]
    username: air
    password: inline
`, []string{
			`f.yaml:4:11: channels.m.host: want a host name`,
			`f.yaml:5:11: channels.m.port: want 1 to 65535`,
			`f.yaml:6:11: channels.m.from: want an address`,
			`f.yaml:7:9: channels.m.to[1]: want an address`,
			`f.yaml:8:15: channels.m.passwordFile: a username needs its password`,
			`f.yaml:9:5: channels.m.password: unknown setting`,
		}},
		{"insecure only on loopback", `channels:
  m:
    type: smtp
    host: smtp.example.com
    from: a@example.com
    to: b@example.com
    tls: none
    insecure: true
`, []string{`f.yaml:8:15: channels.m.insecure: mail without TLS may only go to a relay on this host`}},
		{"tls none needs insecure", `channels:
  m:
    type: smtp
    host: 127.0.0.1
    from: a@example.com
    to: b@example.com
    tls: none
`, []string{`f.yaml:7:10: channels.m.tls: none sends mail and any password in the clear`}},
		{"webhook secrets", `channels:
  s:
    type: slack
    url: https://hooks.slack.com/services/T/B/x
  t:
    type: teams
    urlFile: /missing
    urlEnv: ALSO
  u:
    type: slack
    urlEnv: SLACK_URL
`, []string{
			`f.yaml:3:5: channels.s.urlFile: required: the incoming webhook's URL is a secret`,
			`f.yaml:4:5: channels.s.url: unknown setting`,
			`f.yaml:8:13: channels.t.urlEnv: give urlFile or urlEnv, not both`,
			`f.yaml:11:13: channels.u.url: want https`,
		}},
		{"rules", `channels:
  s: {type: slack, urlFile: /pw}
rules:
  - name: a
    on: [incident.created, incident.deleted]
    minSeverity: urgent
    channels: [s, nowhere]
  - name: a
    on: action.waiting
    channels: [s]
  - on: incident.created
    after: 5m
    channels: []
    tags: 3
`, []string{
			`f.yaml:2:29: channels.s.url: the secret does not hold an absolute http(s) URL`,
			`f.yaml:5:9: rules[0].on[1]: unknown event "incident.deleted"`,
			`f.yaml:6:18: rules[0].minSeverity: unknown severity "urgent"`,
			`f.yaml:7:15: rules[0].channels[1]: unknown channel "nowhere", want one of s`,
			`f.yaml:8:11: rules[1].name: "a" is the name of another rule too (line 4)`,
			`f.yaml:9:9: rules[1].after: action.waiting needs after`,
			`f.yaml:11:5: rules[2].name: required`,
			`f.yaml:12:12: rules[2].after: after is for action.waiting`,
			`f.yaml:13:15: rules[2].channels: want one or more channels`,
			`f.yaml:14:11: rules[2].tags: want a list of strings, got 3`,
		}},
		{"delivery", "delivery:\n  attempts: 0\n  backoff: soon\n  maxBackoff: 1s\n", []string{
			"f.yaml:2:13: delivery.attempts: want 1 to 100, got 0",
			`f.yaml:3:12: delivery.backoff: want a duration such as 30s, 5m or 1h, got "soon"`,
			"f.yaml:4:15: delivery.maxBackoff: 1s is shorter than backoff 10s",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src), env)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d: want prefix %q in:\n%v", i, w, err)
				}
			}
		})
	}
	// Problems name the secret's source, never its value.
	_, err := Parse("f.yaml", []byte("channels:\n  s: {type: slack, urlEnv: SLACK_URL}\n"),
		testEnv(map[string]string{"SLACK_URL": "https://user:hunter2@hooks.example"}, nil))
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an error shows the secret: %v", err)
	}
	if _, err := LoadFile("/nowhere.yaml", testEnv(nil, nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestDeliveryBacksOffExponentially(t *testing.T) {
	t.Parallel()
	d := Delivery{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	var got []time.Duration
	for a := 1; a <= 6; a++ {
		got = append(got, d.delay(a))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	if (Delivery{}).lease() < 4*(Delivery{}).timeout() {
		t.Error("the lease is not well past a send's timeout")
	}
}

func TestRulesMatchSeveritySourcesGroupsAndTags(t *testing.T) {
	t.Parallel()
	subj := Subject{Severity: domain.SeverityMedium, ServiceSources: []string{"microsoftDefenderForEndpoint"},
		DeviceGroups: []string{"servers"}, Tags: []string{"VIP", "Redirected"}}
	for _, tt := range []struct {
		name string
		rule Rule
		want bool
	}{
		{"no filter", Rule{}, true},
		{"severity at the minimum", Rule{MinSeverity: domain.SeverityMedium}, true},
		{"severity below", Rule{MinSeverity: domain.SeverityHigh}, false},
		{"source", Rule{ServiceSources: []string{"microsoftDefenderForOffice365", "microsoftDefenderForEndpoint"}}, true},
		{"other source", Rule{ServiceSources: []string{"microsoftDefenderForIdentity"}}, false},
		{"device group, any case", Rule{DeviceGroups: []string{"Servers"}}, true},
		{"other group", Rule{DeviceGroups: []string{"workstations"}}, false},
		{"tag, any case", Rule{Tags: []string{"vip"}}, true},
		{"other tag", Rule{Tags: []string{"ceo"}}, false},
		{"all filters", Rule{MinSeverity: domain.SeverityLow, ServiceSources: []string{"microsoftDefenderForEndpoint"},
			DeviceGroups: []string{"servers"}, Tags: []string{"vip"}}, true},
		{"all but one", Rule{MinSeverity: domain.SeverityLow, ServiceSources: []string{"microsoftDefenderForEndpoint"},
			DeviceGroups: []string{"servers"}, Tags: []string{"ceo"}}, false},
	} {
		if got := tt.rule.Matches(subj); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
	if (&Rule{DeviceGroups: []string{"servers"}}).Matches(Subject{}) {
		t.Error("a device-group rule matched an incident without devices")
	}
}
