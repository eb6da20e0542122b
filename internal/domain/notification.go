package domain

import "time"

// NotificationStatus is where a notification's delivery stands.
type NotificationStatus string

// Notification statuses. A queued notification waits for its next attempt
// or is being sent; sent and failed are final.
const (
	NotificationQueued NotificationStatus = "queued"
	NotificationSent   NotificationStatus = "sent"
	NotificationFailed NotificationStatus = "failed"
)

// NotificationStatuses lists every notification status.
var NotificationStatuses = []NotificationStatus{NotificationQueued, NotificationSent, NotificationFailed}

// Notification is one message to one channel and its delivery: a row of
// the notification outbox, as the delivery history shows it.
type Notification struct {
	ID int64 `json:"id" db:"id"`
	// Key names the event the message is about (incident.created:42,
	// action.waiting:3f1c…, or the caller's key for a message sent
	// directly); with Rule and Channel it is unique, so that an event
	// notifies each rule's channel once.
	Key string `json:"key" db:"event_key"`
	// Rule is the notification rule that matched; "" for a message sent
	// directly (a playbook step, a test, a report).
	Rule       string `json:"rule" db:"rule"`
	Channel    string `json:"channel" db:"channel"`
	IncidentID *int64 `json:"incidentId,omitempty" db:"incident_id"`
	Subject    string `json:"subject" db:"subject"`
	Text       string `json:"text" db:"body"`

	Status NotificationStatus `json:"status" db:"status"`
	// Attempts counts the sends tried, the one under way included.
	Attempts  int    `json:"attempts" db:"attempts"`
	LastError string `json:"lastError,omitempty" db:"last_error"`
	// NextAttempt is when a queued notification is next due; while a
	// dispatcher holds it, when its claim runs out.
	NextAttempt time.Time  `json:"nextAttemptDateTime" db:"next_attempt"`
	CreatedAt   time.Time  `json:"createdDateTime" db:"created_at"`
	UpdatedAt   time.Time  `json:"lastUpdateDateTime" db:"updated_at"`
	SentAt      *time.Time `json:"sentDateTime,omitempty" db:"sent_at"`
	// Claim is the token of the dispatcher attempt that holds the row;
	// never shown.
	Claim string `json:"-" db:"claim"`
}

// NotificationPage is one page of the delivery history and the count of
// every match.
type NotificationPage struct {
	Value  []Notification `json:"value"`
	Total  int            `json:"total"`
	Limit  int            `json:"limit"`
	Offset int            `json:"offset"`
}
