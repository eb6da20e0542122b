package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
)

// notifications is `starter notifications list|test` (admin): the
// delivery history of the notification channels, and a test message.
func notifications(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"notifications: missing subcommand (list, test)"}
	}
	switch args[0] {
	case "list":
		return notificationsList(ctx, env, args[1:])
	case "test":
		return notificationsTest(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "notifications "+args[0])}
}

func notificationsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "notifications list")
	filters := map[string]*string{
		"status":     fs.String("status", "", "queued, sent, failed; comma-separated"),
		"channel":    fs.String("channel", "", "channels, comma-separated"),
		"rule":       fs.String("rule", "", "rules, comma-separated"),
		"incidentId": fs.String("incident", "", "one incident's messages"),
		"key":        fs.String("key", "", "one event key, such as incident.created:42"),
		"limit":      fs.String("limit", "", "rows (at most 1000; default 100)"),
		"offset":     fs.String("offset", "", "rows to skip"),
	}
	out := outputFlag(fs, "table", "table|json")
	if _, err := parsePositional(fs, args, out, "table|json", "no argument (filters are flags)", func(n int) bool { return n == 0 }); err != nil {
		return err
	}
	var page domain.NotificationPage
	if table, err := listPage(ctx, env, "/api/v1/notifications", url.Values{}, filters, *out, &page); err != nil || !table {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUED\tCHANNEL\tRULE\tINCIDENT\tSTATUS\tATTEMPTS\tSENT / NEXT\tSUBJECT\tLAST ERROR")
	for _, n := range page.Value {
		rule, inc := n.Rule, "-"
		if rule == "" {
			rule = "(direct)"
		}
		if n.IncidentID != nil {
			inc = fmt.Sprint(*n.IncidentID)
		}
		when := "-"
		switch {
		case n.SentAt != nil:
			when = n.SentAt.UTC().Format(time.DateTime)
		case n.Status == domain.NotificationQueued:
			when = "next " + n.NextAttempt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", n.ID, n.CreatedAt.UTC().Format(time.DateTime), n.Channel, rule, inc,
			n.Status, n.Attempts, when, oneLine(n.Subject, 60), oneLine(n.LastError, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Total > page.Offset+len(page.Value) {
		fmt.Fprintf(env.Stdout, "%d of %d; --offset %d for more\n", len(page.Value), page.Total, page.Offset+len(page.Value))
	}
	return nil
}

func notificationsTest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "notifications test")
	out := outputFlag(fs, "table", "table|json")
	channel, err := parseOne(fs, args, out, "table|json", "one channel")
	if err != nil {
		return err
	}
	body, _ := json.Marshal(api.NotificationTestBody{Channel: strings.TrimSpace(channel)})
	var n domain.Notification
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/notifications/test", body, &n); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, n)
		return nil
	}
	switch n.Status {
	case domain.NotificationSent:
		fmt.Fprintf(env.Stdout, "test message %d sent to %s\n", n.ID, n.Channel)
		return nil
	case domain.NotificationFailed:
		return fmt.Errorf("test message %d to %s failed: %s", n.ID, n.Channel, n.LastError)
	}
	msg := fmt.Sprintf("test message %d to %s is still queued after %d attempts", n.ID, n.Channel, n.Attempts)
	if n.LastError != "" {
		msg += " (last error: " + n.LastError + ")"
	}
	return fmt.Errorf("%s; follow it with: starter notifications list --key %s", msg, n.Key)
}
