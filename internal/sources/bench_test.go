package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGraphSource measures what the Graph source sustains against its
// fake: pages of 500 alerts (Graph's alerts_v2 page size AIR asks for),
// each the documented alert shape with its own id, followed through
// @odata.nextLink. It reports the poller's own rate (alerts/s, with the
// call budget lifted) and alerts/min at the source's default call budget
// (60 calls a minute): the smaller of the two is what a tenant sustains.
//
//	go test ./internal/sources -run - -bench GraphSource
func BenchmarkGraphSource(b *testing.B) {
	const pageSize = 500
	raw, err := os.ReadFile(filepath.Join("testdata", "graph-alerts-page1.json"))
	if err != nil {
		b.Fatal(err)
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err != nil {
		b.Fatal(err)
	}
	template := one["value"].([]any)[0].(map[string]any)
	var issued atomic.Int32
	var served atomic.Int64
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("POST /t/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}`)
	})
	mux.HandleFunc("GET /v1.0/security/alerts_v2", func(w http.ResponseWriter, r *http.Request) {
		page := served.Add(1)
		items := make([]map[string]any, pageSize)
		for i := range items {
			a := make(map[string]any, len(template))
			for k, v := range template {
				a[k] = v
			}
			a["id"] = fmt.Sprintf("bench-%d-%d", page, i)
			items[i] = a
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"@odata.nextLink": fmt.Sprintf("%s/v1.0/security/alerts_v2?$skiptoken=p%d", srv.URL, page+1),
			"value":           items,
		})
	})
	s := Settings{Name: "g", Type: TypeGraph, BaseURL: srv.URL, TokenURL: srv.URL + "/t/oauth2/v2.0/token",
		ClientID: "app", ClientSecretEnv: "S", PageSize: pageSize, RatePerMinute: 1 << 20}
	p, err := New(context.Background(), s, Options{Env: env(map[string]string{"S": "secret"})})
	if err != nil {
		b.Fatal(err)
	}
	cp := Checkpoint{Since: time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)}
	alerts := 0
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		page, err := p.Poll(context.Background(), cp)
		if err != nil {
			b.Fatal(err)
		}
		alerts += len(page.Alerts)
		cp = page.Next
	}
	perSec := float64(alerts) / time.Since(start).Seconds()
	b.ReportMetric(perSec, "alerts/s")
	b.ReportMetric(min(perSec*60, float64(pageSize*60)), "alerts/min@60calls")
	if !strings.HasPrefix(cp.Cursor, srv.URL) {
		b.Fatalf("the poller stopped following nextLink: %+v", cp)
	}
}
