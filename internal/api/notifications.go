package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// Notifier is the notification service the API reaches: its channels and
// a test message; *notify.Service is one.
type Notifier interface {
	Channels() []string
	Test(ctx context.Context, channel, by string, wait time.Duration) (*domain.Notification, error)
}

// NotificationFilters are GET /api/v1/notifications' query parameters.
var NotificationFilters = []string{"status", "channel", "rule", "incidentId", "key", "limit", "offset"}

// ParseNotificationQuery turns GET /api/v1/notifications' parameters into a
// store query:
//
//	status, channel, rule   lists (comma-separated or repeated)
//	incidentId, key         one each
//	limit, offset           paging (limit 1 to 1000, default 100)
func ParseNotificationQuery(r *http.Request) (records.NotificationQuery, error) {
	v := r.URL.Query()
	var q records.NotificationQuery
	for name := range v {
		if !slices.Contains(NotificationFilters, name) {
			return q, domain.Invalid(name, "unknown filter; want one of %s", strings.Join(NotificationFilters, ", "))
		}
	}
	for _, s := range splitList(v["status"]) {
		st, err := domain.ParseEnum("status", s, domain.NotificationStatuses, false)
		if err != nil {
			return q, err
		}
		q.Statuses = append(q.Statuses, st)
	}
	q.Channels = splitList(v["channel"])
	q.Rules = splitList(v["rule"])
	q.Key = v.Get("key")
	if s := v.Get("incidentId"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, domain.Invalid("incidentId", "want a positive integer, got %q", s)
		}
		q.IncidentID = n
	}
	var err error
	if q.Limit, err = intValue(v, "limit", 1, MaxPage); err != nil {
		return q, err
	}
	if q.Offset, err = intValue(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	return q, nil
}

// Notifications is the delivery history for admins: every message to
// every channel, with its status, attempts and last error. It names
// incidents of every device group, so it is for unscoped admins only.
func (s *Server) Notifications(ctx context.Context, p *auth.Principal, q records.NotificationQuery) (*domain.NotificationPage, error) {
	if err := p.Require(auth.Admin); err != nil {
		return nil, err
	}
	return s.Store.QueryNotifications(ctx, q)
}

// NotificationChannels lists the configured channels (none without a
// notifications file).
func (s *Server) NotificationChannels() []string {
	if s.Notifier == nil {
		return nil
	}
	return s.Notifier.Channels()
}

// listNotifications answers GET /api/v1/notifications (admin).
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseNotificationQuery(r)
	if err != nil {
		return err
	}
	page, err := s.Notifications(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

// NotificationTestBody is POST /api/v1/notifications/test's body.
type NotificationTestBody struct {
	Channel string `json:"channel"`
}

// testWait is how long a test message is waited for before the answer
// says it is still queued.
const testWait = 15 * time.Second

// TestNotification queues a test message to a channel and waits a little
// for the dispatcher's outcome, which it returns.
func (s *Server) TestNotification(ctx context.Context, p *auth.Principal, channel string) (*domain.Notification, error) {
	if err := p.Require(auth.Admin); err != nil {
		return nil, err
	}
	if s.Notifier == nil || len(s.Notifier.Channels()) == 0 {
		return nil, domain.Invalid("channel", "no notification channels are configured: start the worker with -notify FILE (docs/notifications.md)")
	}
	if strings.TrimSpace(channel) == "" {
		return nil, domain.Invalid("channel", "required: one of %s", strings.Join(s.Notifier.Channels(), ", "))
	}
	return s.Notifier.Test(ctx, channel, p.Name, testWait)
}

// testNotification answers POST /api/v1/notifications/test (admin): 200
// with the test message's delivery (sent, failed with the channel's
// answer, or still queued when no dispatcher finished it in time).
func (s *Server) testNotification(w http.ResponseWriter, r *http.Request) error {
	var body NotificationTestBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return jsonError(err)
	}
	n, err := s.TestNotification(r.Context(), auth.FromContext(r.Context()), body.Channel)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}
