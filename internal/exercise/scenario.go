package exercise

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
)

// Scenario is a labelled attack scenario: alerts in order, each with its
// offset from the first and its ground truth.
type Scenario struct {
	Name  string `json:"name" yaml:"name"`
	Steps []Step `json:"alerts" yaml:"alerts"`
}

// Step is one alert of a scenario.
type Step struct {
	// After is the offset from the scenario's start.
	After time.Duration
	Label Label
	// Alert is the alert in Graph's shape. When it has no
	// createdDateTime, Body gives it the exercise's start plus After.
	Alert json.RawMessage
}

// stepFile is a step as a scenario file writes it.
type stepFile struct {
	After string         `json:"after" yaml:"after"`
	Phase string         `json:"phase" yaml:"phase"`
	Label string         `json:"label" yaml:"label"` // attack (the default) or benign
	Alert map[string]any `json:"alert" yaml:"alert"`
}

// Load reads a scenario: an AIT alert file (NAME.ndjson or NAME.ndjson.gz)
// with its labels beside it (NAME.labels.csv[.gz]: id,label,phase), the
// offsets taken from the alerts' createdDateTime; or a scenario file, YAML
// or JSON (docs/secops.md).
func Load(path string) (*Scenario, error) {
	base := strings.TrimSuffix(path, ".gz")
	if strings.HasSuffix(base, ".ndjson") {
		return loadAIT(path, strings.TrimSuffix(base, ".ndjson"))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return s, nil
}

// Parse reads a scenario file (YAML, of which JSON is a part).
func Parse(b []byte) (*Scenario, error) {
	var f struct {
		Name   string     `yaml:"name"`
		Alerts []stepFile `yaml:"alerts"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if len(f.Alerts) == 0 {
		return nil, domain.Invalid("alerts", "a scenario needs at least one alert")
	}
	s := &Scenario{Name: f.Name}
	for i, st := range f.Alerts {
		field := fmt.Sprintf("alerts[%d]", i)
		var after time.Duration
		if st.After != "" {
			d, err := time.ParseDuration(st.After)
			if err != nil || d < 0 {
				return nil, domain.Invalid(field+".after", "want a duration such as 90s or 2h, got %q", st.After)
			}
			after = d
		}
		label := st.Label
		switch label {
		case "":
			label = domain.LabelAttack
		case domain.LabelAttack, domain.LabelBenign:
		default:
			return nil, domain.Invalid(field+".label", "want attack or benign, got %q", st.Label)
		}
		if label == domain.LabelAttack && st.Phase == "" {
			return nil, domain.Invalid(field+".phase", "an attack alert needs its phase")
		}
		if st.Alert["id"] == nil {
			return nil, domain.Invalid(field+".alert.id", "required")
		}
		raw, err := json.Marshal(st.Alert)
		if err != nil {
			return nil, domain.Invalid(field+".alert", "%v", err)
		}
		s.Steps = append(s.Steps, Step{After: after, Label: Label{Label: label, Phase: st.Phase}, Alert: raw})
	}
	slices.SortStableFunc(s.Steps, func(a, b Step) int { return int(a.After - b.After) })
	return s, nil
}

// loadAIT reads an AIT alert file and the labels beside it.
func loadAIT(alerts, stem string) (*Scenario, error) {
	labels, err := readLabels(stem + ".labels.csv")
	if err != nil {
		return nil, err
	}
	f, err := decode.OpenFile(alerts, 1)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type timed struct {
		at   time.Time
		step Step
	}
	var all []timed
	for item := 1; ; item++ {
		b, err := f.NextRaw()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", alerts, err)
		}
		if b == nil {
			break
		}
		var head struct {
			ID      string    `json:"id"`
			Created time.Time `json:"createdDateTime"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("%s: alert %d: %w", alerts, item, err)
		}
		l, ok := labels[head.ID]
		if !ok {
			return nil, fmt.Errorf("%s: alert %d: %q has no label", alerts, item, head.ID)
		}
		all = append(all, timed{head.Created, Step{Label: l, Alert: b}})
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: no alerts", alerts)
	}
	slices.SortStableFunc(all, func(a, b timed) int { return a.at.Compare(b.at) })
	s := &Scenario{Name: filepath.Base(stem)}
	for _, t := range all {
		t.step.After = t.at.Sub(all[0].at)
		s.Steps = append(s.Steps, t.step)
	}
	return s, nil
}

// readLabels reads an AIT labels file (id,label,phase), gzipped or not.
func readLabels(stem string) (map[string]Label, error) {
	path := stem + ".gz"
	if _, err := os.Stat(path); err != nil {
		path = stem
	}
	f, err := openMaybeGzip(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, c := range []string{"id", "label", "phase"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s: no %s column (want id,label,phase)", path, c)
		}
	}
	out := map[string]Label{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[rec[col["id"]]] = Label{Label: rec[col["label"]], Phase: rec[col["phase"]]}
	}
}

type gzipFile struct {
	io.Reader
	f *os.File
}

func (g gzipFile) Close() error { return g.f.Close() }

func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return gzipFile{z, f}, nil
}

// Body is the step's alert to send to an exercise that started at start:
// an alert without createdDateTime gets start+After as its created, last
// update and activity times, so that a scenario file needs no absolute
// times; one with its own times keeps them, so that correlation sees the
// scenario's real spacing whatever the replay speed.
func (s Step) Body(start time.Time) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(s.Alert, &m); err != nil {
		return nil, err
	}
	if _, ok := m["createdDateTime"]; ok {
		return s.Alert, nil
	}
	at := start.Add(s.After).UTC().Format(time.RFC3339Nano)
	for _, f := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
		if _, ok := m[f]; !ok {
			m[f] = at
		}
	}
	return json.Marshal(m)
}

// Batches splits the steps into the batches a replay sends: consecutive
// steps whose (compressed) send times fall within window of the batch's
// first, at most max per batch. speed 60 replays a minute per second;
// 0 or less sends everything at once.
func (s *Scenario) Batches(speed float64, window time.Duration, maxN int) []Batch {
	var out []Batch
	for i, st := range s.Steps {
		at := time.Duration(0)
		if speed > 0 {
			at = time.Duration(float64(st.After) / speed)
		}
		if n := len(out); n > 0 && at-out[n-1].At < window && out[n-1].End-out[n-1].Start < maxN {
			out[n-1].End = i + 1
			continue
		}
		out = append(out, Batch{At: at, Start: i, End: i + 1})
	}
	return out
}

// Batch is the steps [Start, End) sent At after the replay began.
type Batch struct {
	At         time.Duration
	Start, End int
}
