// Package exo carries out the remediations only Exchange Online can:
// block and unblock a sender tenant-wide on the Tenant Allow/Block List
// (New-, Get- and Remove-TenantAllowBlockListItems) and stop a mailbox
// forwarding its mail (Get-Mailbox, then Set-Mailbox clearing
// ForwardingSmtpAddress and ForwardingAddress).
//
// Microsoft Graph has neither. The cmdlets are reached through the REST
// endpoint the ExchangeOnlineManagement v3 PowerShell module itself calls:
// POST {base}/adminapi/beta/{tenantId}/InvokeCommand with
// {"CmdletInput": {"CmdletName", "Parameters"}}, the cmdlet's name again
// in X-CmdletName and the organization's system mailbox in
// X-AnchorMailbox for routing. That endpoint backs a supported module but
// is not itself a documented public API: Microsoft may change it with a
// module release. Answers are OData: {"value": [objects]} on success;
// {"error": {"code", "message": "Error executing cmdlet", "details":
// [{"message": "<id>|<exception type>|<text>"}]}} on failure, where the
// exception type says what went wrong (ManagementObjectNotFoundException:
// no such object).
//
// Neither the allow/block list nor Set-Mailbox takes an idempotency key,
// so each action reads first: a block entry for the sender that is
// already there is joined (and recognised as this action's own by the
// marker AIR writes into its Notes), a sender with no block entry has
// nothing to unblock, and a mailbox that forwards nowhere is left alone.
// Before clearing forwarding AIR records what it was in the activity's
// heartbeat, so that the attempt after a crash still reports it.
//
// Tokens come from the Microsoft identity platform's client-credentials
// grant with scope https://outlook.office365.com/.default; the app needs
// the Office 365 Exchange Online application permission Exchange.ManageAsApp
// and an Exchange role assigned to its service principal.
package exo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// Scope is the OAuth scope of Exchange Online.
const Scope = "https://outlook.office365.com/.default"

// DefaultBaseURL is Exchange Online's worldwide endpoint.
const DefaultBaseURL = "https://outlook.office365.com"

// DefaultRateLimit is the client-side limit in calls per minute. Microsoft
// publishes no number for this endpoint; 60 leaves room for the analysts'
// own PowerShell sessions, which share the tenant's Exchange budget.
const DefaultRateLimit = 60

// systemMailbox is the arbitration mailbox the module anchors app-only
// requests on, in every organization (X-AnchorMailbox UPN:…@{org}).
const systemMailbox = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"

// Client is an Exchange Online connector.
type Client struct {
	// API calls Exchange Online (BaseURL without the path, token, limiter).
	API *rest.Client
	// TenantID is the Entra ID tenant (id or domain) in the InvokeCommand
	// address.
	TenantID string
	// Organization is the tenant's initial domain
	// (contoso.onmicrosoft.com), which names the anchor mailbox.
	Organization string
	// Now is the clock an expiry is counted from; nil means time.Now.
	Now func() time.Time
}

var _ remediation.Executor = (*Client)(nil)

var types = []string{"email.block_sender", "email.unblock_sender", "mailbox.disable_external_forwarding"}

// Types lists the action types the connector carries out.
func Types() []string { return slices.Clone(types) }

// Execute carries out one remediation.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	if !slices.Contains(types, req.Type) {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "exchange online cannot carry out %s", req.Type)
	}
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	kind, id, _ := strings.Cut(string(req.Target), ":")
	if domain.EntityKind(kind) != domain.KindMailbox || id == "" {
		return remediation.Result{}, domain.Invalid("target", "%s needs a mailbox target, got %q", req.Type, req.Target)
	}
	switch req.Type {
	case "email.block_sender":
		return c.blockSender(ctx, req, id, params)
	case "email.unblock_sender":
		return c.unblockSender(ctx, id)
	default:
		return c.stopForwarding(ctx, req, id)
	}
}

// page is an InvokeCommand answer: the cmdlet's output objects, and the
// warnings it wrote.
type page[T any] struct {
	Value    []T      `json:"value"`
	Warnings []string `json:"@adminapi.warnings"`
}

// invoke runs one cmdlet and returns its output objects (the first page:
// AIR's cmdlets name one object, which fits in it). Errors say which cmdlet on which object, and quote what
// Exchange answered (see cmdletError).
func invoke[T any](ctx context.Context, c *Client, cmdlet, object string, params map[string]any) ([]T, error) {
	h := http.Header{}
	h.Set("X-CmdletName", cmdlet)
	h.Set("X-AnchorMailbox", "UPN:"+systemMailbox+"@"+c.Organization)
	h.Set("X-ResponseFormat", "json")
	h.Set("Prefer", "odata.maxpagesize=1000")
	h.Set("client-request-id", requestID())
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}}
	var p page[T]
	path := "/adminapi/beta/" + url.PathEscape(c.TenantID) + "/InvokeCommand"
	if err := c.API.DoWith(ctx, http.MethodPost, path, h, body, &p); err != nil {
		return nil, explain(cmdlet, object, err)
	}
	return p.Value, nil
}

// requestID is a random UUID (version 4) for client-request-id, which
// Microsoft support asks for when tracing a call.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// cmdletError is a cmdlet's failure as Exchange Online reported it: the
// HTTP answer (whose kind and Retry-After decide the retry, see
// rest.StatusError) and the exception the cmdlet threw.
type cmdletError struct {
	cmdlet, object string
	se             *rest.StatusError
	// exception is the short name of the cmdlet's exception
	// (ManagementObjectNotFoundException), text what it said.
	exception, text string
	// kind overrides the answer's status when the exception says more
	// than the status does (an unknown object answered with a 400).
	kind domain.ErrorKind
}

func (e *cmdletError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exchange online %s %s: HTTP %d", e.cmdlet, e.object, e.se.Status)
	if e.se.Code != "" {
		b.WriteString(" " + e.se.Code)
	}
	if e.exception != "" {
		b.WriteString(" " + e.exception)
	}
	b.WriteString(": " + e.text)
	if e.se.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.se.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the kind the exception implies, if any, and the HTTP
// answer (its kind, its retry delay).
func (e *cmdletError) Unwrap() []error {
	if e.kind != "" {
		return []error{domain.Errorf(e.kind, "%s", e.text), e.se}
	}
	return []error{e.se}
}

// explain turns a failed InvokeCommand into an error that names the
// cmdlet and quotes Exchange: the details' "<id>|<exception>|<text>"
// when there are any, else the error's message.
func explain(cmdlet, object string, err error) error {
	var se *rest.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("exchange online %s %s: %w", cmdlet, object, err)
	}
	e := &cmdletError{cmdlet: cmdlet, object: object, se: se, text: se.Message}
	for _, d := range se.Details {
		parts := strings.SplitN(d, "|", 3)
		if len(parts) == 3 {
			e.exception = parts[1][strings.LastIndex(parts[1], ".")+1:]
			e.text = strings.TrimSpace(parts[2])
		} else {
			e.text = d
		}
		break
	}
	if e.text == "" {
		e.text = strings.ToLower(http.StatusText(se.Status))
	}
	if e.exception == "ManagementObjectNotFoundException" && se.Kind() != "" {
		e.kind = domain.KindNotFound
	}
	return e
}

// notFound reports whether err says the cmdlet's object does not exist.
func notFound(err error) bool { return domain.KindOf(err) == domain.KindNotFound }
