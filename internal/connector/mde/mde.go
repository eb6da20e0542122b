// Package mde carries out remediations with Microsoft Defender for
// Endpoint machine actions: isolate and release a device, restrict and
// unrestrict app execution, run an antivirus scan, collect an investigation
// package, stop and quarantine a file; through live response, kill a
// process and remove a persistence mechanism (liveresponse.go); and with
// custom indicators: block a
// file hash, an IP address or a URL (domain) and lift the block
// (indicators.go).
//
// Defender for Endpoint has no idempotency key, and a machine action runs
// on the device long after the POST returns. So that a retried activity
// does not act twice, Client.Execute
//
//  1. resumes the machine action a failed attempt started (its id travels
//     in the activity's heartbeat details);
//  2. otherwise looks for a machine action of the same type on the same
//     machine whose comment carries this action's marker ("AIR incident 12
//     action 3f1c…") — a POST that went through before a crash — and
//     resumes that;
//  3. otherwise POSTs, with the mandatory comment naming incident and action;
//  4. treats 400 "Action is already in progress" as the pre-check it is:
//     someone (an analyst, another tool) already asked for the same thing,
//     so AIR joins that machine action and reports that it changed nothing;
//  5. polls GET /api/machineactions/{id} until Succeeded, Failed, TimeOut or
//     Cancelled, heartbeating the activity with the id.
//
// Succeeded is success; Failed, TimeOut and Cancelled are permanent
// failures (kind conflict: the device did not carry it out). A poll that
// outlasts PollTimeout returns a retryable error; the next attempt resumes
// the same machine action. Every call waits on the client-side limiter
// (100 calls per minute, 1,500 per hour by default).
package mde

import (
	"cmp"
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
	"github.com/airsoc/air/internal/remediation"
)

// Scope is the OAuth scope of the Defender for Endpoint API.
const Scope = "https://api.securitycenter.microsoft.com/.default"

// DefaultBaseURL is the API's global endpoint.
const DefaultBaseURL = "https://api.security.microsoft.com"

// Limits are the API's documented rate limits per tenant.
var Limits = []rest.Window{{Calls: 100, Per: time.Minute}, {Calls: 1500, Per: time.Hour}}

// Defaults for Client's zero-valued fields.
const (
	DefaultPollInterval = 5 * time.Second
	// DefaultPollTimeout keeps one attempt inside the incident workflow's
	// two-minute StartToCloseTimeout for ExecuteAction.
	DefaultPollTimeout = 100 * time.Second
)

// Machine action statuses.
const (
	Pending    = "Pending"
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
	TimeOut    = "TimeOut"
	Cancelled  = "Cancelled"
)

// MachineAction is the API's MachineAction entity, the fields AIR reads.
type MachineAction struct {
	ID                    string `json:"id"`
	Type                  string `json:"type"`
	Scope                 string `json:"scope,omitempty"`
	Requestor             string `json:"requestor,omitempty"`
	RequestorComment      string `json:"requestorComment,omitempty"`
	Status                string `json:"status"`
	MachineID             string `json:"machineId"`
	ComputerDNSName       string `json:"computerDnsName,omitempty"`
	CreationDateTimeUtc   string `json:"creationDateTimeUtc,omitempty"`
	LastUpdateDateTimeUtc string `json:"lastUpdateDateTimeUtc,omitempty"`
}

func (m *MachineAction) final() bool {
	return m.Status == Succeeded || m.Status == Failed || m.Status == TimeOut || m.Status == Cancelled
}

// Client is a Defender for Endpoint connector.
type Client struct {
	// API calls the Defender for Endpoint API (BaseURL, token, limiter).
	API *rest.Client
	// PollInterval is the wait between two polls of a machine action.
	PollInterval time.Duration
	// PollTimeout bounds the polling of one attempt.
	PollTimeout time.Duration
	// KillProcessScript and RemovePersistenceScript name the live response
	// library scripts for process.kill and persistence.remove
	// (liveresponse.go); empty means the defaults.
	KillProcessScript, RemovePersistenceScript string
	Log                                        logrus.FieldLogger
}

// op is how one AIR action type maps onto a machine action.
type op struct {
	path   string // under /api/machines/{id}/
	maType string // MachineAction.type
	body   func(c *Client, comment string, p map[string]any) map[string]any
}

var ops = map[string]op{
	"device.isolate": {"isolate", "Isolate", func(_ *Client, c string, p map[string]any) map[string]any {
		return map[string]any{"Comment": c, "IsolationType": remediation.StringParam(p, "isolationType", "Full")}
	}},
	"device.release":                       {"unisolate", "Unisolate", commentOnly},
	"device.restrict_app_execution":        {"restrictCodeExecution", "RestrictCodeExecution", commentOnly},
	"device.unrestrict_app_execution":      {"unrestrictCodeExecution", "UnrestrictCodeExecution", commentOnly},
	"device.collect_investigation_package": {"collectInvestigationPackage", "CollectInvestigationPackage", commentOnly},
	"device.run_av_scan": {"runAntiVirusScan", "RunAntiVirusScan", func(_ *Client, c string, p map[string]any) map[string]any {
		return map[string]any{"Comment": c, "ScanType": remediation.StringParam(p, "scanType", "Quick")}
	}},
	"file.stop_and_quarantine": {"StopAndQuarantineFile", "StopAndQuarantineFile", func(_ *Client, c string, p map[string]any) map[string]any {
		return map[string]any{"Comment": c, "Sha1": p["sha1"]}
	}},
	"process.kill": {"runliveresponse", "LiveResponse", func(cl *Client, c string, p map[string]any) map[string]any {
		return liveResponse(c, cmp.Or(cl.KillProcessScript, DefaultKillProcessScript), killArgs(p))
	}},
	"persistence.remove": {"runliveresponse", "LiveResponse", func(cl *Client, c string, p map[string]any) map[string]any {
		return liveResponse(c, cmp.Or(cl.RemovePersistenceScript, DefaultRemovePersistenceScript), persistenceArgs(p))
	}},
}

func commentOnly(_ *Client, c string, _ map[string]any) map[string]any {
	return map[string]any{"Comment": c}
}

// Types lists the action types the connector carries out.
func Types() []string {
	out := make([]string, 0, len(ops)+len(indicatorOps))
	for t := range ops {
		out = append(out, t)
	}
	for t := range indicatorOps {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

var _ remediation.Executor = (*Client)(nil)

// Execute carries out one remediation as a machine action and waits for it.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	if _, ok := indicatorOps[req.Type]; ok {
		return c.indicator(ctx, req, params)
	}
	o, ok := ops[req.Type]
	if !ok {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "defender for endpoint cannot carry out %s", req.Type)
	}
	machine, err := c.machineID(ctx, req, params)
	if err != nil {
		return remediation.Result{}, err
	}
	if req.Type == "persistence.remove" && (remediation.StringParam(params, "kind", "") == "" || remediation.StringParam(params, "name", "") == "") {
		return remediation.Result{}, domain.Invalid("params", "persistence.remove needs kind and name")
	}
	marker := remediation.Marker(req.IncidentID, req.ActionID)
	comment := marker + " (" + req.Type + ")"
	if s := remediation.StringParam(params, "comment", ""); s != "" {
		comment += ": " + s
	}

	// 1. An earlier attempt of this activity started a machine action.
	if id, joined := resumeID(ctx); id != "" {
		return c.follow(ctx, id, joined, "resumed")
	}
	// 2. A POST went through before a crash: its comment carries our marker.
	prior, err := c.list(ctx, machine, o.maType)
	if err != nil {
		return remediation.Result{}, err
	}
	for _, ma := range prior {
		if strings.Contains(ma.RequestorComment, marker+" (") {
			return c.follow(ctx, ma.ID, false, "found")
		}
	}
	// 3. Ask.
	var ma MachineAction
	err = c.API.Do(ctx, http.MethodPost, "/api/machines/"+url.PathEscape(machine)+"/"+o.path, o.body(c, comment, params), &ma)
	if err == nil {
		if ma.ID == "" {
			return remediation.Result{}, fmt.Errorf("mde %s on %s: answer has no machine action id", o.path, machine)
		}
		remediation.Heartbeat(ctx, ma.ID)
		return c.follow(ctx, ma.ID, false, "")
	}
	// 4. Someone asked already: join their machine action. Not a live
	// response session, though: another one runs someone else's commands,
	// so AIR waits for it to end and asks again.
	if !AlreadyInProgress(err) {
		return remediation.Result{}, err
	}
	if o.maType == "LiveResponse" {
		return remediation.Result{}, fmt.Errorf("mde %s on %s: another live response session is running on the device; will retry", req.Type, machine)
	}
	running, lerr := c.list(ctx, machine, o.maType)
	if lerr != nil {
		return remediation.Result{}, lerr
	}
	for _, ma := range running {
		if ma.Status == Pending || ma.Status == InProgress {
			remediation.Heartbeat(ctx, joinedPrefix+ma.ID)
			return c.follow(ctx, ma.ID, true, "")
		}
	}
	return remediation.Result{}, fmt.Errorf("mde %s on %s: already in progress, but no pending %s action was listed; will retry",
		o.path, machine, o.maType)
}

// AlreadyInProgress reports whether err is Defender for Endpoint's
// 400 "Action is already in progress" (code ActiveRequestAlreadyExists).
func AlreadyInProgress(err error) bool {
	var se *rest.StatusError
	return errors.As(err, &se) && se.Status == http.StatusBadRequest &&
		(se.Code == "ActiveRequestAlreadyExists" || strings.Contains(strings.ToLower(se.Message), "already in progress"))
}

// machineID finds the machine to act on: the device target's id, or for a
// file the deviceId parameter. An id that is not a Defender for Endpoint id
// (40 hex digits) is taken for a DNS name and looked up.
func (c *Client) machineID(ctx context.Context, req remediation.Request, p map[string]any) (string, error) {
	kind, id, _ := strings.Cut(string(req.Target), ":")
	switch domain.EntityKind(kind) {
	case domain.KindDevice:
	case domain.KindProcess:
		// process:<mdeDeviceId>:<pid>:<created>
		parts := strings.SplitN(id, ":", 3)
		if len(parts) < 2 || parts[0] == "" || strings.Trim(parts[1], "0123456789") != "" || parts[1] == "" {
			return "", domain.Invalid("target", "%s needs a process target (process:<mdeDeviceId>:<pid>:<created>), got %q", req.Type, req.Target)
		}
		id, p["processId"] = parts[0], parts[1]
	case domain.KindFile:
		sha1 := remediation.StringParam(p, "sha1", "")
		if sha1 == "" && len(id) == 40 {
			sha1 = id
		}
		if sha1 == "" {
			return "", domain.Invalid("params.sha1", "%s on defender for endpoint needs the file's sha1 (the target %s is keyed by another hash)", req.Type, req.Target)
		}
		p["sha1"] = sha1
		if id = remediation.StringParam(p, "deviceId", ""); id == "" {
			return "", domain.Invalid("params.deviceId", "%s on defender for endpoint needs deviceId, the machine the file is on", req.Type)
		}
	default:
		return "", domain.Invalid("target", "%s needs a device target, got %q", req.Type, req.Target)
	}
	if id == "" {
		return "", domain.Invalid("target", "%s needs a device target, got %q", req.Type, req.Target)
	}
	return c.resolveMachine(ctx, id)
}

// resolveMachine returns a machine id as it is, and looks a DNS name up.
func (c *Client) resolveMachine(ctx context.Context, id string) (string, error) {
	if isMachineID(id) {
		return id, nil
	}
	var page struct {
		Value []struct{ ID, ComputerDNSName string }
	}
	q := url.Values{"$filter": {"computerDnsName eq '" + strings.ReplaceAll(id, "'", "''") + "'"}}
	if err := c.API.Do(ctx, http.MethodGet, "/api/machines?"+q.Encode(), nil, &page); err != nil {
		return "", err
	}
	if len(page.Value) == 0 {
		return "", domain.Errorf(domain.KindNotFound, "defender for endpoint has no machine named %s", id)
	}
	return page.Value[0].ID, nil
}

func isMachineID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range strings.ToLower(s) {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// list returns the machine's machine actions of one type, newest first as
// the API orders them.
func (c *Client) list(ctx context.Context, machine, maType string) ([]MachineAction, error) {
	q := url.Values{"$filter": {"machineId eq '" + machine + "' and type eq '" + maType + "'"}}
	return rest.ListOData[MachineAction](ctx, c.API, "/api/machineactions?"+q.Encode())
}

// follow polls a machine action until it is final or the attempt's budget
// is spent.
func (c *Client) follow(ctx context.Context, id string, joined bool, how string) (remediation.Result, error) {
	interval, budget := c.PollInterval, c.PollTimeout
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if budget <= 0 {
		budget = DefaultPollTimeout
	}
	// Polls share one deadline, so that a throttled or rate-limited poll
	// ends the attempt in time for the next one to resume.
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var ma MachineAction
	still := func() error {
		status := ma.Status
		if status == "" {
			status = "unknown"
		}
		return fmt.Errorf("mde machine action %s still %s after %s; the next attempt resumes it", id, status, budget)
	}
	for {
		err := c.API.Do(pctx, http.MethodGet, "/api/machineactions/"+url.PathEscape(id), nil, &ma)
		var se *rest.StatusError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return remediation.Result{}, err
		case pctx.Err() != nil:
			return remediation.Result{}, still()
		case errors.As(err, &se) && se.RetryAfter > 0 && se.RetryAfter < budget:
			// Throttled while polling: the limiter now holds calls back for
			// the Retry-After; the next poll waits for it, or the attempt
			// ends at the deadline and the next one resumes.
		default:
			return remediation.Result{}, err
		}
		if joined {
			remediation.Heartbeat(ctx, joinedPrefix+id)
		} else {
			remediation.Heartbeat(ctx, id)
		}
		if err == nil && ma.final() {
			break
		}
		if err := rest.SleepContext(pctx, interval); err != nil {
			if ctx.Err() != nil {
				return remediation.Result{}, ctx.Err()
			}
			return remediation.Result{}, still()
		}
	}
	if c.Log != nil {
		c.Log.WithFields(logrus.Fields{"machineAction": id, "type": ma.Type, "status": ma.Status, "joined": joined}).
			Info("machine action finished")
	}
	where := ma.ComputerDNSName
	if where == "" {
		where = ma.MachineID
	}
	what := ma.Type
	if ma.Scope != "" {
		what += " (" + ma.Scope + ")"
	}
	if ma.Status != Succeeded {
		return remediation.Result{}, domain.Errorf(domain.KindConflict, "defender for endpoint machine action %s: %s on %s ended %s",
			id, what, where, ma.Status)
	}
	summary := fmt.Sprintf("%s succeeded on %s (machine action %s)", what, where, id)
	switch {
	case joined:
		summary = fmt.Sprintf("already in progress: joined machine action %s requested by %s; %s succeeded on %s",
			id, ma.Requestor, what, where)
		if how != "" {
			summary += ", " + how + " after a retry"
		}
	case how != "":
		summary += ", " + how + " after a retry"
	}
	return remediation.Result{Summary: summary, Changed: !joined}, nil
}

const joinedPrefix = "joined:"

// resumeID returns the machine action a previous attempt left in its
// heartbeat, and whether AIR had joined it rather than asked for it.
func resumeID(ctx context.Context) (id string, joined bool) {
	detail, ok := remediation.Resumed(ctx)
	if !ok {
		return "", false
	}
	id, joined = strings.CutPrefix(detail, joinedPrefix)
	return id, joined
}
