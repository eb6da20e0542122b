package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/sources"
)

func TestWebhookSourcePushesSignedAlerts(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	withIngest(f)
	secret := []byte("a-webhook-key-of-some-length")
	f.srv.Sources = sources.Config{Sources: []sources.Settings{{Name: "siem", Type: sources.TypeWebhook}}}
	f.srv.WebhookSecrets = map[string][]byte{"siem": secret}
	doc, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	push := func(name, sig string, body []byte) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/api/v1/sources/"+name+"/alerts", strings.NewReader(string(body)))
		if sig != "" {
			req.Header.Set(sources.SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := push("siem", sources.Sign(secret, doc, time.Now()), doc)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed push: HTTP %d %s", resp.StatusCode, body)
	}
	var ir api.IngestResponse
	json.Unmarshal([]byte(body), &ir)
	if ir.Accepted != 1 {
		t.Fatalf("accepted %d: %s", ir.Accepted, body)
	}
	for name, c := range map[string]struct {
		source, sig string
		status      int
	}{
		"unsigned":  {"siem", "", http.StatusUnauthorized},
		"wrong key": {"siem", sources.Sign([]byte("not-the-key-at-all"), doc, time.Now()), http.StatusUnauthorized},
		"replayed":  {"siem", sources.Sign(secret, doc, time.Now().Add(-time.Hour)), http.StatusUnauthorized},
		"unknown":   {"other", sources.Sign(secret, doc, time.Now()), http.StatusNotFound},
	} {
		if resp, body := push(c.source, c.sig, doc); resp.StatusCode != c.status {
			t.Errorf("%s: HTTP %d %s, want %d", name, resp.StatusCode, body, c.status)
		}
	}
	// The source is listed, and the alert is known to come from it.
	var list api.SourcesResponse
	if r := f.call("vic", http.MethodGet, "/api/v1/sources", "", &list); r.StatusCode != 200 || len(list.Sources) != 1 || list.Sources[0].Polled {
		t.Fatalf("GET /api/v1/sources: HTTP %d %+v", r.StatusCode, list)
	}
}

func TestIncidentChangesAreWrittenBack(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var mu sync.Mutex
	var got []sources.Change
	f.srv.WriteBack = func(_ context.Context, id int64, ch sources.Change) error {
		mu.Lock()
		defer mu.Unlock()
		if id != f.inc1 {
			t.Errorf("write-back for incident %d, want %d", id, f.inc1)
		}
		got = append(got, ch)
		return nil
	}
	if r := f.call("al", http.MethodPatch, "/api/v1/incidents/"+itoa(f.inc1), `{"status":"resolved","classification":"truePositive","determination":"malware","resolvingComment":"done"}`, nil); r.StatusCode != 200 {
		t.Fatalf("PATCH: HTTP %d", r.StatusCode)
	}
	if r := f.call("al", http.MethodPost, "/api/v1/incidents/"+itoa(f.inc1)+"/comments", `{"comment":"isolated by AIR"}`, nil); r.StatusCode != 201 {
		t.Fatalf("comment: HTTP %d", r.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d write-backs, want 2: %+v", len(got), got)
	}
	if c := got[0]; c.Status != "resolved" || c.Before["status"] != "new" || c.Classification != "truePositive" || c.By != "al" {
		t.Errorf("change %+v", c)
	}
	if c := got[1]; c.Comment != "isolated by AIR" || c.Status != "" {
		t.Errorf("comment change %+v", c)
	}
}
