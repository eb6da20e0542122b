package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// ActionType is the playbook action that sends a notification.
const ActionType = "incident.notify"

// Executor carries out incident.notify steps: it queues the step's message
// for its channels and returns; the Service sends it. It is idempotent by
// action id: the message's key is the action's, so a retried or replayed
// step queues nothing new.
type Executor struct {
	Service *Service
}

var _ remediation.Executor = (*Executor)(nil)

// Execute queues the message (MessageOf). An unknown channel is an
// invalid request, which retrying cannot fix.
func (e *Executor) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	if e.Service == nil || e.Service.Config == nil {
		return remediation.Result{}, domain.Invalid("channel",
			"no notification channels are configured: start the worker with -notify FILE (docs/notifications.md)")
	}
	m, err := MessageOf(req, e.Service.Config.BaseURL)
	if err != nil {
		return remediation.Result{}, err
	}
	n, err := e.Service.Enqueue(ctx, m)
	if err != nil {
		return remediation.Result{}, err
	}
	summary := "queued for " + strings.Join(m.Channels, ", ")
	if n == 0 {
		summary = "already queued for " + strings.Join(m.Channels, ", ")
	}
	return remediation.Result{Summary: summary, Changed: n > 0}, nil
}

// MessageOf reads an incident.notify request's message. Parameters:
// channel (one name) and/or channels (a list), subject (default
// "[AIR] Incident <id>") and text, to which a link to the incident under
// baseURL is added when baseURL is set. The key is the action's id.
func MessageOf(req remediation.Request, baseURL string) (Message, error) {
	if req.Type != ActionType {
		return Message{}, domain.Invalid("type", "the notification executor carries out %s, not %s", ActionType, req.Type)
	}
	if req.ActionID == "" {
		return Message{}, domain.Invalid("actionId", "%s needs an action id: it is the message's key", ActionType)
	}
	p, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return Message{}, domain.Invalid("params", "%v", err)
	}
	channels, err := channelParams(p)
	if err != nil {
		return Message{}, err
	}
	subject, _ := p["subject"].(string)
	text, _ := p["text"].(string)
	if strings.TrimSpace(subject) == "" {
		subject = fmt.Sprintf("[AIR] Incident %d", req.IncidentID)
	}
	if baseURL != "" && req.IncidentID != 0 {
		text = strings.TrimRight(text, "\n") + fmt.Sprintf("\n\nOpen: %s/incidents/%d", baseURL, req.IncidentID)
	}
	return Message{Key: ActionType + ":" + req.ActionID, Channels: channels, Subject: subject, Text: text,
		IncidentID: req.IncidentID}, nil
}

// channelParams reads channel and channels into one list without repeats.
func channelParams(p map[string]any) ([]string, error) {
	var out []string
	if c, ok := p["channel"].(string); ok && c != "" {
		out = append(out, c)
	}
	switch l := p["channels"].(type) {
	case nil:
	case []any:
		for i, v := range l {
			s, ok := v.(string)
			if !ok {
				return nil, domain.Invalid(fmt.Sprintf("channels[%d]", i), "want a channel name")
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	default:
		return nil, domain.Invalid("channels", "want a list of channel names")
	}
	if len(out) == 0 {
		return nil, domain.Invalid("channel", "%s needs channel or channels: the notification channels to send to", ActionType)
	}
	return out, nil
}
