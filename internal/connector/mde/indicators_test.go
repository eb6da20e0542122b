package mde_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/mde/mdefake"
	"github.com/airsoc/air/internal/domain"
)

const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestIndicatorsContract: blocks become custom indicators of the right
// type and action, with the action's marker as externalID and an expiry
// from expiresIn; a block that exists is joined (someone else's) or
// recognised (this action's, before a retry) without a second POST; an
// unblock deletes the blocking indicator and treats "none" and a 404 as
// done; bad targets are refused before any call.
func TestIndicatorsContract(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, typ, target, params string
		setup                     func(f *mdefake.Fake)
		wantErr                   string
		changed                   bool
		summary                   string
		post                      map[string]any // fields of the one POST; nil: no POST
		deletes                   []string
	}{
		{name: "file by sha256", typ: "file.block", target: "file:" + sha256, params: `{"comment":"dropper"}`, changed: true,
			summary: "FileSha256 " + sha256 + " blocked (indicator 1000, action BlockAndRemediate)",
			post: map[string]any{"indicatorType": "FileSha256", "indicatorValue": sha256, "action": "BlockAndRemediate",
				"externalID": "AIR incident 12 action 3f1c2a9b0d11", "generateAlert": false,
				"description": "AIR incident 12 action 3f1c2a9b0d11 (file.block): dropper"}},
		{name: "file by sha1", typ: "file.block", target: "file:" + strings.Repeat("ab", 20), changed: true,
			post: map[string]any{"indicatorType": "FileSha1"}},
		{name: "ip with expiry", typ: "ip.block", target: "ip:203.0.113.7", params: `{"expiresIn":"720h"}`, changed: true,
			summary: "expires ", post: map[string]any{"indicatorType": "IpAddress", "indicatorValue": "203.0.113.7", "action": "Block"}},
		{name: "bare URL blocks the domain", typ: "url.block", target: "url:http://evil.example/", changed: true,
			post: map[string]any{"indicatorType": "DomainName", "indicatorValue": "evil.example"}},
		{name: "URL with a path", typ: "url.block", target: "url:https://evil.example/login?x=1", changed: true,
			post: map[string]any{"indicatorType": "Url", "indicatorValue": "https://evil.example/login?x=1"}},
		{name: "already blocked by someone", typ: "ip.block", target: "ip:203.0.113.7",
			setup: func(f *mdefake.Fake) {
				f.Indicators = append(f.Indicators, &mde.Indicator{ID: "77", IndicatorValue: "203.0.113.7", IndicatorType: "IpAddress",
					Action: "Block", CreatedBy: "analyst@contoso.example"})
			},
			summary: "already blocked by analyst@contoso.example (indicator 77"},
		{name: "blocked by this action before a retry", typ: "ip.block", target: "ip:203.0.113.7",
			setup: func(f *mdefake.Fake) {
				f.Indicators = append(f.Indicators, &mde.Indicator{ID: "78", IndicatorValue: "203.0.113.7", IndicatorType: "IpAddress",
					Action: "Block", ExternalID: "AIR incident 12 action 3f1c2a9b0d11"})
			},
			changed: true, summary: "blocked by this action before a retry"},
		{name: "an audit indicator is upgraded to a block", typ: "ip.block", target: "ip:203.0.113.7",
			setup: func(f *mdefake.Fake) {
				f.Indicators = append(f.Indicators, &mde.Indicator{ID: "79", IndicatorValue: "203.0.113.7", IndicatorType: "IpAddress", Action: "Audit"})
			},
			changed: true, summary: "indicator 79, action Block", post: map[string]any{"action": "Block"}},
		{name: "unblock", typ: "ip.unblock", target: "ip:203.0.113.7",
			setup: func(f *mdefake.Fake) {
				f.Indicators = append(f.Indicators, &mde.Indicator{ID: "80", IndicatorValue: "203.0.113.7", IndicatorType: "IpAddress", Action: "Block"},
					&mde.Indicator{ID: "81", IndicatorValue: "203.0.113.7", IndicatorType: "IpAddress", Action: "Allowed"})
			},
			changed: true, summary: "block lifted (indicator 80 deleted)", deletes: []string{"80"}},
		{name: "unblock with nothing blocked", typ: "url.unblock", target: "url:http://evil.example/", summary: "not blocked, nothing to lift"},
		{name: "CIDR refused", typ: "ip.block", target: "ip:203.0.113.0/24", wantErr: "single IP addresses"},
		{name: "unhashed file refused", typ: "file.block", target: "file:report.docx", wantErr: "SHA-256, SHA-1 or MD5"},
		{name: "bad expiry refused", typ: "url.block", target: "url:http://evil.example/", params: `{"expiresIn":"soon"}`, wantErr: "expiresIn"},
		{name: "vendor 400 names the field", typ: "ip.block", target: "ip:203.0.113.9",
			setup: func(f *mdefake.Fake) {
				f.Inject = func(r *http.Request) (int, http.Header, string) {
					if r.Method == http.MethodPost {
						return http.StatusBadRequest, http.Header{"Content-Type": {"application/json"}},
							`{"error":{"code":"InvalidInput","message":"Indicator limit of 15000 reached.","target":"x"}}`
					}
					return 0, nil, ""
				}
			},
			wantErr: "Indicator limit of 15000 reached"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mdefake.New()
			if tt.setup != nil {
				tt.setup(f)
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			params := tt.params
			if params == "" {
				params = "{}"
			}
			res, err := client(srv, 5*time.Second).Execute(context.Background(), request(tt.typ, tt.target, params))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				if !strings.Contains(tt.name, "vendor") && domain.KindOf(err) != domain.KindInvalid {
					t.Errorf("a bad request is %v, want invalid (permanent)", domain.KindOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed != tt.changed || !strings.Contains(res.Summary, tt.summary) {
				t.Errorf("result %+v, want changed=%v and a summary with %q", res, tt.changed, tt.summary)
			}
			var posts []mdefake.Post
			for _, p := range f.Posts {
				if p.Path == "indicators" {
					posts = append(posts, p)
				}
			}
			switch {
			case tt.post == nil && len(posts) != 0:
				t.Errorf("posted %v, want no POST", posts)
			case tt.post != nil && len(posts) != 1:
				t.Errorf("posted %d indicators, want 1", len(posts))
			case tt.post != nil:
				for k, want := range tt.post {
					if got := posts[0].Body[k]; got != want {
						t.Errorf("POST %s = %v, want %v", k, got, want)
					}
				}
				for _, k := range []string{"title", "description"} {
					if s, _ := posts[0].Body[k].(string); s == "" {
						t.Errorf("POST without the required %s", k)
					}
				}
				if strings.Contains(tt.params, "expiresIn") {
					exp, err := time.Parse(time.RFC3339, fmt.Sprint(posts[0].Body["expirationTime"]))
					if err != nil || exp.Sub(time.Now()) < 719*time.Hour || exp.Sub(time.Now()) > 721*time.Hour {
						t.Errorf("expirationTime %v (%v), want 720 h from now", posts[0].Body["expirationTime"], err)
					}
				}
			}
			if !slices.Equal(f.Deletes, tt.deletes) {
				t.Errorf("deleted %v, want %v", f.Deletes, tt.deletes)
			}
		})
	}
}

// TestIndicatorRepeatIsOnce: the same block run twice (a retried activity
// whose first answer was lost) leaves one indicator and reports the
// second run as this action's own block.
func TestIndicatorRepeatIsOnce(t *testing.T) {
	t.Parallel()
	f := mdefake.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := client(srv, 5*time.Second)
	req := request("url.block", "url:https://evil.example/payload.exe", `{}`)
	for i := range 2 {
		res, err := c.Execute(context.Background(), req)
		if err != nil || !res.Changed {
			t.Fatalf("run %d: %+v, %v", i+1, res, err)
		}
	}
	if len(f.Indicators) != 1 {
		t.Errorf("%d indicators after a repeated block, want 1", len(f.Indicators))
	}
}
