package falcon_test

import (
	"strings"
	"testing"

	"github.com/airsoc/air/internal/connector/falcon"
)

func TestIOCContract(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newClient(t, f)
	block := req("file.block", "file:"+strings.ToUpper(sha), `{"expiresIn":"720h","comment":"ransomware dropper"}`)
	steps := []struct {
		name   string
		got    func() string
		want   string
		writes int
	}{
		{"block a hash", func() string { return run(c, block, "") },
			"true sha256 " + sha + ": IOC ioc-1 created (prevent, expires 2026-03-31T10:00:00Z)", 1},
		{"the same action again: found by its marker, not doubled", func() string { return run(c, block, "") },
			"true sha256 " + sha + ": IOC ioc-1 (prevent) created by this action before a retry", 1},
		{"another action on the same hash joins", func() string {
			r := block
			r.ActionID = "other"
			return run(c, r, "")
		}, "false sha256 " + sha + ": already prevent by IOC ioc-1 of falcon-app", 1},
		{"an IP: detect only, and said so", func() string { return run(c, req("ip.block", "ip:203.0.113.7", `{}`), "") },
			"true ipv4 203.0.113.7: IOC ioc-2 created (detect); detect only: Falcon IOCs cannot block domains or IP addresses", 2},
		{"a domain", func() string { return run(c, req("url.block", "url:https://Evil.Example/", `{}`), "") },
			"true domain evil.example: IOC ioc-3 created (detect); detect only", 3},
		{"a full URL is refused", func() string { return run(c, req("url.block", "url:https://evil.example/login?x=1", `{}`), "") },
			"fail invalid: target: falcon IOCs match domains, not full URLs", 3},
		{"a sha1 is refused", func() string { return run(c, req("file.block", "file:"+sha[:40], `{}`), "") },
			"fail invalid: target: a falcon file IOC needs a SHA-256 or MD5 hash", 3},
		{"a bad expiry", func() string { return run(c, req("file.block", "file:"+sha[:32], `{"expiresIn":"soon"}`), "") },
			"fail invalid", 3},
		{"lift the hash block", func() string { return run(c, req("file.unblock", "file:"+sha, `{}`), "") },
			"true sha256 " + sha + ": block lifted (IOC ioc-1 deleted)", 3},
		{"lift it again: nothing to lift", func() string { return run(c, req("file.unblock", "file:"+sha, `{}`), "") },
			"false sha256 " + sha + ": not blocked, nothing to lift", 3},
		{"lift AIR's own detect IOC", func() string { return run(c, req("ip.unblock", "ip:203.0.113.7", `{}`), "") },
			"true ipv4 203.0.113.7: block lifted (IOC ioc-2 deleted)", 3},
	}
	for _, s := range steps {
		if got := s.got(); !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
		if len(f.iocWrites) != s.writes {
			t.Errorf("%s: %d IOC writes so far, want %d", s.name, len(f.iocWrites), s.writes)
		}
	}
	// The first POST, field by field.
	w := f.iocWrites[0]
	want := map[string]any{"type": "sha256", "value": sha, "action": "prevent", "severity": "high", "source": "AIR",
		"applied_globally": true, "expiration": "2026-03-31T10:00:00Z",
		"description": "AIR incident 12 action act-file.block (file.block): ransomware dropper"}
	for k, v := range want {
		if w[k] != v {
			t.Errorf("POST field %s: got %v, want %v", k, w[k], v)
		}
	}
	if p, _ := w["platforms"].([]any); len(p) != 3 || p[0] != "windows" || p[1] != "mac" || p[2] != "linux" {
		t.Errorf("platforms: got %v", w["platforms"])
	}
	if len(w) != len(want)+1 {
		t.Errorf("POST sent fields AIR does not mean to: %v", w)
	}
	if f.iocWrites[1]["action"] != "detect" || f.iocWrites[1]["type"] != "ipv4" {
		t.Errorf("IP IOC: %v", f.iocWrites[1])
	}
}

func TestIOCOthersDecisions(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newClient(t, f)
	f.iocs = []*falcon.IOC{
		{ID: "allow-1", Type: "md5", Value: sha[:32], Action: "allow", CreatedBy: "ana@contoso.example"},
		{ID: "old-1", Type: "sha256", Value: sha, Action: "no_action", CreatedBy: "bo@contoso.example", Description: "expired"},
		{ID: "theirs", Type: "domain", Value: "evil.example", Action: "detect", CreatedBy: "bo@contoso.example", Source: "intel"},
	}
	if got := run(c, req("file.block", "file:"+sha[:32], `{}`), ""); !strings.HasPrefix(got, "fail conflict: falcon IOC allow-1 allows md5") {
		t.Errorf("allow: got %q", got)
	}
	got := run(c, req("file.block", "file:"+sha, `{}`), "")
	if !strings.HasPrefix(got, "true sha256 "+sha+": IOC old-1 updated from no_action (prevent)") {
		t.Errorf("expired: got %q", got)
	}
	if len(f.iocWrites) != 1 || f.iocWrites[0]["id"] != "old-1" || f.iocWrites[0]["type"] != nil || f.iocWrites[0]["action"] != "prevent" {
		t.Errorf("PATCH body: %v", f.iocWrites)
	}
	// Someone's detect IOC on a domain: AIR joins, and its unblock leaves it.
	if got := run(c, req("url.block", "url:evil.example", `{}`), ""); !strings.HasPrefix(got, "false domain evil.example: already detect by IOC theirs") {
		t.Errorf("their detect: got %q", got)
	}
	if got := run(c, req("url.unblock", "url:evil.example", `{}`), ""); !strings.HasPrefix(got, "false domain evil.example: not blocked") || len(f.deletes) != 0 {
		t.Errorf("unblock theirs: got %q, deletes %v", got, f.deletes)
	}
}
