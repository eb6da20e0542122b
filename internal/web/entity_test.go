package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// TestEntityPage opens the page of a device named in two incidents, under
// two keys (short name and FQDN): both incidents, the alias, the actions
// with their labels; the look-up by name redirects to it; links lead to it
// from the incident page, the queue and the action center; a scoped viewer
// does not see it; markup in names stays text.
func TestEntityPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	later := time.Now().Add(72 * time.Hour)
	r, err := s.st.IngestAlert(ctx, &domain.Alert{ID: "a-fqdn", Title: "Later: " + evil, Status: domain.AlertNew,
		Severity: domain.SeverityMedium, Category: "LateralMovement", CreatedDateTime: later, LastUpdateDateTime: later,
		Evidence: []domain.Evidence{{Type: "deviceEvidence", Entity: &domain.Entity{Key: "device:ws1.corp.example",
			Kind: domain.KindDevice, Name: "WS1.corp.example", Attrs: map[string]string{"deviceGroup": "Workstations", "osPlatform": evil}}}}},
		correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if r.IncidentID == s.inc {
		t.Fatal("the FQDN's alert joined the first incident; the test wants two")
	}
	s.signIn(t, auth.Viewer)

	resp, page := s.get(t, "/entities/device:ws1")
	if resp.StatusCode != 200 {
		t.Fatalf("entity page: HTTP %d\n%.2000s", resp.StatusCode, page)
	}
	checkPage(t, "the entity page", page)
	for _, want := range []string{
		fmt.Sprintf(`href="/incidents/%d"`, s.inc), fmt.Sprintf(`href="/incidents/%d"`, r.IncidentID), // both incidents
		`href="/entities/device:ws1.corp.example"`, "FQDN", // the alias
		"Isolate device", // the action, in words
		"Later: &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("entity page lacks %q", want)
		}
	}

	// The look-up by kind and name, any case.
	resp, _ = s.get(t, "/entities?kind=device&name=WS1.CORP.EXAMPLE")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/entities/device:ws1.corp.example" {
		t.Errorf("look-up: HTTP %d at %s, want the FQDN's page", resp.StatusCode, resp.Request.URL.Path)
	}
	for path, want := range map[string]int{"/entities?kind=device&name=nope": 404, "/entities?kind=planet&name=x": 400,
		"/entities/planet:x": 400, "/entities/device:nope": 404, "/entities/" + url.PathEscape(evil): 400} {
		resp, page := s.get(t, path)
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
		checkPage(t, path, page)
	}

	// Links to it.
	_, inc := s.get(t, fmt.Sprintf("/incidents/%d?tab=devices", s.inc))
	if !strings.Contains(inc, `<a href="/entities/device:ws1">ws1</a>`) {
		t.Error("the devices tab does not link the device to its page")
	}
	_, queue := s.get(t, "/incidents?status=all&range=all")
	if !strings.Contains(queue, `href="/entities?kind=device&amp;name=ws1"`) {
		t.Error("the queue does not link its assets to the entity look-up")
	}
	_, pending := s.get(t, "/actions")
	if !strings.Contains(pending, `href="/entities/device:ws1"`) {
		t.Error("the action center does not link targets to their page")
	}

	// Scoped to Servers: not found.
	v := s.fresh()
	v.tokens = map[auth.Role]string{auth.Viewer: s.scoped}
	v.signIn(t, auth.Viewer)
	if resp, _ := v.get(t, "/entities/device:ws1"); resp.StatusCode != 404 {
		t.Errorf("scoped viewer: HTTP %d, want 404", resp.StatusCode)
	}
}

// TestStoryTab draws the Story tab of an incident whose alert title and
// entity names are markup: lanes, a mark, a node linked to its page, and
// the markup escaped inside the SVG.
func TestStoryTab(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.signIn(t, auth.Viewer)
	resp, page := s.get(t, fmt.Sprintf("/incidents/%d?tab=story", s.inc))
	if resp.StatusCode != 200 {
		t.Fatalf("story tab: HTTP %d", resp.StatusCode)
	}
	checkPage(t, "the story tab", page)
	for _, want := range []string{`<svg class="story-timeline"`, `data-tactic="CredentialAccess"`, `data-tactic="Impact"`,
		`<svg class="story-graph"`, `href="/entities/device:ws1"`, `<title>&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("story tab lacks %q", want)
		}
	}
}

// TestEntityPageNamedAliases: a user named by UPN and SID in one alert
// shows the SID on the UPN's page, with the alert that named both.
func TestEntityPageNamedAliases(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	now := time.Now()
	if _, err := s.st.IngestAlert(context.Background(), &domain.Alert{ID: "a-user", Title: "Sign-in", Status: domain.AlertNew,
		Severity: domain.SeverityMedium, CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: []domain.Evidence{{Type: "userEvidence", Entity: &domain.Entity{Key: "user:alice@corp.example",
			Kind: domain.KindUser, Name: "alice@corp.example", Attrs: map[string]string{"upn": "alice@corp.example", "sid": "S-1-5-21-7-1104"}}}}},
		correlate.Rules{}); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, auth.Viewer)
	resp, page := s.get(t, "/entities/user:alice@corp.example")
	if resp.StatusCode != 200 {
		t.Fatalf("entity page: HTTP %d\n%.2000s", resp.StatusCode, page)
	}
	for _, want := range []string{`href="/entities/user:S-1-5-21-7-1104"`, "SID, named together in alert <code>a-user</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("entity page lacks %q", want)
		}
	}
}
