package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// Notifications is the notification delivery history and the test
// message the pages drive; *api.Server is one. Both are for admins.
type Notifications interface {
	Notifications(ctx context.Context, p *auth.Principal, q records.NotificationQuery) (*domain.NotificationPage, error)
	NotificationChannels() []string
	TestNotification(ctx context.Context, p *auth.Principal, channel string) (*domain.Notification, error)
}

// notesView is the notifications page: the channels, the filters and a
// page of deliveries.
type notesView struct {
	Channels []string
	Statuses []domain.NotificationStatus
	Status   string
	Channel  string
	Rows     []domain.Notification
}

// notifications is GET /notifications (admin): every message queued for
// a notification channel, newest first, with its status, attempts and
// last error, filtered by status and channel; and a form that sends a
// test message to a channel.
func (p *pages) notifications(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	if p.Notes == nil {
		return domain.Errorf(domain.KindNotFound, "no page /notifications")
	}
	in := r.URL.Query()
	vals := url.Values{}
	for _, k := range []string{"status", "channel", "offset"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			vals.Set(k, v)
		}
	}
	vals.Set("limit", strconv.Itoa(pageSize))
	q, err := api.ParseNotificationQuery(&http.Request{URL: &url.URL{RawQuery: vals.Encode()}})
	if err != nil {
		return err
	}
	page, err := p.Notes.Notifications(r.Context(), pr, q)
	if err != nil {
		return err
	}
	nv := &notesView{Channels: p.Notes.NotificationChannels(), Statuses: domain.NotificationStatuses,
		Status: vals.Get("status"), Channel: vals.Get("channel"), Rows: page.Value}
	v := &view{Title: "Notifications", Nav: "notifications", Principal: pr, CSRF: auth.CSRFToken(secretOf(r)),
		Path: "/notifications", Notes: nv}
	v.Page = pager{Total: page.Total, From: page.Offset + 1, To: page.Offset + len(page.Value)}
	link := func(offset int) string {
		b := url.Values{}
		for _, k := range []string{"status", "channel"} {
			if s := vals.Get(k); s != "" {
				b.Set(k, s)
			}
		}
		b.Set("offset", strconv.Itoa(offset))
		return "/notifications?" + b.Encode()
	}
	if page.Offset > 0 {
		v.Page.Prev = link(max(0, page.Offset-pageSize))
	}
	if page.Offset+len(page.Value) < page.Total {
		v.Page.Next = link(page.Offset + pageSize)
	}
	p.render(w, r, http.StatusOK, "notifications", v)
	return nil
}

// testNotification is POST /notifications/test: send a test message to
// the form's channel and say what became of it.
func (p *pages) testNotification(w http.ResponseWriter, r *http.Request) error {
	if p.Notes == nil {
		return domain.Errorf(domain.KindNotFound, "no page /notifications")
	}
	channel := strings.TrimSpace(r.PostFormValue("channel"))
	n, err := p.Notes.TestNotification(r.Context(), auth.FromContext(r.Context()), channel)
	switch {
	case err != nil:
		p.setFlash(w, r, "error", fmt.Sprintf("Could not send a test to %s: %s", channel, p.message(err)))
	case n.Status == domain.NotificationSent:
		p.setFlash(w, r, "ok", fmt.Sprintf("Test message sent to %s.", channel))
	case n.Status == domain.NotificationFailed:
		p.setFlash(w, r, "error", fmt.Sprintf("The test message to %s failed: %s", channel, n.LastError))
	default:
		msg := fmt.Sprintf("The test message to %s is still queued (attempt %d)", channel, n.Attempts)
		if n.LastError != "" {
			msg += ": " + n.LastError
		}
		p.setFlash(w, r, "error", msg+"; the history below follows it.")
	}
	http.Redirect(w, r, "/notifications?channel="+url.QueryEscape(channel), http.StatusSeeOther)
	return nil
}
