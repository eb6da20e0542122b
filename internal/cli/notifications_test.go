package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store/storetest"
)

// testNotifier answers a test by the channel's name: "ok" is sent,
// anything else failed.
type testNotifier struct{}

func (testNotifier) Channels() []string { return []string{"ok", "down"} }

func (testNotifier) Test(_ context.Context, channel, by string, _ time.Duration) (*domain.Notification, error) {
	n := &domain.Notification{ID: 9, Key: "test:x", Channel: channel, Subject: "test by " + by, Status: domain.NotificationSent, Attempts: 1}
	if channel != "ok" {
		n.Status, n.LastError = domain.NotificationFailed, "permanent: slack answered HTTP 404: channel_not_found"
	}
	return n, nil
}

// TestNotificationsCommands: the history as a table and JSON, filtered;
// a test message's outcome in the exit code; viewers are refused.
func TestNotificationsCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.SQLite(t)
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	srv := &api.Server{Store: st, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}, Notifier: testNotifier{}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	token := func(role auth.Role) string {
		c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: string(role), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return c.Secret
	}
	admin := Env{BaseURL: hs.URL, Token: token(auth.Admin)}
	inc := int64(7)
	if _, err := st.EnqueueNotifications(ctx, []domain.Notification{
		{Key: "incident.created:7", Rule: "high", Channel: "ok", IncidentID: &inc, Subject: "[AIR] New high incident 7"},
		{Key: "report:w1", Channel: "down", Subject: "weekly report"},
	}); err != nil {
		t.Fatal(err)
	}
	run := func(env Env, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		code := Run(ctx, env, append([]string{"notifications"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, errs := run(admin, "list")
	if code != 0 || !strings.Contains(out, "LAST ERROR") || !strings.Contains(out, "[AIR] New high incident 7") ||
		!strings.Contains(out, "(direct)") || !strings.Contains(out, "queued") {
		t.Errorf("list: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run(admin, "list", "--channel", "down", "-o", "json")
	var got []domain.Notification
	var page domain.NotificationPage
	if err := json.Unmarshal([]byte(out), &page); err == nil {
		got = page.Value
	}
	if code != 0 || len(got) != 1 || got[0].Key != "report:w1" {
		t.Errorf("list --channel down -o json: exit %d, %+v\n%s%s", code, got, out, errs)
	}
	if code, _, errs := run(admin, "list", "--status", "lost"); code != 1 || !strings.Contains(errs, "status") {
		t.Errorf("list --status lost: exit %d, %s", code, errs)
	}
	if code, out, errs := run(admin, "test", "ok"); code != 0 || !strings.Contains(out, "sent to ok") {
		t.Errorf("test ok: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run(admin, "test", "down"); code != 1 || !strings.Contains(errs, "channel_not_found") {
		t.Errorf("test down: exit %d, %s", code, errs)
	}
	if code, _, errs := run(admin, "test"); code != 2 || !strings.Contains(errs, "one channel") {
		t.Errorf("test without a channel: exit %d, %s", code, errs)
	}
	viewer := Env{BaseURL: hs.URL, Token: token(auth.Viewer)}
	if code, _, errs := run(viewer, "list"); code != 1 || !strings.Contains(errs, "403") {
		t.Errorf("list as a viewer: exit %d, %s", code, errs)
	}
}
