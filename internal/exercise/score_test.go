package exercise

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/airsoc/air/internal/domain"
)

// fixture is eight alerts: three recon, two exploit and one privilege
// escalation alert of an attack, and two benign ones; a6 is in no
// incident.
var fixture = []struct {
	id, label, phase string
	incident         int64 // 0: missing
}{
	{"a1", "attack", "recon", 1},
	{"a2", "attack", "recon", 1},
	{"a3", "attack", "recon", 2},
	{"a4", "attack", "exploit", 2},
	{"a5", "attack", "exploit", 2},
	{"b1", "benign", "false_positive", 2},
	{"b2", "benign", "false_positive", 3},
	{"a6", "attack", "priv", 0},
}

func fixtureMaps() (map[string]Label, map[string]int64) {
	labels, assign := map[string]Label{}, map[string]int64{}
	for _, f := range fixture {
		labels[f.id] = Label{Label: f.label, Phase: f.phase}
		if f.incident != 0 {
			assign[f.id] = f.incident
		}
	}
	return labels, assign
}

// handFigures are the fixture's figures computed by hand:
//
//	attack alerts per incident 1:2 2:3 missing:a6:1, benign 2:1 3:1
//	pairs of attack alerts together: 1+3 = 4; involving an attack alert:
//	4 + 3·1 = 7 → precision 4/7; all attack pairs C(6,2) = 15 → recall 4/15;
//	f1 = 2·(4/7)(4/15)/(4/7+4/15) = 32/88
//	recon {1:2, 2:1}: r = 1/3, p = (2·2/2 + 1·3/4)/3 = 11/12
//	exploit {2:2}: r = 1, p = (2·3/4)/2 = 3/4; priv {missing:1}: r = 1, p = 1
//	phase_p = (11/12+3/4+1)/3 = 8/9, phase_r = (1/3+1+1)/3 = 7/9,
//	phase_f1 = 2·(56/81)/(15/9) = 112/135
//	story: exploit–recon meet in 2; exploit–priv, priv–recon do not → 1/3
var handFigures = domain.GroupingScore{
	Alerts: 8, Missing: 1, Incidents: 3, AttackInc: 3,
	Precision: 0.5714, Recall: 0.2667, F1: 0.3636,
	PhaseP: 0.8889, PhaseR: 0.7778, PhaseF1: 0.8296, Story: 0.3333,
}

func TestGroupingByHand(t *testing.T) {
	t.Parallel()
	labels, assign := fixtureMaps()
	if got := Grouping(labels, assign); got != handFigures {
		t.Errorf("Grouping:\n got %+v\nwant %+v", got, handFigures)
	}
}

func TestGroupingEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		labels map[string]Label
		assign map[string]int64
		want   domain.GroupingScore
	}{
		{"nothing", map[string]Label{}, nil, domain.GroupingScore{Precision: 1, Recall: 1, F1: 1, PhaseP: 1, PhaseR: 1, PhaseF1: 1, Story: 1}},
		{"one attack story", map[string]Label{"x": {"attack", "a"}, "y": {"attack", "b"}}, map[string]int64{"x": 7, "y": 7},
			domain.GroupingScore{Alerts: 2, Incidents: 1, AttackInc: 1, Precision: 1, Recall: 1, F1: 1, PhaseP: 1, PhaseR: 1, PhaseF1: 1, Story: 1}},
		{"only benign", map[string]Label{"x": {"benign", ""}}, map[string]int64{"x": 1},
			domain.GroupingScore{Alerts: 1, Incidents: 1, Precision: 1, Recall: 1, F1: 1, PhaseP: 1, PhaseR: 1, PhaseF1: 1, Story: 1}},
	} {
		if got := Grouping(tc.labels, tc.assign); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestGroupingAgainstScript runs the shared score_correlation.py on the
// fixture and compares its figures with Grouping's.
func TestGroupingAgainstScript(t *testing.T) {
	script := "/work/shared/tools/score_correlation.py"
	if _, err := os.Stat(script); err != nil {
		t.Skip("score_correlation.py not here")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	var lab, asg strings.Builder
	lab.WriteString("id,label,phase\n")
	asg.WriteString("alert_id,incident_id\n")
	for _, f := range fixture {
		fmt.Fprintf(&lab, "%s,%s,%s\n", f.id, f.label, f.phase)
		if f.incident != 0 {
			fmt.Fprintf(&asg, "%s,%d\n", f.id, f.incident)
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "labels.csv"), []byte(lab.String()), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "assign.csv"), []byte(asg.String()), 0o600))
	out, err := exec.Command(py, script, filepath.Join(dir, "labels.csv"), filepath.Join(dir, "assign.csv")).Output()
	require.NoError(t, err)
	var got struct {
		Alerts    int     `json:"alerts"`
		Missing   int     `json:"missing"`
		Incidents int     `json:"incidents"`
		AttackInc int     `json:"attack_inc"`
		Precision float64 `json:"precision"`
		Recall    float64 `json:"recall"`
		F1        float64 `json:"f1"`
		PhaseP    float64 `json:"phase_p"`
		PhaseR    float64 `json:"phase_r"`
		PhaseF1   float64 `json:"phase_f1"`
		Story     float64 `json:"story"`
	}
	require.NoError(t, json.Unmarshal(out, &got))
	want := domain.GroupingScore(got)
	labels, assign := fixtureMaps()
	if g := Grouping(labels, assign); g != want {
		t.Errorf("Grouping and score_correlation.py differ:\n  go %+v\n  py %+v", g, want)
	}
}

func TestPhasesByHand(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ptr := func(s int) *time.Time { v := at(s); return &v }
	alerts := []Replayed{
		{ID: "a1", Label: Label{"attack", "recon"}, SentAt: at(0), Incident: 1},
		{ID: "a2", Label: Label{"attack", "recon"}, SentAt: at(10), Incident: 1},
		{ID: "a3", Label: Label{"attack", "recon"}, SentAt: at(20), Incident: 2},
		{ID: "a4", Label: Label{"attack", "exploit"}, SentAt: at(100), Incident: 2},
		{ID: "b1", Label: Label{"benign", "false_positive"}, SentAt: at(5), Incident: 3},
		{ID: "a6", Label: Label{"attack", "priv"}, SentAt: at(200)},
	}
	incidents := map[int64]IncidentTimes{
		1: {Acknowledged: ptr(90)},                      // acknowledged 90 s after recon began
		2: {Acknowledged: ptr(60), Contained: ptr(130)}, // before exploit arrived: 0 s to acknowledge it
		3: {Acknowledged: ptr(1)},                       // benign only: no phase
	}
	f := func(v float64) *float64 { return &v }
	want := []domain.PhaseScore{
		{Phase: "exploit", Alerts: 1, Incidents: []int64{2}, FirstAlert: at(100), Acknowledged: ptr(60), Contained: ptr(130),
			TimeToAcknowledge: f(0), TimeToContain: f(30)},
		{Phase: "priv", Alerts: 1, Incidents: []int64{}, FirstAlert: at(200)},
		{Phase: "recon", Alerts: 3, Incidents: []int64{1, 2}, FirstAlert: at(0), Acknowledged: ptr(60), Contained: ptr(130),
			TimeToAcknowledge: f(60), TimeToContain: f(130)},
	}
	require.Equal(t, want, Phases(alerts, incidents))
}

func TestActionsByHand(t *testing.T) {
	t.Parallel()
	got := Actions([]Action{
		{Type: "device.isolate", Status: domain.ActionSucceeded, DecidedBy: "system:policy"},
		{Type: "device.isolate", Status: domain.ActionSucceeded, DecidedBy: "rita"},
		{Type: "device.isolate", Status: domain.ActionPending},
		{Type: "user.disable", Status: domain.ActionRejected, DecidedBy: "rita"},
		{Type: "user.disable", Status: domain.ActionRunning, DecidedBy: ""},
		{Type: "file.stop_and_quarantine", Status: domain.ActionExpired, DecidedBy: "system:expiry"},
	})
	want := domain.ExerciseAction{
		ActionCounts: domain.ActionCounts{Automated: 2, Approved: 1, Waiting: 1, Refused: 2},
		ByType: []domain.TypeActionCounts{
			{Type: "device.isolate", ActionCounts: domain.ActionCounts{Automated: 1, Approved: 1, Waiting: 1}},
			{Type: "file.stop_and_quarantine", ActionCounts: domain.ActionCounts{Refused: 1}},
			{Type: "user.disable", ActionCounts: domain.ActionCounts{Automated: 1, Refused: 1}},
		},
	}
	require.Equal(t, want, got)
}

func TestParseScenario(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(`name: two steps
alerts:
  - after: 2m
    phase: lateral
    alert: {id: b, title: second}
  - after: 0s
    phase: initial
    alert: {id: a, title: first, createdDateTime: "2026-01-01T00:00:00Z"}
  - after: 3m
    label: benign
    alert: {id: c, title: noise}
`))
	require.NoError(t, err)
	require.Equal(t, "two steps", s.Name)
	var ids []string
	for _, st := range s.Steps {
		var a struct{ ID string }
		require.NoError(t, json.Unmarshal(st.Alert, &a))
		ids = append(ids, a.ID)
	}
	require.Equal(t, []string{"a", "b", "c"}, ids)
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b, err := s.Steps[1].Body(start)
	require.NoError(t, err)
	require.Contains(t, string(b), `"createdDateTime":"2026-12-05T10:02:00Z"`)
	b, err = s.Steps[0].Body(start)
	require.NoError(t, err)
	require.Contains(t, string(b), `"createdDateTime":"2026-01-01T00:00:00Z"`, "an alert's own time stays")

	for _, bad := range []struct{ doc, field string }{
		{`alerts: [{after: soon, phase: x, alert: {id: a}}]`, "alerts[0].after"},
		{`alerts: [{label: evil, alert: {id: a}}]`, "alerts[0].label"},
		{`alerts: [{alert: {id: a}}]`, "alerts[0].phase"},
		{`alerts: [{phase: x, alert: {title: a}}]`, "alerts[0].alert.id"},
		{`name: empty`, "alerts"},
	} {
		_, err := Parse([]byte(bad.doc))
		require.Error(t, err, bad.doc)
		require.Contains(t, err.Error(), bad.field)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	s := &Scenario{}
	for _, sec := range []int{0, 1, 30, 31, 600, 601, 602} {
		s.Steps = append(s.Steps, Step{After: time.Duration(sec) * time.Second})
	}
	got := s.Batches(10, time.Second, 2) // 0, .1, 3, 3.1, 60, 60.1, 60.2 s
	want := []Batch{{0, 0, 2}, {3 * time.Second, 2, 4}, {60 * time.Second, 4, 6}, {60200 * time.Millisecond, 6, 7}}
	require.Equal(t, want, got)
	require.Len(t, s.Batches(0, time.Second, 100), 1, "speed 0 sends everything at once")
	require.True(t, slices.IsSortedFunc(got, func(a, b Batch) int { return int(a.At - b.At) }))
}

func TestLoadAIT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mini.ndjson"), []byte(
		`{"id":"x2","createdDateTime":"2022-01-25T00:10:00Z"}`+"\n"+`{"id":"x1","createdDateTime":"2022-01-25T00:06:19Z"}`+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mini.labels.csv"), []byte("id,label,phase\nx1,benign,false_positive\nx2,attack,dirb\n"), 0o600))
	s, err := Load(filepath.Join(dir, "mini.ndjson"))
	require.NoError(t, err)
	require.Equal(t, "mini", s.Name)
	require.Len(t, s.Steps, 2)
	require.Equal(t, time.Duration(0), s.Steps[0].After)
	require.Equal(t, 221*time.Second, s.Steps[1].After)
	require.Equal(t, Label{"attack", "dirb"}, s.Steps[1].Label)
}
