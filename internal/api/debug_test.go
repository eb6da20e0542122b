package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/auth"
)

// TestDebugProfiles: admins read Go's heap profile and the heap split on
// /metrics; other roles are refused; cmdline (flags may hold secrets) is
// not served.
func TestDebugProfiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var body string
	if resp := f.call("adam", "GET", "/debug/pprof/heap?debug=1", "", &body); resp.StatusCode != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("admin heap profile: HTTP %d: %.200s", resp.StatusCode, body)
	}
	if resp := f.call("adam", "GET", "/debug/pprof/", "", &body); resp.StatusCode != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("admin index: HTTP %d: %.200s", resp.StatusCode, body)
	}
	for _, who := range []string{"vic", "al", "rita"} {
		if resp := f.call(who, "GET", "/debug/pprof/heap", "", &body); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want 403", who, resp.StatusCode)
		}
	}
	if resp := f.call("adam", "GET", "/debug/pprof/cmdline", "", &body); resp.StatusCode != http.StatusNotFound {
		t.Errorf("cmdline: HTTP %d, want 404", resp.StatusCode)
	}
	if resp := f.call("vic", "GET", "/metrics", "", &body); resp.StatusCode != http.StatusOK || !strings.Contains(body, `air_heap_inuse_bytes{part="air"}`) {
		t.Errorf("metrics lack the heap split: %.300s", body)
	}
}
