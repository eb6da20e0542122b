package web_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// TestNotificationsPageIsForAdmins: the delivery history lists each
// message with its status, attempts and error, escaped, filtered by
// status; only admins reach it, and only they see it in the menu.
func TestNotificationsPageIsForAdmins(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	inc := s.inc
	if _, err := s.st.EnqueueNotifications(ctx, []domain.Notification{
		{Key: "incident.created:1", Rule: "high", Channel: "soc-slack", IncidentID: &inc, Subject: "New incident " + evil},
		{Key: "test:1", Channel: "soc-mail", Subject: "[AIR] Test notification"},
	}); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.st.ClaimNotifications(ctx, storeClaim())
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	for _, n := range claimed {
		if n.Channel == "soc-mail" {
			if _, err := s.st.FinishNotification(ctx, n.ID, n.Claim, failed("permanent: smtp: RCPT TO soc@example.com: 550 no such mailbox")); err != nil {
				t.Fatal(err)
			}
		}
	}

	s.signIn(t, auth.Responder)
	if _, page := s.get(t, "/incidents"); strings.Contains(page, `href="/notifications"`) {
		t.Error("a responder sees the notifications page in the menu")
	}
	if resp, _ := s.get(t, "/notifications"); resp.StatusCode != 403 {
		t.Errorf("a responder on /notifications: HTTP %d, want 403", resp.StatusCode)
	}

	admin, err := (&auth.Service{Store: s.st}).CreateToken(ctx, "test", auth.NewToken{Name: "adam", Role: auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar} // a browser of the admin's own
	s.signInWith(t, admin.Secret)
	resp, page := s.get(t, "/notifications")
	checkPage(t, "the notifications page", page)
	if resp.StatusCode != 200 || !strings.Contains(page, `href="/notifications"`) || strings.Contains(page, "<script>alert") ||
		!strings.Contains(page, "New incident &lt;script&gt;") || !strings.Contains(page, "550 no such mailbox") ||
		!strings.Contains(page, `<span class="status failed">failed</span>`) || !strings.Contains(page, "No notification channel is configured") {
		t.Fatalf("notifications page: HTTP %d\n%s", resp.StatusCode, page)
	}
	_, page = s.get(t, "/notifications?status=failed")
	if strings.Contains(page, "New incident") || !strings.Contains(page, "Test notification") || !strings.Contains(page, "1–1 of 1") {
		t.Errorf("filtered by status failed:\n%s", page)
	}
	if resp, _ := s.get(t, "/notifications?status=lost"); resp.StatusCode != 400 {
		t.Errorf("an unknown status: HTTP %d, want 400", resp.StatusCode)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no anti-forgery field")
	}
	resp, page = s.post(t, "/notifications/test", url.Values{"csrf": {m[1]}, "channel": {"soc-mail"}})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/notifications" || !strings.Contains(page, "no notification channels are configured") {
		t.Errorf("test without channels: HTTP %d at %s\n%s", resp.StatusCode, resp.Request.URL.Path, page)
	}
}

func storeClaim() records.NotificationClaim {
	return records.NotificationClaim{Token: "page-test", Now: time.Now().Add(time.Second), Lease: time.Minute, Limit: 10}
}

func failed(msg string) records.NotificationOutcome {
	return records.NotificationOutcome{Status: domain.NotificationFailed, At: time.Now(), Error: msg}
}
