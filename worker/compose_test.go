package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/nativestack"
)

// TestComposeStack checks docker-compose.yml for what cannot be run here
// (no Docker engine): images pinned to full versions, Temporal's image at
// the server version go.mod builds natively, Temporal's frontend not
// published, the other ports on loopback only, the worker non-root with a
// restart policy, a health check, an admin token and a message key on a
// volume; and Temporal's schema script and server environment in the form
// the native production stack runs them (internal/nativestack, which CI
// runs against PostgreSQL), so that the compose file and the native recipe
// cannot drift apart.
func TestComposeStack(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nativestack.LoadCompose("../docker-compose.yml"); err != nil {
		t.Errorf("the native stack cannot run compose's Temporal set-up: %v", err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Ports       []string          `yaml:"ports"`
			Restart     string            `yaml:"restart"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck map[string]any    `yaml:"healthcheck"`
			Build       struct {
				Dockerfile string `yaml:"dockerfile_inline"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	server := moduleVersion(t, "go.temporal.io/server")
	full := regexp.MustCompile(`:\d+\.\d+(\.\d+)?$`) // PostgreSQL's full versions have two parts
	for name, s := range c.Services {
		if s.Image != "" && !full.MatchString(s.Image) {
			t.Errorf("%s: image %s is not pinned to a full version", name, s.Image)
		}
		if strings.HasPrefix(s.Image, "temporalio/server:") || strings.HasPrefix(s.Image, "temporalio/admin-tools:") {
			if !strings.Contains(s.Image, ":"+strings.TrimPrefix(server, "v")) {
				t.Errorf("%s: image %s, want go.mod's server version %s", name, s.Image, server)
			}
		}
		for _, p := range s.Ports {
			if strings.Contains(p, "7233") {
				t.Errorf("%s publishes Temporal's frontend (%s)", name, p)
			}
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %s is published on every interface", name, p)
			}
		}
	}
	w := c.Services["worker"]
	if w.Restart == "" || w.Healthcheck == nil {
		t.Errorf("worker: restart %q, health check %v", w.Restart, w.Healthcheck)
	}
	if !strings.Contains(w.Build.Dockerfile, "USER 65532") || !strings.Contains(w.Build.Dockerfile, ":nonroot") {
		t.Errorf("worker image runs as root")
	}
	for _, k := range []string{"AIR_ADMIN_TOKEN_FILE", "AIR_MESSAGE_KEY_FILE"} {
		if !strings.HasPrefix(w.Environment[k], "/var/lib/air/") {
			t.Errorf("worker: %s = %q, want a file on the air volume", k, w.Environment[k])
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil || !strings.Contains(string(ignore), ".air") {
		t.Errorf(".dockerignore must keep .air (dev database, token, key) out of the build: %v", err)
	}
}

func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(path) + `\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", path)
	}
	return string(m[1])
}
