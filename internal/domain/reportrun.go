package domain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// ReportKind names one of the SOC's reports.
type ReportKind string

// The reports.
const (
	ReportDaily     ReportKind = "daily"
	ReportMonthly   ReportKind = "monthly"
	ReportQuarterly ReportKind = "quarterly"
)

// ReportKinds lists every report kind.
var ReportKinds = []ReportKind{ReportDaily, ReportMonthly, ReportQuarterly}

// Valid reports whether k is a known kind.
func (k ReportKind) Valid() bool {
	return k == ReportDaily || k == ReportMonthly || k == ReportQuarterly
}

// ReportCalendar is a schedule's time written field by field, as a
// calendar: each field takes a cron field's syntax (5, 1-5, 1,15, */2, *).
// An empty Minute or Hour means 0; an empty day, month or weekday any.
type ReportCalendar struct {
	Minute     string `json:"minute,omitempty"`
	Hour       string `json:"hour,omitempty"`
	DayOfMonth string `json:"dayOfMonth,omitempty"`
	Month      string `json:"month,omitempty"`
	DayOfWeek  string `json:"dayOfWeek,omitempty"`
}

// ReportSchedule makes one report on a schedule and sends it to
// notification channels. AIR keeps it in the store and Temporal keeps a
// Schedule of the same id that starts the runs.
type ReportSchedule struct {
	ID   string     `json:"id" db:"id"`
	Kind ReportKind `json:"kind" db:"kind"`
	// Cron is the spec Temporal is given (5 fields, minute first, in
	// TimeZone); made from Calendar when that was given instead.
	Cron string `json:"cron" db:"cron"`
	// Calendar is the spec as the administrator wrote it, when written as
	// a calendar; nil when given as cron.
	Calendar *ReportCalendar `json:"calendar,omitempty" db:"-"`
	// TimeZone is the IANA zone the spec is read in (UTC, Europe/Berlin).
	TimeZone string `json:"timeZone" db:"time_zone"`
	// Channels are the notification channels each run is sent to; empty
	// means the runs are only kept.
	Channels []string `json:"channels" db:"-"`
	// CatchupSeconds is how late a missed run may still be started (the
	// Temporal schedule's catch-up window).
	CatchupSeconds int64     `json:"catchupWindowSeconds" db:"catchup_secs"`
	CreatedBy      string    `json:"createdBy" db:"created_by"`
	CreatedAt      time.Time `json:"createdDateTime" db:"created_at"`
}

// ReportRun is a report kept in the store: the page as it was made and
// its figures, and where it was sent.
type ReportRun struct {
	ID     int64      `json:"id" db:"id"`
	Kind   ReportKind `json:"kind" db:"kind"`
	Period string     `json:"period" db:"period"`
	Since  time.Time  `json:"since" db:"since"`
	Until  time.Time  `json:"until" db:"until"`
	// ScheduleID is the schedule that made it; "" when kept on demand.
	ScheduleID  string    `json:"scheduleId,omitempty" db:"schedule_id"`
	GeneratedAt time.Time `json:"generatedDateTime" db:"generated_at"`
	GeneratedBy string    `json:"generatedBy" db:"generated_by"`
	// Channels are the channels it was sent to.
	Channels []string `json:"channels" db:"-"`
	// Deliveries are the sends to Channels as the notification outbox
	// records them; filled when one run is read.
	Deliveries []ReportDelivery `json:"deliveries,omitempty" db:"-"`
	// HTML is the report's page, a whole document with its style inline;
	// served on its own (GET /api/v1/reports/runs/{id}?format=html).
	HTML string `json:"-" db:"html"`
	// Data is the report as the API's JSON; filled when one run is read.
	Data json.RawMessage `json:"data,omitempty" db:"-"`
}

// ReportDelivery is one channel's send of a run.
type ReportDelivery struct {
	Channel   string             `json:"channel"`
	Status    NotificationStatus `json:"status"`
	Attempts  int                `json:"attempts"`
	LastError string             `json:"lastError,omitempty"`
	SentAt    *time.Time         `json:"sentDateTime,omitempty"`
}

// ReportDeliveryKey is the notification key of a run's message: one
// message per run and channel, however often delivery is retried.
func ReportDeliveryKey(runID int64) string {
	return reportDeliveryPrefix + strconv.FormatInt(runID, 10)
}

const reportDeliveryPrefix = "report-run:"

// ReportRunOfKey is the run a ReportDeliveryKey names; false for any
// other key.
func ReportRunOfKey(key string) (int64, bool) {
	n, ok := strings.CutPrefix(key, reportDeliveryPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	return id, err == nil && id > 0
}

// ReportScheduleState is what Temporal says of a report schedule.
type ReportScheduleState struct {
	// Missing: Temporal has no such schedule (AIR re-creates it at start).
	Missing bool `json:"missing,omitempty"`
	Paused  bool `json:"paused,omitempty"`
	// NextRuns are the next run times; RecentRuns the times the last
	// runs were scheduled for.
	NextRuns   []time.Time `json:"nextRuns,omitempty"`
	RecentRuns []time.Time `json:"recentRuns,omitempty"`
}
