// Package notify sends AIR's notifications: messages to people, by mail
// (SMTP) and to chat (Slack and Microsoft Teams incoming webhooks), when an
// incident is created or escalates, when an action waits for approval too
// long, when a playbook step says so (incident.notify), and for whatever
// else calls Enqueue (reports, questions to people).
//
// Nothing here runs on the path of ingest or of a workflow. Those only
// write rows: the database records every incident created or escalated
// by trigger, in the transaction that made the change (store migration
// 0420), and Enqueue is one insert. A Service in each worker process then
// does the rest on goroutines of its own:
//
//   - the router turns incident events into outbox rows by the rules
//     (severity, service sources, device groups, tags), and scans for
//     actions pending longer than a rule's after;
//   - the dispatcher claims due rows, sends them, and records the outcome,
//     backing off exponentially (and at least as long as a channel's
//     Retry-After) until a message is sent or has used its attempts.
//
// Delivery is at least once: a row is claimed under a lease, and a
// dispatcher that dies mid-send leaves it due again when the lease runs
// out, so another sends it (a message may then arrive twice; mail carries a
// Message-ID from its key so that clients can fold the copies). Two
// dispatchers never hold one row at once (store.ClaimNotifications). Every
// message is unique by (key, rule, channel): an event notifies each rule's
// channel once, however often it is routed. The outbox is the delivery
// history admins read (GET /api/v1/notifications, the notifications page,
// starter notifications list).
//
// Why goroutines and not a Temporal workflow: a message is a row with a
// lease, which gives at-least-once across processes with one UPDATE; a
// workflow per message would cost several history events and task trips
// each, and would make the message depend on Temporal being up, which is
// what a notification about trouble should not.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Message is a message to send to channels outside any rule: a playbook
// step's, a report's, a question to people's.
type Message struct {
	// Key names the message; it is required. The same key queued again
	// to a channel is not sent again, so a retried caller (an activity, a
	// report run twice) sends once: derive it from what the message is
	// about (an action id, a report period).
	Key      string
	Channels []string
	Subject  string
	Text     string
	// IncidentID links the message to an incident in the history; 0
	// means none.
	IncidentID int64
}

// Enqueue queues m for each of its channels and returns how many it
// queued (fewer when some were queued under the same key before). It only
// writes rows: a Service sends them. Channel names are not checked here
// (the store does not know the configuration); (*Service).Enqueue checks
// them, and a row for an unknown channel fails in the history.
func Enqueue(ctx context.Context, st *store.Store, m Message) (int, error) {
	return enqueue(ctx, st, m, time.Time{})
}

// enqueue is Enqueue with the time the rows are made at (zero: now).
func enqueue(ctx context.Context, st *store.Store, m Message, at time.Time) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	ns := make([]domain.Notification, 0, len(m.Channels))
	for _, ch := range m.Channels {
		n := domain.Notification{Key: m.Key, Channel: ch, Subject: oneLine(m.Subject), Text: m.Text, CreatedAt: at}
		if m.IncidentID != 0 {
			id := m.IncidentID
			n.IncidentID = &id
		}
		ns = append(ns, n)
	}
	return st.EnqueueNotifications(ctx, ns)
}

func (m Message) check() error {
	switch {
	case strings.TrimSpace(m.Key) == "":
		return domain.Invalid("key", "a message needs a key (what it is about), so that it is sent once")
	case len(m.Channels) == 0:
		return domain.Invalid("channels", "a message needs one or more channels")
	case strings.TrimSpace(m.Subject) == "" && strings.TrimSpace(m.Text) == "":
		return domain.Invalid("subject", "a message needs a subject or a text")
	}
	return nil
}

// Feed is the in-process change feed (*events.Hub): a committed incident
// change wakes the router at once instead of at its next poll.
type Feed interface {
	Subscribe() (<-chan events.Event, func())
}

// Service routes and sends notifications; see the package comment. Its
// zero value with Store and Config set is ready. Run it in every worker
// process, with the same configuration in each.
type Service struct {
	Store  *store.Store
	Config *Config
	Log    logrus.FieldLogger
	// Feed, when set, wakes the router on committed incident changes.
	Feed Feed
	// Senders replaces the channels' senders by name (tests); nil means
	// the ones the configuration describes.
	Senders map[string]Sender
	// Poll is how often the router and the dispatcher look for work when
	// nothing woke them; 0 means 1s. ScanEvery is how often actions
	// waiting for approval are looked at; 0 means 15s.
	Poll, ScanEvery time.Duration
	// Batch is how many messages one dispatch claims, and Concurrency
	// how many it sends at once; 0 means 16 and 4.
	Batch, Concurrency int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Attach returns the files to send with the message of key (a kept
	// report's page and PDF for its report-run key) to channels that
	// carry files; nil attaches nothing. It is called at each send, so
	// the files are not kept twice in the outbox.
	Attach func(ctx context.Context, key string) ([]Attachment, error)

	once    sync.Once
	senders map[string]Sender
	wake    chan struct{}
	mu      sync.Mutex
	paused  map[string]time.Time // channel → when it may be tried again
}

func (s *Service) init() {
	s.once.Do(func() {
		if s.Config == nil {
			s.Config = &Config{}
		}
		s.wake = make(chan struct{}, 1)
		s.paused = map[string]time.Time{}
		s.senders = map[string]Sender{}
		for name, ch := range s.Config.Channels {
			s.senders[name] = ch.sender(s.Now)
		}
		for name, snd := range s.Senders {
			s.senders[name] = snd
		}
		if s.Log == nil {
			s.Log = logrus.New()
		}
	})
}

func (ch *Channel) sender(clock func() time.Time) Sender {
	switch ch.Type {
	case TypeSMTP:
		return &SMTP{Host: ch.Host, Port: ch.Port, From: ch.From, To: ch.To, Username: ch.Username, Password: ch.password,
			TLS: ch.TLS, RootCAs: ch.RootCAs, Now: clock}
	case TypeSlack:
		return &Slack{URL: ch.url, Now: clock}
	default:
		return &Teams{URL: ch.url, Format: ch.Format, Now: clock}
	}
}

func (s *Service) now() time.Time { return now(s.Now) }

// Enqueue is the package's Enqueue with the channel names checked against
// the configuration; it wakes this process's dispatcher.
func (s *Service) Enqueue(ctx context.Context, m Message) (int, error) {
	s.init()
	if err := m.check(); err != nil {
		return 0, err
	}
	for _, ch := range m.Channels {
		if !s.Config.HasChannel(ch) {
			return 0, domain.Invalid("channels", "no notification channel %q; configured: %s", ch, orNone(s.Config.Names))
		}
	}
	n, err := enqueue(ctx, s.Store, m, s.now())
	if n > 0 {
		s.poke()
	}
	return n, err
}

// Channels lists the configured channels in file order.
func (s *Service) Channels() []string { return s.Config.ChannelNames() }

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run routes and dispatches until ctx ends. Errors (a database that went
// away) are logged and retried at the next poll: notifications must not
// stop the worker.
func (s *Service) Run(ctx context.Context) {
	s.init()
	route := make(chan struct{}, 1)
	if s.Feed != nil {
		feed, cancel := s.Feed.Subscribe()
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		wg.Add(1)
		go func() { // ends when the subscription does: cancel, or the hub closed
			defer wg.Done()
			for e := range feed {
				if e.Kind == events.Incident || e.Overflow {
					select {
					case route <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); s.routeLoop(ctx, route) }()
	go func() { defer loops.Done(); s.dispatchLoop(ctx) }()
	loops.Wait() // both end with ctx
}

func (s *Service) poll() time.Duration { return cmpOr(s.Poll, time.Second) }

func (s *Service) routeLoop(ctx context.Context, wake <-chan struct{}) {
	scanEvery := cmpOr(s.ScanEvery, 15*time.Second)
	lastScan := time.Time{}
	t := time.NewTicker(s.poll())
	defer t.Stop()
	for {
		for {
			n, queued, err := s.RouteEvents(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.WithError(err).Warn("route incident events to notifications")
				}
				break
			}
			if queued > 0 {
				s.poke()
			}
			if n < routeBatch {
				break
			}
		}
		if time.Since(lastScan) >= scanEvery {
			lastScan = time.Now()
			if queued, err := s.ScanWaiting(ctx); err != nil {
				if ctx.Err() == nil {
					s.Log.WithError(err).Warn("look for actions waiting for approval")
				}
			} else if queued > 0 {
				s.poke()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}

func (s *Service) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(s.poll())
	defer t.Stop()
	for {
		n, err := s.Dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.WithError(err).Warn("send notifications")
		}
		if err == nil && n >= s.batch() {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// routeBatch is how many incident events one routing pass reads.
const routeBatch = 500

// RouteEvents turns the oldest incident events into messages by the
// rules and removes them, in one transaction; it returns how many events
// it read and how many messages it queued. Events of incidents that are
// no longer open (merged into another, resolved) notify no one.
func (s *Service) RouteEvents(ctx context.Context) (read, queued int, err error) {
	s.init()
	evs, err := s.Store.IncidentEvents(ctx, routeBatch)
	if err != nil || len(evs) == 0 {
		return 0, 0, err
	}
	ids := make([]int64, 0, len(evs))
	eventIDs := make([]int64, len(evs))
	for i, e := range evs {
		eventIDs[i] = e.ID
		ids = append(ids, e.IncidentID)
	}
	if !s.watchesIncidents() {
		// No rule to match: the events are only cleared away.
		_, err := s.Store.RouteIncidentEvents(ctx, eventIDs, nil)
		return len(evs), 0, err
	}
	briefs, err := s.Store.IncidentBriefs(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	var ns []domain.Notification
	for _, e := range evs {
		b := briefs[e.IncidentID]
		if b == nil || !b.Status.Open() {
			continue
		}
		subj := subjectOf(b)
		subj.Severity = e.Severity // the severity the event left, not a later one
		for _, r := range s.Config.Rules {
			if !r.Watches(e.Kind) || !r.Matches(subj) {
				continue
			}
			subject, text := s.Config.renderIncident(e, b)
			for _, ch := range r.Channels {
				id := b.ID
				ns = append(ns, domain.Notification{Key: incidentEventKey(e), Rule: r.Name, Channel: ch, IncidentID: &id,
					Subject: subject, Text: text, CreatedAt: s.now()})
			}
		}
	}
	queued, err = s.Store.RouteIncidentEvents(ctx, eventIDs, ns)
	return len(evs), queued, err
}

func (s *Service) watchesIncidents() bool {
	for _, r := range s.Config.Rules {
		if r.Watches(OnIncidentCreated) || r.Watches(OnIncidentEscalated) {
			return true
		}
	}
	return false
}

// ScanWaiting queues a message for every action pending longer than a
// rule's after that the rule matches and has not told of yet; it returns
// how many it queued. Actions a rule's filters leave out are read again
// at the next scan (their incident may have changed), a page at a time.
func (s *Service) ScanWaiting(ctx context.Context) (int, error) {
	s.init()
	now := s.now()
	queued := 0
	for _, r := range s.Config.Rules {
		if !r.Watches(OnActionWaiting) {
			continue
		}
		after := ""
		for {
			acts, err := s.Store.WaitingActions(ctx, r.Name, waitingKeyPrefix, now.Add(-r.After), after, scanPage)
			if err != nil {
				return queued, err
			}
			n, err := s.queueWaiting(ctx, r, acts, now)
			queued += n
			if err != nil {
				return queued, err
			}
			if len(acts) < scanPage {
				break
			}
			after = acts[len(acts)-1].ID
		}
	}
	return queued, nil
}

// scanPage is how many waiting actions one query of a scan reads.
const scanPage = 500

func (s *Service) queueWaiting(ctx context.Context, r Rule, acts []domain.Action, now time.Time) (int, error) {
	if len(acts) == 0 {
		return 0, nil
	}
	ids := make([]int64, len(acts))
	for i, a := range acts {
		ids[i] = a.IncidentID
	}
	briefs, err := s.Store.IncidentBriefs(ctx, ids)
	if err != nil {
		return 0, err
	}
	var ns []domain.Notification
	for i := range acts {
		a := &acts[i]
		b := briefs[a.IncidentID]
		if b == nil || !r.Matches(subjectOf(b)) {
			continue
		}
		subject, text := s.Config.renderWaiting(a, b, now.Sub(a.CreatedAt))
		for _, ch := range r.Channels {
			id := a.IncidentID
			ns = append(ns, domain.Notification{Key: waitingKeyPrefix + a.ID, Rule: r.Name, Channel: ch, IncidentID: &id,
				Subject: subject, Text: text, CreatedAt: now})
		}
	}
	return s.Store.EnqueueNotifications(ctx, ns)
}

func (s *Service) batch() int { return cmpOr(s.Batch, 16) }

// Dispatch claims the messages that are due (up to Batch), sends them
// Concurrency at a time, and records each outcome; it returns how many it
// claimed. A channel that answered 429 is left alone until its
// Retry-After has passed.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	s.init()
	token, err := newToken()
	if err != nil {
		return 0, err
	}
	d := s.Config.Delivery
	claimed, err := s.Store.ClaimNotifications(ctx, records.NotificationClaim{Token: token, Now: s.now(), Lease: d.lease(),
		Limit: s.batch(), SkipChannels: s.pausedChannels()})
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	slots := make(chan struct{}, cmpOr(s.Concurrency, 4))
	var wg sync.WaitGroup
	for _, n := range claimed {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			s.deliver(ctx, n)
		}()
	}
	wg.Wait()
	return len(claimed), nil
}

// deliver sends one claimed message and records what became of it.
func (s *Service) deliver(ctx context.Context, n domain.Notification) {
	d := s.Config.Delivery
	log := s.Log.WithFields(logrus.Fields{"notification": n.ID, "channel": n.Channel, "key": n.Key, "attempt": n.Attempts})
	var err error
	snd, ok := s.senders[n.Channel]
	if !ok {
		err = permanent("channel %q is not configured in this worker's notifications file", n.Channel)
	} else if s.pausedUntil(n.Channel).After(s.now()) {
		// Another message of this batch met a 429: do not add to it.
		err = &SendError{Throttled: true, RetryAfter: s.pausedUntil(n.Channel).Sub(s.now()), Err: errors.New("channel asked to wait (429)")}
	} else {
		sctx, cancel := context.WithTimeout(ctx, d.timeout())
		out := Outgoing{Key: fmt.Sprintf("%s/%s/%s", n.Key, n.Rule, n.Channel), Subject: n.Subject, Text: n.Text}
		if _, files := snd.(FileSender); files && s.Attach != nil {
			// A file that cannot be made does not hold the message back:
			// the text carries the link to what it would have attached.
			var aerr error
			if out.Attachments, aerr = s.Attach(sctx, n.Key); aerr != nil {
				log.WithError(aerr).Warn("some attachments left out")
			}
		}
		err = snd.Send(sctx, out)
		cancel()
	}
	if ctx.Err() != nil {
		// Shutting down: leave the claim to run out, so that another
		// process (or this one, restarted) sends it.
		return
	}
	o := s.outcome(n, err)
	switch o.Status {
	case domain.NotificationSent:
		log.Info("notification sent")
	case domain.NotificationFailed:
		log.WithError(err).Warn("notification failed for good")
	default:
		log.WithError(err).WithField("next", o.Next).Info("notification not sent; will retry")
	}
	// The outcome is written even if ctx ends now: the message went out.
	ok, ferr := s.Store.FinishNotification(context.WithoutCancel(ctx), n.ID, n.Claim, o)
	switch {
	case ferr != nil:
		log.WithError(ferr).Warn("record notification outcome; the claim will run out and the message go again")
	case !ok:
		log.Warn("notification claim ran out before its outcome was recorded; another dispatcher had taken it")
	}
}

// throttleLimit is how long a message may keep meeting 429s (which do not
// count as attempts) before it fails: a channel that throttles for ever
// must not keep a message queued for ever.
const throttleLimit = 24 * time.Hour

// outcome decides what a send's error means for the message.
func (s *Service) outcome(n domain.Notification, err error) records.NotificationOutcome {
	now := s.now()
	d := s.Config.Delivery
	if err == nil {
		return records.NotificationOutcome{Status: domain.NotificationSent, At: now}
	}
	perm, throttled, wait := classify(err)
	switch {
	case perm:
		return records.NotificationOutcome{Status: domain.NotificationFailed, At: now, Error: "permanent: " + err.Error()}
	case throttled && now.Sub(n.CreatedAt) < throttleLimit:
		wait = max(wait, d.backoff())
		s.pause(n.Channel, now.Add(wait))
		return records.NotificationOutcome{Status: domain.NotificationQueued, At: now, Next: now.Add(wait),
			Error: err.Error(), Uncount: true}
	case n.Attempts >= d.attempts():
		return records.NotificationOutcome{Status: domain.NotificationFailed, At: now,
			Error: fmt.Sprintf("gave up after %d attempts: %v", n.Attempts, err)}
	}
	return records.NotificationOutcome{Status: domain.NotificationQueued, At: now, Next: now.Add(max(d.delay(n.Attempts), wait)),
		Error: err.Error()}
}

func (s *Service) pause(channel string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.paused[channel]) {
		s.paused[channel] = until
	}
}

func (s *Service) pausedUntil(channel string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused[channel]
}

func (s *Service) pausedChannels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []string
	for ch, until := range s.paused {
		if until.After(now) {
			out = append(out, ch)
		} else {
			delete(s.paused, ch)
		}
	}
	return out
}

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("claim token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Test queues a test message to a channel and waits up to wait for its
// outcome, which it returns (still queued when no dispatcher finished it
// in time: a process without one, a channel that is slow or down).
func (s *Service) Test(ctx context.Context, channel, by string, wait time.Duration) (*domain.Notification, error) {
	s.init()
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	key := "test:" + token
	if _, err := s.Enqueue(ctx, Message{Key: key, Channels: []string{channel},
		Subject: "[AIR] Test notification to " + channel,
		Text:    fmt.Sprintf("%s asked AIR to send this test message to the %s channel at %s.", by, channel, s.now().UTC().Format(time.RFC1123))}); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		page, err := s.Store.QueryNotifications(ctx, records.NotificationQuery{Key: key, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(page.Value) == 0 {
			return nil, fmt.Errorf("test notification %s vanished", key)
		}
		n := page.Value[0]
		if n.Status != domain.NotificationQueued || !time.Now().Before(deadline) {
			return &n, nil
		}
		select {
		case <-ctx.Done():
			return &n, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
