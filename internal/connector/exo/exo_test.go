package exo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/exo"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// fakeEXO follows the contract of Exchange Online's InvokeCommand as the
// ExchangeOnlineManagement module uses it (testdata/README.md names the
// sources): POST /adminapi/beta/{tenantId}/InvokeCommand with a bearer
// token for https://outlook.office365.com/.default, the body
// {"CmdletInput": {"CmdletName", "Parameters"}}, the cmdlet's name again
// in X-CmdletName and the organization's system mailbox in
// X-AnchorMailbox; 200 {"@odata.context", "value": [objects]}; errors as
// {"error": {"code", "message": "Error executing cmdlet", "details":
// [{"message": "<id>|<exception>|<text>"}]}} (testdata/error-*.json). It
// keeps a Tenant Allow/Block List of Sender entries and mailboxes with
// their forwarding.
type fakeEXO struct {
	mu        sync.Mutex
	t         *testing.T
	tokens    int
	entries   []exo.Entry
	boxes     map[string]*exo.Mailbox
	calls     []call // every InvokeCommand, in order
	inject    func(cmdlet string) (int, http.Header, string)
	expireNow bool // the next API call answers 401 as for an expired token
}

// call is one InvokeCommand as the fake received it.
type call struct {
	Cmdlet string
	Params map[string]json.RawMessage
	Header http.Header
}

const (
	tenant = "11111111-2222-3333-4444-555555555555"
	org    = "contoso.onmicrosoft.com"
	secret = "exo-client-secret-42"
)

func newFake(t *testing.T) *fakeEXO {
	return &fakeEXO{t: t, boxes: map[string]*exo.Mailbox{
		"bob@contoso.example": {Identity: "bob", PrimarySMTPAddress: "bob@contoso.example",
			ForwardingSMTPAddress: "smtp:eve@evil.example", DeliverToMailboxAndForward: true},
		"judy@contoso.example": {Identity: "judy", PrimarySMTPAddress: "judy@contoso.example",
			ForwardingAddress: "Judy External Contact"},
		"ana@contoso.example": {Identity: "ana", PrimarySMTPAddress: "ana@contoso.example"},
	}}
}

func testdata(t *testing.T, name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fakeEXO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	if r.URL.Path == "/"+tenant+"/oauth2/v2.0/token" {
		if r.FormValue("client_secret") != secret || r.FormValue("scope") != exo.Scope || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		f.tokens++
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"at-%d"}`, f.tokens)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/adminapi/beta/"+tenant+"/InvokeCommand" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != fmt.Sprintf("Bearer at-%d", f.tokens) || f.expireNow {
		f.expireNow = false
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, testdata(f.t, "error-unauthorized.json"))
		return
	}
	var body struct {
		CmdletInput struct {
			CmdletName string
			Parameters map[string]json.RawMessage
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.fail(w, 400, "BadRequest", "Ex000001|System.ArgumentException|The request body is not a CmdletInput.")
		return
	}
	c := call{Cmdlet: body.CmdletInput.CmdletName, Params: body.CmdletInput.Parameters, Header: r.Header.Clone()}
	f.calls = append(f.calls, c)
	if r.Header.Get("X-CmdletName") != c.Cmdlet || r.Header.Get("X-AnchorMailbox") != "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"+org {
		f.fail(w, 400, "BadRequest", "Ex000002|System.ArgumentException|Routing headers do not match the cmdlet.")
		return
	}
	if f.inject != nil {
		if status, h, b := f.inject(c.Cmdlet); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			io.WriteString(w, b)
			return
		}
	}
	var out []any
	switch c.Cmdlet {
	case "Get-TenantAllowBlockListItems":
		if str(c.Params["ListType"]) != "Sender" {
			f.fail(w, 400, "BadRequest", "Ex000003|System.ArgumentException|ListType is required.")
			return
		}
		for _, e := range f.entries {
			if strings.EqualFold(e.Value, str(c.Params["Entry"])) {
				out = append(out, e)
			}
		}
	case "New-TenantAllowBlockListItems":
		var entries []string
		json.Unmarshal(c.Params["Entries"], &entries)
		_, exp := c.Params["ExpirationDate"]
		_, never := c.Params["NoExpiration"]
		if str(c.Params["ListType"]) != "Sender" || string(c.Params["Block"]) != "true" || len(entries) != 1 || exp == never {
			f.fail(w, 400, "BadRequest", "Ex000004|System.ArgumentException|Parameter set cannot be resolved using the specified named parameters.")
			return
		}
		for _, e := range f.entries {
			if strings.EqualFold(e.Value, entries[0]) {
				f.fail(w, 400, "BadRequest", "Ex000005|Microsoft.Exchange.Management.Tasks.ValidationException|Entry already exists: "+entries[0])
				return
			}
		}
		e := exo.Entry{Identity: fmt.Sprintf("RgAAAA-entry-%d", len(f.entries)+1), Value: entries[0], Action: "Block",
			Notes: str(c.Params["Notes"]), ExpirationDate: str(c.Params["ExpirationDate"])}
		f.entries = append(f.entries, e)
		out = append(out, e)
	case "Remove-TenantAllowBlockListItems":
		var entries []string
		json.Unmarshal(c.Params["Entries"], &entries)
		for _, v := range entries {
			n := len(f.entries)
			f.entries = slicesDelete(f.entries, v)
			if len(f.entries) == n {
				f.fail(w, 404, "NotFound", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object '"+v+"' couldn't be found.")
				return
			}
		}
	case "Get-Mailbox":
		m := f.boxes[strings.ToLower(str(c.Params["Identity"]))]
		if m == nil {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, strings.ReplaceAll(testdata(f.t, "error-not-found.json"), "zed@contoso.example", str(c.Params["Identity"])))
			return
		}
		out = append(out, m)
	case "Set-Mailbox":
		m := f.boxes[strings.ToLower(str(c.Params["Identity"]))]
		for k := range c.Params {
			if k != "Identity" && k != "ForwardingSmtpAddress" && k != "ForwardingAddress" && k != "DeliverToMailboxAndForward" {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, strings.ReplaceAll(testdata(f.t, "error-bad-parameter.json"), "ForwardSmtpAddress", k))
				return
			}
		}
		if m == nil {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, testdata(f.t, "error-not-found.json"))
			return
		}
		if v, ok := c.Params["ForwardingSmtpAddress"]; ok {
			m.ForwardingSMTPAddress = str(v)
		}
		if v, ok := c.Params["ForwardingAddress"]; ok {
			m.ForwardingAddress = str(v)
		}
		if v, ok := c.Params["DeliverToMailboxAndForward"]; ok {
			m.DeliverToMailboxAndForward = string(v) == "true"
		}
	default:
		f.fail(w, 400, "BadRequest", "Ex000006|System.Management.Automation.CommandNotFoundException|The term '"+c.Cmdlet+"' is not recognized.")
		return
	}
	if out == nil {
		out = []any{}
	}
	json.NewEncoder(w).Encode(map[string]any{"@odata.context": "https://outlook.office365.com/adminapi/beta/" + tenant + "/$metadata#Collection(Exchange.GenericHashTable)", "value": out})
}

func (f *fakeEXO) fail(w http.ResponseWriter, status int, code, detail string) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": "Error executing cmdlet",
		"details": []map[string]string{{"code": "Context", "target": "", "message": detail}}}})
}

func slicesDelete(es []exo.Entry, v string) []exo.Entry {
	var out []exo.Entry
	for _, e := range es {
		if !strings.EqualFold(e.Value, v) {
			out = append(out, e)
		}
	}
	return out
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

var now = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

func client(t *testing.T, f *fakeEXO) *exo.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &exo.Client{API: &rest.Client{Vendor: "exo", BaseURL: srv.URL,
		Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(srv.URL, tenant), ClientID: "app-1",
			Secret: rest.NewSecret(secret), Scope: exo.Scope}},
		TenantID: tenant, Organization: org, Now: func() time.Time { return now }}
}

func req(action, typ, target, params string) remediation.Request {
	return remediation.Request{ActionID: action, IncidentID: 7, Type: typ, Target: domain.EntityKey(target),
		Params: []byte(params), IdempotencyKey: "k-" + action}
}

var activityNoise = regexp.MustCompile(`activity error \([^)]*\): | \(type: [^,]+, retryable: (true|false)\)$`)

func run(c *exo.Client, rq remediation.Request, resume string) string {
	res, err := connectortest.Run(c, rq, resume, nil)
	if err != nil {
		return connectortest.Outcome(err) + ": " + activityNoise.ReplaceAllString(err.Error(), "")
	}
	return fmt.Sprintf("%v %s", res.Changed, res.Summary)
}

func (f *fakeEXO) cmdlets() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Cmdlet)
	}
	return strings.Join(out, ",")
}

func (f *fakeEXO) last(cmdlet string) call {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Cmdlet == cmdlet {
			return f.calls[i]
		}
	}
	f.t.Fatalf("no %s call", cmdlet)
	return call{}
}

func TestSenderBlockContract(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.entries = []exo.Entry{{Identity: "RgAAAA-allowed", Value: "partner@fabrikam.example", Action: "Allow", Notes: "payroll vendor"}}
	c := client(t, f)
	steps := []struct {
		name     string
		rq       remediation.Request
		want     string
		cmdlets  string // the calls this step made
		resetLog bool
	}{
		{"block with an expiry", req("act-1", "email.block_sender", "mailbox:Eve@Evil.example", `{"expiresIn":"720h"}`),
			"true sender eve@evil.example blocked tenant-wide (entry RgAAAA-entry-2, expires 2026-12-31T09:30:00Z)",
			"Get-TenantAllowBlockListItems,New-TenantAllowBlockListItems", false},
		{"the same action again (a retry after a crash): its own entry, joined", req("act-1", "email.block_sender", "mailbox:eve@evil.example", `{"expiresIn":"720h"}`),
			"true sender eve@evil.example blocked by this action before a retry (entry RgAAAA-entry-2, expires 2026-12-31T09:30:00Z)",
			"Get-TenantAllowBlockListItems", true},
		{"another action: someone else's entry, joined", req("act-2", "email.block_sender", "mailbox:eve@evil.example", `{}`),
			`false sender eve@evil.example already blocked (entry RgAAAA-entry-2, notes "AIR incident 7 action act-1", expires 2026-12-31T09:30:00Z)`,
			"Get-TenantAllowBlockListItems", true},
		{"block a domain with no expiry", req("act-3", "email.block_sender", "mailbox:evil.example", `{}`),
			"true sender evil.example blocked tenant-wide (entry RgAAAA-entry-3, expires never)",
			"Get-TenantAllowBlockListItems,New-TenantAllowBlockListItems", true},
		{"an allowed sender is not overruled", req("act-4", "email.block_sender", "mailbox:partner@fabrikam.example", `{}`),
			`fail conflict: sender partner@fabrikam.example is allowed on the tenant allow/block list (entry RgAAAA-allowed, notes "payroll vendor")`,
			"Get-TenantAllowBlockListItems", true},
		{"unblock", req("act-5", "email.unblock_sender", "mailbox:eve@evil.example", `{}`),
			`true sender eve@evil.example unblocked (entry RgAAAA-entry-2, notes "AIR incident 7 action act-1", removed)`,
			"Get-TenantAllowBlockListItems,Remove-TenantAllowBlockListItems", true},
		{"unblock again: nothing to lift, nothing removed", req("act-5", "email.unblock_sender", "mailbox:eve@evil.example", `{}`),
			"false sender eve@evil.example not blocked, nothing to lift", "Get-TenantAllowBlockListItems", true},
		{"unblock an allowed sender: the allow entry stays", req("act-6", "email.unblock_sender", "mailbox:partner@fabrikam.example", `{}`),
			"false sender partner@fabrikam.example not blocked, nothing to lift", "Get-TenantAllowBlockListItems", true},
		{"not a sender", req("act-7", "email.block_sender", "mailbox:not a sender", `{}`), "fail invalid", "", true},
		{"a bad expiry", req("act-8", "email.block_sender", "mailbox:x@evil.example", `{"expiresIn":"soon"}`), "fail invalid", "", true},
		{"a device", req("act-9", "email.block_sender", "device:ws-1", `{}`), "fail invalid", "", true},
	}
	for i, s := range steps {
		f.mu.Lock()
		if i > 0 {
			f.calls = nil
		}
		f.mu.Unlock()
		if got := run(c, s.rq, ""); !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
		if got := f.cmdlets(); got != s.cmdlets {
			t.Errorf("%s: cmdlets %q, want %q", s.name, got, s.cmdlets)
		}
		if i == 0 {
			checkBlock(t, f, `"eve@evil.example"`, map[string]string{"ExpirationDate": `"2026-12-31T09:30:00Z"`})
		}
		if i == 3 {
			checkBlock(t, f, `"evil.example"`, map[string]string{"NoExpiration": "true"})
		}
		if i == 5 {
			p := f.last("Remove-TenantAllowBlockListItems").Params
			if len(p) != 2 || string(p["ListType"]) != `"Sender"` || string(p["Entries"]) != `["eve@evil.example"]` {
				t.Errorf("Remove- parameters %s", params(p))
			}
		}
	}
}

// checkBlock checks the New-TenantAllowBlockListItems parameters field by
// field, and the Get- before it.
func checkBlock(t *testing.T, f *fakeEXO, entry string, expiry map[string]string) {
	t.Helper()
	get := f.last("Get-TenantAllowBlockListItems").Params
	if len(get) != 2 || string(get["ListType"]) != `"Sender"` || string(get["Entry"]) != entry {
		t.Errorf("Get- parameters %s", params(get))
	}
	p := f.last("New-TenantAllowBlockListItems").Params
	want := map[string]string{"ListType": `"Sender"`, "Block": "true", "Entries": "[" + entry + "]", "Notes": `"AIR incident 7 action act-1"`}
	if entry != `"eve@evil.example"` {
		want["Notes"] = `"AIR incident 7 action act-3"`
	}
	for k, v := range expiry {
		want[k] = v
	}
	if len(p) != len(want) {
		t.Errorf("New- parameters %s, want %v", params(p), want)
	}
	for k, v := range want {
		if string(p[k]) != v {
			t.Errorf("New- %s = %s, want %s", k, p[k], v)
		}
	}
}

func params(p map[string]json.RawMessage) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func TestForwardingContract(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := client(t, f)
	const typ = "mailbox.disable_external_forwarding"
	steps := []struct {
		name, target, resume, want, cmdlets string
	}{
		{"stop forwarding outside", "mailbox:bob@contoso.example", "",
			"true forwarding of bob@contoso.example stopped (was ForwardingSmtpAddress smtp:eve@evil.example, ForwardingAddress none, DeliverToMailboxAndForward true)",
			"Get-Mailbox,Set-Mailbox"},
		{"again: already off, no Set-Mailbox", "mailbox:bob@contoso.example", "",
			"false mailbox bob@contoso.example forwards nowhere, nothing to stop", "Get-Mailbox"},
		{"a retry after a crash between Set-Mailbox and the report", "mailbox:bob@contoso.example",
			typ + ":bob@contoso.example: ForwardingSmtpAddress smtp:eve@evil.example, ForwardingAddress none, DeliverToMailboxAndForward true",
			"true forwarding of bob@contoso.example stopped by this action before a retry (was ForwardingSmtpAddress smtp:eve@evil.example, ForwardingAddress none, DeliverToMailboxAndForward true)",
			"Get-Mailbox"},
		{"forwarding to a contact", "mailbox:judy@contoso.example", "",
			"true forwarding of judy@contoso.example stopped (was ForwardingSmtpAddress none, ForwardingAddress Judy External Contact, DeliverToMailboxAndForward false)",
			"Get-Mailbox,Set-Mailbox"},
		{"never forwarded", "mailbox:ana@contoso.example", "", "false mailbox ana@contoso.example forwards nowhere, nothing to stop", "Get-Mailbox"},
		{"an unknown mailbox: Exchange's words", "mailbox:zed@contoso.example", "",
			"fail not_found: exchange online Get-Mailbox zed@contoso.example: HTTP 404 NotFound ManagementObjectNotFoundException: The operation couldn't be performed because object 'zed@contoso.example' couldn't be found on",
			"Get-Mailbox"},
	}
	for i, s := range steps {
		f.mu.Lock()
		f.calls = nil
		f.mu.Unlock()
		if got := run(c, req("fw", typ, s.target, `{}`), s.resume); !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
		if got := f.cmdlets(); got != s.cmdlets {
			t.Errorf("%s: cmdlets %q, want %q", s.name, got, s.cmdlets)
		}
		if i == 0 {
			if p := f.last("Get-Mailbox").Params; len(p) != 1 || string(p["Identity"]) != `"bob@contoso.example"` {
				t.Errorf("Get-Mailbox parameters %s", params(p))
			}
			p := f.last("Set-Mailbox").Params
			want := map[string]string{"Identity": `"bob@contoso.example"`, "ForwardingSmtpAddress": "null", "ForwardingAddress": "null",
				"DeliverToMailboxAndForward": "false"}
			if len(p) != len(want) {
				t.Errorf("Set-Mailbox parameters %s, want %v", params(p), want)
			}
			for k, v := range want {
				if string(p[k]) != v {
					t.Errorf("Set-Mailbox %s = %s, want %s", k, p[k], v)
				}
			}
		}
	}
}

// TestInvokeCommandHeaders: the module's routing headers, on every call.
func TestInvokeCommandHeaders(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	run(client(t, f), req("h", "mailbox.disable_external_forwarding", "mailbox:bob@contoso.example", `{}`), "")
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	for _, c := range f.calls {
		h := c.Header
		if h.Get("X-CmdletName") != c.Cmdlet || h.Get("X-AnchorMailbox") != "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"+org ||
			h.Get("X-ResponseFormat") != "json" || h.Get("Prefer") != "odata.maxpagesize=1000" || h.Get("Accept") != "application/json" ||
			!uuid.MatchString(h.Get("client-request-id")) {
			t.Errorf("%s headers %v", c.Cmdlet, h)
		}
		ids[h.Get("client-request-id")] = true
	}
	if len(f.calls) != 2 || len(ids) != 2 {
		t.Errorf("%d calls with %d request ids, want 2 and 2", len(f.calls), len(ids))
	}
}

// TestEXOAnswers: what the activity does with each kind of answer.
func TestEXOAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inject func(t *testing.T) func(cmdlet string) (int, http.Header, string)
		want   string
	}{
		{"400 for a bad parameter: invalid, quoting the cmdlet", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(string) (int, http.Header, string) { return 400, nil, testdata(t, "error-bad-parameter.json") }
		}, "fail invalid: exchange online Get-Mailbox bob@contoso.example: HTTP 400 BadRequest ParameterBindingException: A parameter cannot be found that matches parameter name 'ForwardSmtpAddress'."},
		{"403 without the Exchange role: forbidden", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(c string) (int, http.Header, string) {
				if c == "Set-Mailbox" {
					return 403, nil, testdata(t, "error-forbidden.json")
				}
				return 0, nil, ""
			}
		}, `fail forbidden: exchange online Set-Mailbox bob@contoso.example: HTTP 403 Forbidden AccessDeniedException: The user "air-remediation" isn't assigned to any management roles that allow running Set-Mailbox.`},
		{"401 again after a fresh token (no Exchange.ManageAsApp): forbidden", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(string) (int, http.Header, string) { return 401, nil, testdata(t, "error-unauthorized.json") }
		}, "fail forbidden: exchange online Get-Mailbox bob@contoso.example: HTTP 401 Unauthorized: The access token is expired or invalid."},
		{"429 with Retry-After: retry after it", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(string) (int, http.Header, string) {
				return 429, http.Header{"Retry-After": {"7"}}, testdata(t, "error-throttled.json")
			}
		}, "retry after 7s: exchange online Get-Mailbox bob@contoso.example: HTTP 429 TooManyRequests ThrottlingException: The request was throttled. Try again later. (retry after 7s)"},
		{"500: retry", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(string) (int, http.Header, string) {
				return 500, nil, `{"error":{"code":"InternalServerError","message":"An internal server error occurred. The operation failed."}}`
			}
		}, "retry: exchange online Get-Mailbox bob@contoso.example: HTTP 500 InternalServerError: An internal server error occurred."},
		{"503 HTML from a front end: retry", func(t *testing.T) func(string) (int, http.Header, string) {
			return func(string) (int, http.Header, string) { return 503, nil, "<html>Service Unavailable</html>" }
		}, "retry: exchange online Get-Mailbox bob@contoso.example: HTTP 503: service unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.inject = tt.inject(t)
			got := run(client(t, f), req("e", "mailbox.disable_external_forwarding", "mailbox:bob@contoso.example", `{}`), "")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestTokenRenewal: a 401 gets one fresh token and one retry; a refused
// client secret is forbidden, quoting the identity platform.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := client(t, f)
	run(c, req("a", "mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`), "")
	f.mu.Lock()
	f.expireNow = true
	f.mu.Unlock()
	if got := run(c, req("a", "mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`), ""); !strings.HasPrefix(got, "false mailbox ana@contoso.example forwards nowhere") {
		t.Errorf("after an expired token: %q", got)
	}
	if f.tokens != 2 {
		t.Errorf("%d tokens acquired, want 2 (one renewal)", f.tokens)
	}
	c.API.Token = &rest.ClientCredentials{TokenURL: c.API.Token.(*rest.ClientCredentials).TokenURL, ClientID: "app-1",
		Secret: rest.NewSecret("wrong"), Scope: exo.Scope}
	got := run(c, req("a", "mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`), "")
	if !strings.HasPrefix(got, "fail forbidden") || !strings.Contains(got, "AADSTS7000215") || strings.Contains(got, "wrong") {
		t.Errorf("a refused secret: %q", got)
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	got := strings.Join(exo.Types(), ",")
	if got != "email.block_sender,email.unblock_sender,mailbox.disable_external_forwarding" {
		t.Errorf("Types() = %s", got)
	}
}
