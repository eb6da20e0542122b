package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Slack posts to a Slack incoming webhook (docs/notifications.md has the
// contract): a JSON body with text (the notification's fallback) and one
// section block in mrkdwn. Slack answers 200 with the body "ok"; 400
// (invalid_payload, user_not_found, no_text), 403 (action_prohibited),
// 404 (channel_not_found, no_service) and 410 (channel_is_archived) are
// permanent; 429 comes with Retry-After; 500 (rollup_error) and other
// server errors are worth another try.
type Slack struct {
	URL string
	Now func() time.Time
}

// slackTextLimit is the most characters a section block's text takes.
const slackTextLimit = 3000

// Send posts the message.
func (s *Slack) Send(ctx context.Context, m Outgoing) error {
	body, err := json.Marshal(slackPayload(m))
	if err != nil {
		return permanent("encode slack message: %v", err)
	}
	status, h, answer, err := post(ctx, s.URL, body)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		return nil
	}
	return httpOutcome("slack", status, h, answer, now(s.Now))
}

func slackPayload(m Outgoing) map[string]any {
	text := "*" + slackEscape(m.Subject) + "*"
	if m.Text != "" {
		text += "\n" + slackEscape(m.Text)
	}
	return map[string]any{
		// text is the notification's fallback (and what screen readers
		// and push notifications show); the block is what the channel shows.
		"text": truncate(m.Subject, slackTextLimit),
		"blocks": []any{map[string]any{
			"type": "section",
			"text": map[string]any{"type": "mrkdwn", "text": truncate(text, slackTextLimit)},
		}},
	}
}

// slackEscape escapes the three characters Slack's message formatting
// gives meaning to, so that an alert title cannot mention @channel or
// forge a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Teams posts to a Microsoft Teams webhook: an incoming webhook (a
// Microsoft 365 connector, being retired) or a Workflows webhook (the
// Power Automate trigger "When a Teams webhook request is received").
// Both take an Adaptive Card in a message envelope; incoming webhooks
// also take the legacy MessageCard (Format messagecard). Any 2xx is
// success (incoming webhooks answer 200 with "1", Workflows 202); 429 is
// throttling with Retry-After, and an incoming webhook may also report a
// throttled delivery as 200 with "HTTP error 429" in its body; 5xx is worth
// another try; 400, 404 and 413 (a card over 28 KB) are permanent.
type Teams struct {
	URL    string
	Format string
	Now    func() time.Time
}

// Send posts the message.
func (t *Teams) Send(ctx context.Context, m Outgoing) error {
	var payload any = teamsAdaptive(m)
	if t.Format == FormatMessageCard {
		payload = teamsMessageCard(m)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return permanent("encode teams message: %v", err)
	}
	status, h, answer, err := post(ctx, t.URL, body)
	if err != nil {
		return err
	}
	if status >= 200 && status < 300 {
		if strings.Contains(answer, "HTTP error 429") {
			return &SendError{Throttled: true, RetryAfter: retryAfter(h, now(t.Now)), Err: errorString("teams: " + truncate(answer, 300))}
		}
		return nil
	}
	return httpOutcome("teams", status, h, answer, now(t.Now))
}

type errorString string

func (e errorString) Error() string { return string(e) }

// teamsTextLimit keeps a card well under Teams' 28 KB message limit.
const teamsTextLimit = 20000

func teamsAdaptive(m Outgoing) map[string]any {
	body := []any{map[string]any{"type": "TextBlock", "text": m.Subject, "weight": "Bolder", "size": "Medium", "wrap": true}}
	if m.Text != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": truncate(m.Text, teamsTextLimit), "wrap": true})
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
			},
		}},
	}
}

func teamsMessageCard(m Outgoing) map[string]any {
	return map[string]any{
		"@type":    "MessageCard",
		"@context": "https://schema.org/extensions",
		"summary":  m.Subject,
		"title":    m.Subject,
		"text":     truncate(m.Text, teamsTextLimit),
	}
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now()
}
