package domain

import "time"

// Exercise is a breach exercise: a labelled attack scenario replayed into
// AIR. Its incidents are correlated apart from real alerts, left out of the
// queue, metrics and reports, and their remediations go to the lab tenant.
type Exercise struct {
	ID        int64      `json:"id" db:"id"`
	Name      string     `json:"name" db:"name"`
	Source    string     `json:"source,omitempty" db:"source"`
	Speed     float64    `json:"speed" db:"speed"` // 1 is real time; 60 replays a minute per second
	CreatedBy string     `json:"createdBy" db:"created_by"`
	CreatedAt time.Time  `json:"createdDateTime" db:"created_at"`
	Finished  *time.Time `json:"finishedDateTime,omitempty" db:"finished_at"`
	Alerts    int        `json:"alerts" db:"alerts"`
	Incidents int        `json:"incidents" db:"incidents"`
}

// ExerciseAlert is one alert replayed into an exercise with its ground
// truth: Label is "attack" or "benign", Phase the attack phase (a
// scenario's own names: dirb, privilege_escalation, …).
type ExerciseAlert struct {
	Label string  `json:"label"`
	Phase string  `json:"phase,omitempty"`
	Alert RawJSON `json:"alert"`
}

// Alert labels of a scenario's ground truth.
const (
	LabelAttack = "attack"
	LabelBenign = "benign"
)

// ExerciseScore is how AIR did in an exercise: its grouping of the alerts
// into incidents against the ground truth (the figures of
// score_correlation.py), per attack phase how long it took to acknowledge
// and contain, and what automation did alone and what waited for people.
type ExerciseScore struct {
	Exercise Exercise       `json:"exercise"`
	Grouping GroupingScore  `json:"grouping"`
	Phases   []PhaseScore   `json:"phases"`
	Actions  ExerciseAction `json:"actions"`
}

// GroupingScore are score_correlation.py's figures for one grouping.
type GroupingScore struct {
	Alerts    int     `json:"alerts"`
	Missing   int     `json:"missing"`   // labelled alerts in no incident
	Incidents int     `json:"incidents"` // the analyst's queue length
	AttackInc int     `json:"attackIncidents"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	PhaseP    float64 `json:"phaseP"`
	PhaseR    float64 `json:"phaseR"`
	PhaseF1   float64 `json:"phaseF1"` // the headline figure
	Story     float64 `json:"story"`
}

// PhaseScore is one attack phase: its attack alerts, the incidents that
// hold them and, from the first of its alerts to reach AIR, how long until
// one of those incidents was acknowledged (a person's first act) and
// contained (a containment action succeeded). A nil time has not happened.
type PhaseScore struct {
	Phase        string     `json:"phase"`
	Alerts       int        `json:"alerts"`
	Incidents    []int64    `json:"incidents"`
	FirstAlert   time.Time  `json:"firstAlertDateTime"`
	Acknowledged *time.Time `json:"acknowledgedDateTime,omitempty"`
	Contained    *time.Time `json:"containedDateTime,omitempty"`
	// TimeToAcknowledge and TimeToContain are in seconds; nil when it has
	// not happened.
	TimeToAcknowledge *float64 `json:"timeToAcknowledge,omitempty"`
	TimeToContain     *float64 `json:"timeToContain,omitempty"`
}

// ExerciseAction counts the exercise's remediation actions by what people
// had to do with them: Automated ran with no person deciding (policy or
// full automation), Approved ran after an analyst approved it, Waiting
// still waits for a decision, Refused was rejected or expired. ByType
// splits the same counts per action type.
type ExerciseAction struct {
	ActionCounts
	ByType []TypeActionCounts `json:"byType"`
}

// ActionCounts are the counts of ExerciseAction.
type ActionCounts struct {
	Automated int `json:"automated"`
	Approved  int `json:"approved"`
	Waiting   int `json:"waiting"`
	Refused   int `json:"refused"`
}

// TypeActionCounts are ActionCounts of one action type.
type TypeActionCounts struct {
	Type string `json:"type"`
	ActionCounts
}
