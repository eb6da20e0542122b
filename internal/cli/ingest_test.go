package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/graph"
)

// fakeIngest answers POST /api/v1/alerts like the API: per-alert problems
// for alerts without a title (207), a 413 past its body limit, one 429 with
// Retry-After before the first batch, and a 500 on the request numbered
// failAt. It records every id it stored.
type fakeIngest struct {
	mu       sync.Mutex
	ids      map[string]int
	requests int
	limit    int
	failAt   int
	throttle bool
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	body := new(bytes.Buffer)
	body.ReadFrom(r.Body)
	switch {
	case f.throttle:
		f.throttle = false
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"kind":"rate_limited","message":"slow down"}}`)
		return
	case body.Len() > f.limit:
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		fmt.Fprint(w, `{"error":{"kind":"too_large","message":"body too large"}}`)
		return
	case f.requests == f.failAt:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"kind":"internal","message":"database went away"}}`)
		return
	}
	var alerts []struct{ ID, Title string }
	if err := json.Unmarshal(body.Bytes(), &alerts); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"kind":"invalid","message":%q}}`, err.Error())
		return
	}
	var resp api.IngestResponse
	for i, a := range alerts {
		if a.Title == "" {
			resp.Rejected++
			resp.Problems = append(resp.Problems, graph.Problem{Index: i, ID: a.ID, Field: "title", Reason: "missing"})
			continue
		}
		f.ids[a.ID]++
		resp.Accepted++
		resp.Results = append(resp.Results, api.AlertResult{Index: i, ID: a.ID, Outcome: "created", IncidentID: 1})
	}
	if resp.Rejected > 0 {
		w.WriteHeader(http.StatusMultiStatus)
	}
	json.NewEncoder(w).Encode(resp)
}

// writeAlerts writes n alerts in a format: ndjson.gz, array or page; the
// alert at index bad has no title.
func writeAlerts(t *testing.T, dir, format string, n, bad int) string {
	t.Helper()
	var items []string
	for i := range n {
		title := fmt.Sprintf("alert %d", i)
		if i == bad {
			title = ""
		}
		items = append(items, fmt.Sprintf(`{"id":"a-%05d","title":%q,"pad":%q}`, i, title, strings.Repeat("x", 200)))
	}
	var text string
	switch format {
	case "array":
		text = "[\n" + strings.Join(items, ",\n") + "\n]\n"
	case "page":
		text = `{"@odata.context":"x","value":[` + strings.Join(items, ",") + `]}`
	default:
		text = strings.Join(items, "\n") + "\n"
	}
	path := filepath.Join(dir, "alerts."+format)
	data := []byte(text)
	if format == "ndjson" {
		path += ".gz"
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIngestStreamsLargeFiles: a file is sent in batches under the body
// limit, in any of the accepted shapes; a rejected alert is reported with
// its position in the file; a 429 is waited out.
func TestIngestStreamsLargeFiles(t *testing.T) {
	for _, format := range []string{"ndjson", "array", "page"} {
		t.Run(format, func(t *testing.T) {
			fake := &fakeIngest{ids: map[string]int{}, limit: 128 << 10, throttle: true}
			hs := httptest.NewServer(fake)
			defer hs.Close()
			file := writeAlerts(t, t.TempDir(), format, 2500, 1234)
			var out, errb bytes.Buffer
			code := Run(context.Background(), Env{BaseURL: hs.URL, Token: "t", Stdout: &out, Stderr: &errb},
				[]string{"ingest", "--batch", "1000", "--batch-bytes", "100000", "-o", "json", file})
			if code != 1 { // one alert was rejected
				t.Errorf("exit %d, want 1: %s", code, errb.String())
			}
			var sum ingestSummary
			if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			if sum.Accepted != 2499 || sum.Rejected != 1 || len(fake.ids) != 2499 || sum.Position != 2500 {
				t.Errorf("accepted %d, rejected %d, stored %d, position %d; want 2499, 1, 2499, 2500", sum.Accepted, sum.Rejected, len(fake.ids), sum.Position)
			}
			if len(sum.Problems) != 1 || sum.Problems[0].Index != 1234 || sum.Problems[0].ID != "a-01234" {
				t.Errorf("problems %+v, want alert #1234 named", sum.Problems)
			}
			if sum.Requests < 6 { // 100,000-byte batches of ~240-byte alerts, plus the 429
				t.Errorf("%d requests: the file was not cut under the byte limit", sum.Requests)
			}
		})
	}
}

// TestIngestResumes: a run cut off by a server error says where it
// stopped; --from continues from there; every alert is stored exactly once.
func TestIngestResumes(t *testing.T) {
	fake := &fakeIngest{ids: map[string]int{}, limit: 1 << 20, failAt: 3}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	file := writeAlerts(t, t.TempDir(), "ndjson", 2500, -1)
	var out, errb bytes.Buffer
	env := Env{BaseURL: hs.URL, Token: "t", Stdout: &out, Stderr: &errb}
	if code := Run(context.Background(), env, []string{"ingest", "--batch", "500", file}); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := errb.String()
	if !strings.Contains(msg, "stopped after 1000 alerts") || !strings.Contains(msg, "--from 1000") {
		t.Fatalf("no resume position in: %s", msg)
	}
	errb.Reset()
	if code := Run(context.Background(), env, []string{"ingest", "--batch", "500", "--from", "1000", file}); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, errb.String())
	}
	if len(fake.ids) != 2500 {
		t.Errorf("%d alerts stored, want 2500", len(fake.ids))
	}
	for id, n := range fake.ids {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
}
