// Package falcon carries out remediations with the CrowdStrike Falcon
// API: network-contain a host and lift the containment (Hosts API), and
// block a file hash, an IP address or a domain as a custom IOC and lift the
// block (IOC Management API, indicators.go).
//
// Falcon has no idempotency key, and a containment takes effect on the host
// after the POST returns (the host is containment_pending until its sensor
// acts). So that a retried activity does not act twice, Client.Execute
//
//  1. reads the host's status first (GET /devices/entities/devices/v2): a
//     host already in the asked state is left alone ("changed": false), and
//     one already on its way there (containment_pending,
//     lift_containment_pending) is joined, not asked again;
//  2. otherwise records in the activity's heartbeat that it is about to
//     ask, then POSTs /devices/entities/devices-actions/v2, so that the
//     next attempt after a crash knows the pending state it finds is its
//     own (changed: true) and does not ask twice;
//  3. treats a 409 as the pre-check it is: someone asked in the meantime,
//     so AIR reads the status again and joins;
//  4. polls the host until its status is the asked one, heartbeating; an
//     attempt that outlasts PollTimeout returns a retryable error and the
//     next attempt resumes the wait without a second POST.
//
// Falcon's devices-actions request takes no comment, so the action's
// marker ("AIR incident 12 action 3f1c…") travels only in IOC
// descriptions; containments show in Falcon's audit log under the API
// client's name.
//
// Every call waits on the client-side limiter, and rest.Client follows
// Falcon's own rate-limit headers: X-RateLimit-Remaining 0 and a 429's
// X-RateLimit-RetryAfter (an epoch second) hold every later call back.
package falcon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/remediation"
)

// Clouds are the API's base URLs by Falcon cloud.
var Clouds = map[string]string{
	"us-1":     "https://api.crowdstrike.com",
	"us-2":     "https://api.us-2.crowdstrike.com",
	"eu-1":     "https://api.eu-1.crowdstrike.com",
	"us-gov-1": "https://api.laggar.gcw.crowdstrike.com",
}

// DefaultBaseURL is the us-1 cloud's API.
const DefaultBaseURL = "https://api.crowdstrike.com"

// TokenURL is the OAuth2 token endpoint of an API base URL.
func TokenURL(baseURL string) string { return strings.TrimRight(baseURL, "/") + "/oauth2/token" }

// Limits is the client-side limit AIR keeps by default. CrowdStrike
// publishes its per-tenant ceilings only inside the Falcon console; the
// answers' X-RateLimit-Limit and X-RateLimit-Remaining headers say where a
// tenant stands, and rest.Client follows them.
var Limits = []rest.Window{{Calls: 300, Per: time.Minute}}

// Defaults for Client's zero-valued fields.
const (
	DefaultPollInterval = 5 * time.Second
	// DefaultPollTimeout keeps one attempt inside the incident workflow's
	// two-minute StartToCloseTimeout for ExecuteAction.
	DefaultPollTimeout = 100 * time.Second
)

// Host statuses (the device entity's status field).
const (
	Normal                 = "normal"
	Contained              = "contained"
	ContainmentPending     = "containment_pending"
	LiftContainmentPending = "lift_containment_pending"
)

// Device is the Hosts API's device entity, the fields AIR reads.
type Device struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Status   string `json:"status"`
	LastSeen string `json:"last_seen,omitempty"`
}

// Client is a CrowdStrike Falcon connector.
type Client struct {
	// API calls the Falcon API (BaseURL, token, limiter).
	API *rest.Client
	// PollInterval is the wait between two reads of a host's status.
	PollInterval time.Duration
	// PollTimeout bounds the wait of one attempt.
	PollTimeout time.Duration
	// Platforms are the operating systems a hash IOC applies to; empty
	// means windows, mac and linux.
	Platforms []string
	// Now is the clock for IOC expiry; nil means time.Now.
	Now func() time.Time
	Log logrus.FieldLogger
}

// containment is how an AIR action maps onto a host action.
type containment struct {
	action  string // action_name
	want    string // the status it ends in
	pending string // the status on the way there
	other   string // the pending status of the opposite action
}

var containments = map[string]containment{
	"device.isolate": {"contain", Contained, ContainmentPending, LiftContainmentPending},
	"device.release": {"lift_containment", Normal, LiftContainmentPending, ContainmentPending},
}

// Types lists the action types the connector carries out.
func Types() []string {
	out := make([]string, 0, len(containments)+len(iocOps))
	for t := range containments {
		out = append(out, t)
	}
	for t := range iocOps {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

var _ remediation.Executor = (*Client)(nil)

// Execute carries out one remediation.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	if _, ok := iocOps[req.Type]; ok {
		return c.indicator(ctx, req, params)
	}
	op, ok := containments[req.Type]
	if !ok {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "crowdstrike falcon cannot carry out %s", req.Type)
	}
	if t := remediation.StringParam(params, "isolationType", "Full"); req.Type == "device.isolate" && t != "Full" {
		// Falcon has one kind of containment: everything but the Falcon
		// cloud (and the policy's allowlist). Doing more than asked is not
		// AIR's call.
		return remediation.Result{}, domain.Invalid("params.isolationType",
			"crowdstrike falcon contains a host fully; %s isolation is Defender for Endpoint's", t)
	}
	aid, note, err := c.hostID(ctx, req)
	if err != nil {
		return remediation.Result{}, err
	}
	dev, err := c.device(ctx, aid)
	if err != nil {
		return remediation.Result{}, err
	}
	asked := remediation.ResumedWith(ctx, aid)
	switch {
	case asked && (dev.Status == op.pending || dev.Status == op.want):
		return c.follow(ctx, op, dev, true, "asked by this action before a retry"+note)
	case dev.Status == op.want:
		return remediation.Result{Summary: fmt.Sprintf("%s (%s) is already %s%s", dev.Hostname, aid, op.want, note)}, nil
	case dev.Status == op.pending:
		return c.follow(ctx, op, dev, false, "already "+op.pending+": joined"+note)
	case dev.Status == op.other:
		return remediation.Result{}, fmt.Errorf("falcon host %s (%s) is %s; asking for %s now would race it, the next attempt asks again",
			dev.Hostname, aid, dev.Status, op.action)
	}
	remediation.Heartbeat(ctx, aid)
	var reply struct {
		Resources []struct{ ID string } `json:"resources"`
	}
	q := url.Values{"action_name": {op.action}}
	err = c.API.Do(ctx, http.MethodPost, "/devices/entities/devices-actions/v2?"+q.Encode(), map[string]any{"ids": []string{aid}}, &reply)
	var se *rest.StatusError
	switch {
	case err == nil:
		if !slices.ContainsFunc(reply.Resources, func(r struct{ ID string }) bool { return r.ID == aid }) {
			return remediation.Result{}, fmt.Errorf("falcon %s on %s: the answer does not name the host as affected", op.action, aid)
		}
		dev.Status = op.pending // accepted; the sensor acts when it next checks in
		return c.follow(ctx, op, dev, true, note)
	case errors.As(err, &se) && se.Status == http.StatusConflict:
		// Someone asked in the meantime: read again and join.
		dev, derr := c.device(ctx, aid)
		if derr != nil {
			return remediation.Result{}, derr
		}
		if dev.Status == op.want || dev.Status == op.pending {
			return c.follow(ctx, op, dev, false, "already "+dev.Status+" (Falcon answered: "+se.Message+"): joined"+note)
		}
		return remediation.Result{}, err
	}
	return remediation.Result{}, err
}

// hostID finds the host to act on: the device target's id when it is a
// Falcon agent id (32 hex digits), else the host of that name that was
// seen last.
func (c *Client) hostID(ctx context.Context, req remediation.Request) (string, string, error) {
	kind, id, ok := entity.Split(req.Target)
	if !ok || kind != domain.KindDevice || id == "" {
		return "", "", domain.Invalid("target", "%s needs a device target, got %q", req.Type, req.Target)
	}
	if isAID(id) {
		return strings.ToLower(id), "", nil
	}
	q := url.Values{"filter": {"hostname:" + fqlString(id)}, "sort": {"last_seen.desc"}, "limit": {"10"}}
	var page struct {
		Resources []string `json:"resources"`
	}
	if err := c.API.Do(ctx, http.MethodGet, "/devices/queries/devices/v1?"+q.Encode(), nil, &page); err != nil {
		return "", "", err
	}
	switch len(page.Resources) {
	case 0:
		return "", "", domain.Errorf(domain.KindNotFound, "crowdstrike falcon has no host named %s", id)
	case 1:
		return page.Resources[0], "", nil
	}
	return page.Resources[0], fmt.Sprintf(" (%d hosts are named %s; acted on the one seen last)", len(page.Resources), id), nil
}

func isAID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range strings.ToLower(s) {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// fqlString quotes a value for a Falcon Query Language filter.
func fqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// device reads one host.
func (c *Client) device(ctx context.Context, aid string) (Device, error) {
	var page struct {
		Resources []Device `json:"resources"`
	}
	if err := c.API.Do(ctx, http.MethodGet, "/devices/entities/devices/v2?"+url.Values{"ids": {aid}}.Encode(), nil, &page); err != nil {
		return Device{}, err
	}
	for _, d := range page.Resources {
		if strings.EqualFold(d.DeviceID, aid) {
			return d, nil
		}
	}
	return Device{}, domain.Errorf(domain.KindNotFound, "crowdstrike falcon has no host %s", aid)
}

// follow reads the host until it is in the asked state or the attempt's
// budget is spent.
func (c *Client) follow(ctx context.Context, op containment, dev Device, changed bool, how string) (remediation.Result, error) {
	interval, budget := c.PollInterval, c.PollTimeout
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if budget <= 0 {
		budget = DefaultPollTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	aid := dev.DeviceID
	still := func() error {
		return fmt.Errorf("falcon host %s (%s) still %s after %s; the next attempt resumes the wait", dev.Hostname, aid, dev.Status, budget)
	}
	for dev.Status != op.want {
		if dev.Status != op.pending {
			return remediation.Result{}, domain.Errorf(domain.KindConflict, "falcon host %s (%s) went %s while AIR waited for %s",
				dev.Hostname, aid, dev.Status, op.want)
		}
		if changed {
			remediation.Heartbeat(ctx, aid)
		}
		if err := rest.SleepContext(pctx, interval); err != nil {
			if ctx.Err() != nil {
				return remediation.Result{}, ctx.Err()
			}
			return remediation.Result{}, still()
		}
		next, err := c.device(pctx, aid)
		var se *rest.StatusError
		switch {
		case err == nil:
			dev = next
		case ctx.Err() != nil:
			return remediation.Result{}, err
		case pctx.Err() != nil:
			return remediation.Result{}, still()
		case errors.As(err, &se) && se.RetryAfter > 0 && se.RetryAfter < budget:
			// Throttled while waiting: the limiter holds the next read back.
		default:
			return remediation.Result{}, err
		}
	}
	if c.Log != nil {
		c.Log.WithFields(logrus.Fields{"host": aid, "status": dev.Status, "changed": changed}).Info("falcon host action finished")
	}
	summary := fmt.Sprintf("%s (%s) is %s", dev.Hostname, aid, dev.Status)
	if how != "" {
		summary += ", " + strings.TrimPrefix(how, " ")
	}
	return remediation.Result{Summary: summary, Changed: changed}, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
