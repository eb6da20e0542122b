package mde_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/mde/mdefake"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

func client(srv *httptest.Server, timeout time.Duration) *mde.Client {
	return &mde.Client{
		API: &rest.Client{Vendor: "mde", BaseURL: srv.URL, HTTP: &http.Client{Timeout: timeout},
			Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(srv.URL, "contoso"), ClientID: "app-1",
				Secret: rest.NewSecret("s3cret"), Scope: mde.Scope, HTTP: srv.Client()}},
		PollInterval: time.Millisecond, PollTimeout: 2 * time.Second,
	}
}

func request(typ, target string, params string) remediation.Request {
	return remediation.Request{ActionID: "3f1c2a9b0d11", IncidentID: 12, Type: typ, Target: domain.EntityKey(target),
		TargetName: "ws-042", Params: []byte(params), IdempotencyKey: "incident-12/p/s/" + target}
}

func TestMachineActionsContract(t *testing.T) {
	t.Parallel()
	dev := "device:" + mdefake.MachineID
	tests := []struct {
		name     string
		req      remediation.Request
		setup    func(f *mdefake.Fake)
		timeout  time.Duration
		poll     time.Duration // the poll budget; 0 means 2s
		resume   string
		want     string // connectortest.Outcome
		changed  bool
		summary  string // substring of the result summary or the error
		wantPost string // the action path POSTed, "" for none
		wantBody map[string]any
	}{
		{name: "isolate full", req: request("device.isolate", dev, `{"isolationType":"Full","comment":"malware"}`),
			want: "ok", changed: true, summary: "Isolate (Full) succeeded on ws-042.corp.example",
			wantPost: "isolate", wantBody: map[string]any{"IsolationType": "Full",
				"Comment": "AIR incident 12 action 3f1c2a9b0d11 (device.isolate): malware"}},
		{name: "isolate selective", req: request("device.isolate", dev, `{"isolationType":"Selective"}`),
			want: "ok", changed: true, wantPost: "isolate", wantBody: map[string]any{"IsolationType": "Selective"}},
		{name: "unisolate", req: request("device.release", dev, `{}`), want: "ok", changed: true, wantPost: "unisolate"},
		{name: "restrict", req: request("device.restrict_app_execution", dev, `{}`), want: "ok", changed: true,
			wantPost: "restrictCodeExecution"},
		{name: "unrestrict", req: request("device.unrestrict_app_execution", dev, `{}`), want: "ok", changed: true,
			wantPost: "unrestrictCodeExecution"},
		{name: "full scan", req: request("device.run_av_scan", dev, `{"scanType":"Full"}`), want: "ok", changed: true,
			wantPost: "runAntiVirusScan", wantBody: map[string]any{"ScanType": "Full"}},
		{name: "scan defaults to quick", req: request("device.run_av_scan", dev, `{}`), want: "ok", changed: true,
			wantPost: "runAntiVirusScan", wantBody: map[string]any{"ScanType": "Quick"}},
		{name: "investigation package", req: request("device.collect_investigation_package", dev, `{}`), want: "ok",
			changed: true, wantPost: "collectInvestigationPackage"},
		{name: "stop and quarantine by sha1 key",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("ab", 20), `{"deviceId":"`+mdefake.MachineID+`"}`),
			want: "ok", changed: true, wantPost: "StopAndQuarantineFile", wantBody: map[string]any{"Sha1": strings.Repeat("ab", 20)}},
		{name: "stop and quarantine needs sha1 for a sha256 key",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("cd", 32), `{"deviceId":"`+mdefake.MachineID+`"}`),
			want: "fail invalid", summary: "params.sha1"},
		{name: "stop and quarantine needs the device",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("ab", 20), `{}`),
			want: "fail invalid", summary: "params.deviceId"},
		{name: "kill a process through live response",
			req:  request("process.kill", "process:"+mdefake.MachineID+":4242:2026-03-01T09:58:00Z", `{}`),
			want: "ok", changed: true, summary: "LiveResponse succeeded on ws-042.corp.example", wantPost: "runliveresponse",
			wantBody: map[string]any{"Commands": "[map[params:[map[key:ScriptName value:air-kill-process.ps1] map[key:Args value:-ProcessId 4242]] type:RunScript]]"}},
		{name: "remove persistence through live response",
			req:  request("persistence.remove", dev, `{"kind":"scheduledTask","name":"\\Microsoft\\Updater's task"}`),
			want: "ok", changed: true, wantPost: "runliveresponse",
			wantBody: map[string]any{"Commands": `[map[params:[map[key:ScriptName value:air-remove-persistence.ps1] map[key:Args value:-Kind 'scheduledTask' -Name '\Microsoft\Updater''s task']] type:RunScript]]`}},
		{name: "persistence without its name", req: request("persistence.remove", dev, `{"kind":"service"}`),
			want: "fail invalid", summary: "kind and name"},
		{name: "a process target without its id", req: request("process.kill", "process:"+mdefake.MachineID, `{}`),
			want: "fail invalid", summary: "process target"},
		{name: "another live response session is not joined", req: request("process.kill", "process:"+mdefake.MachineID+":4242:x", `{}`),
			setup: func(f *mdefake.Fake) {
				f.Add(mdefake.MachineID, "ws-042.corp.example", "LiveResponse", "an analyst's session", mde.InProgress)
			},
			want: "retry", summary: "another live response session", wantPost: "runliveresponse"},
		{name: "device by dns name", req: request("device.isolate", "device:ws-042.corp.example", `{}`),
			want: "ok", changed: true, wantPost: "isolate"},
		{name: "unknown dns name", req: request("device.isolate", "device:ws-999.corp.example", `{}`),
			want: "fail not_found", summary: "no machine named ws-999"},

		{name: "already in progress joins the running action", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", "isolated by an analyst", mde.Pending)
			},
			want: "ok", changed: false, summary: "already in progress: joined machine action ma-1", wantPost: "isolate"},
		{name: "a post before a crash is found, not repeated", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", remediation.Marker(12, "3f1c2a9b0d11")+" (device.isolate)", mde.InProgress)
			},
			want: "ok", changed: true, summary: "found after a retry"},
		{name: "a post before a crash is found on a later page", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.PageSize = 1
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", remediation.Marker(12, "3f1c2a9b0d11")+" (device.isolate)", mde.InProgress)
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", "an older one by an analyst", mde.Succeeded)
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", "the newest, by an analyst", mde.Succeeded)
			},
			want: "ok", changed: true, summary: "found after a retry"},
		{name: "a retry resumes the heartbeat's machine action", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", "AIR…", mde.InProgress)
			},
			resume: "ma-1", want: "ok", changed: true, summary: "resumed after a retry"},

		{name: "a retry resumes a joined machine action", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Add(mdefake.MachineID, "ws-042.corp.example", "Isolate", "by an analyst", mde.InProgress)
			},
			resume: "joined:ma-1", want: "ok", changed: false, summary: "joined machine action ma-1 requested by air@contoso.example; Isolate succeeded on ws-042.corp.example, resumed after a retry"},
		{name: "machine action failed", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.Final = mde.Failed }, want: "fail conflict", summary: "ended Failed", wantPost: "isolate"},
		{name: "machine action timed out", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.Final = mde.TimeOut }, want: "fail conflict", summary: "ended TimeOut", wantPost: "isolate"},
		{name: "machine action cancelled", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.Final = mde.Cancelled }, want: "fail conflict", summary: "ended Cancelled", wantPost: "isolate"},
		{name: "still pending when the poll budget ends", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.FinishAfter = -1 }, poll: 50 * time.Millisecond,
			want: "retry", summary: "still InProgress after 50ms; the next attempt resumes it", wantPost: "isolate"},

		{name: "400 invalid input", req: request("device.isolate", dev, `{"isolationType":"Partial"}`),
			want: "fail invalid", summary: "InvalidInput", wantPost: "isolate"},
		{name: "401 with a fresh token still refused", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Inject = answer("", http.StatusUnauthorized, "", `{"error":{"code":"Unauthorized","message":"Unauthorized"}}`)
			},
			want: "fail forbidden", summary: "HTTP 401"},
		{name: "403 missing permission", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Inject = answer(http.MethodPost, http.StatusForbidden, "", `{"error":{"code":"Forbidden","message":"Missing application roles: Machine.Isolate"}}`)
			},
			want: "fail forbidden", summary: "Machine.Isolate"},
		{name: "404 machine not found", req: request("device.isolate", "device:"+strings.Repeat("0", 40), `{}`),
			want: "fail not_found", summary: "was not found", wantPost: "isolate"},
		{name: "429 with retry-after", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Inject = answer(http.MethodPost, http.StatusTooManyRequests, "7", `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`)
			},
			want: "retry after 7s"},
		{name: "500", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) {
				f.Inject = answer(http.MethodPost, http.StatusInternalServerError, "", `{"error":{"code":"InternalServerError","message":""}}`)
			},
			want: "retry", summary: "HTTP 500"},
		{name: "503 with retry-after", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.Inject = answer(http.MethodPost, http.StatusServiceUnavailable, "30", "") },
			want:  "retry after 30s"},
		{name: "slow answer times out", req: request("device.isolate", dev, `{}`),
			setup: func(f *mdefake.Fake) { f.Slow = true }, timeout: 50 * time.Millisecond, want: "retry", summary: "timed out"},
		{name: "not a device action", req: request("user.disable", "user:ana@contoso.example", `{}`),
			want: "fail invalid", summary: "cannot carry out user.disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mdefake.New()
			if tt.setup != nil {
				tt.setup(f)
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			c := client(srv, timeout)
			if tt.poll > 0 {
				c.PollTimeout = tt.poll
			}
			res, err := connectortest.Run(c, tt.req, tt.resume, nil)
			if got := connectortest.Outcome(err); got != tt.want {
				t.Fatalf("outcome: got %q (%v), want %q", got, err, tt.want)
			}
			if err == nil && res.Changed != tt.changed {
				t.Errorf("changed: got %v, want %v (%s)", res.Changed, tt.changed, res.Summary)
			}
			text := res.Summary
			if err != nil {
				text = err.Error()
			}
			if !strings.Contains(text, tt.summary) {
				t.Errorf("result: got %q, want it to contain %q", text, tt.summary)
			}
			f.Mu.Lock()
			defer f.Mu.Unlock()
			if tt.wantPost == "" {
				if len(f.Posts) != 0 && tt.want == "ok" {
					t.Errorf("posts: got %+v, want none", f.Posts)
				}
				return
			}
			if len(f.Posts) != 1 || f.Posts[0].Path != tt.wantPost {
				t.Fatalf("posts: got %+v, want one to %s", f.Posts, tt.wantPost)
			}
			if !strings.HasPrefix(fmt.Sprint(f.Posts[0].Body["Comment"]), "AIR incident 12 action 3f1c2a9b0d11 ("+tt.req.Type+")") {
				t.Errorf("comment: got %q, want it to name the incident and the action", f.Posts[0].Body["Comment"])
			}
			for k, v := range tt.wantBody {
				if fmt.Sprint(f.Posts[0].Body[k]) != fmt.Sprint(v) {
					t.Errorf("body %s: got %v, want %v", k, f.Posts[0].Body[k], v)
				}
			}
		})
	}
}

// answer injects one answer to every request of a method ("" for all).
func answer(method string, status int, retryAfter, body string) func(r *http.Request) (int, http.Header, string) {
	return func(r *http.Request) (int, http.Header, string) {
		if method != "" && r.Method != method {
			return 0, nil, ""
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return status, h, body
	}
}

func TestTokenIsCachedAndRenewedOn401(t *testing.T) {
	t.Parallel()
	f := mdefake.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := client(srv, 5*time.Second)
	ctx := context.Background()
	for i := range 3 {
		req := request("device.run_av_scan", "device:"+mdefake.MachineID, `{}`)
		req.ActionID = fmt.Sprintf("a%d", i)
		if _, err := c.Execute(ctx, req); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	f.Mu.Lock()
	if f.TokenHits != 1 {
		t.Errorf("token requests for three actions: got %d, want 1 (cached)", f.TokenHits)
	}
	f.Token = "tok-2" // the API now refuses the cached token
	f.Mu.Unlock()
	if _, err := c.Execute(ctx, request("device.collect_investigation_package", "device:"+mdefake.MachineID, `{}`)); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.TokenHits != 2 {
		t.Errorf("token requests after a 401: got %d, want 2", f.TokenHits)
	}
}

func TestLimiterHoldsCallsToTheConfiguredRate(t *testing.T) {
	t.Parallel()
	f := mdefake.New()
	f.FinishAfter = 0 // every machine action is done at its first poll: list + post + poll = 3 calls
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := client(srv, 5*time.Second)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var slept []time.Duration
	lim := rest.NewLimiter(rest.Window{Calls: 100, Per: time.Minute})
	lim.Now = func() time.Time { return now }
	lim.Sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	c.API.Limiter = lim
	for i := range 34 { // 102 calls
		req := request("device.run_av_scan", "device:"+mdefake.MachineID, `{}`)
		req.ActionID = fmt.Sprintf("a%d", i)
		if _, err := c.Execute(context.Background(), req); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	// The 101st call waits a minute for the first one to leave the window;
	// the 102nd then finds the second one gone too.
	if len(slept) != 1 || slept[0] != time.Minute {
		t.Errorf("waits: got %v, want one wait of 1m at the 101st call", slept)
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.Calls != 102 {
		t.Errorf("calls: got %d, want 102", f.Calls)
	}
}
