package sources

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
)

// simulatedPoller is the lab's source for -dev: without a file it raises
// PerPoll alerts per poll from a small set of realistic detections on lab
// devices and users; with a file it replays the file's alerts in order,
// PerPoll a poll, or at Speed times their own pace. Its cursor is the
// number of alerts raised so far, so a restart neither loses nor repeats.
type simulatedPoller struct {
	name    string
	file    string
	speed   float64
	perPoll int
	now     func() time.Time

	once   sync.Once
	replay []*domain.Alert
	err    error
}

// labDetections are the templates generated alerts take turns with.
var labDetections = []struct{ title, category, severity, technique string }{
	{"Suspicious PowerShell command line", "Execution", "medium", "T1059.001"},
	{"Malicious file detected and quarantined", "Malware", "high", "T1204.002"},
	{"Anomalous sign-in from an unfamiliar location", "InitialAccess", "medium", "T1078"},
	{"Credential dumping tool activity", "CredentialAccess", "high", "T1003"},
	{"Phishing email delivered to a mailbox", "InitialAccess", "low", "T1566.001"},
}

func (s *simulatedPoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	next := cp
	done := 0
	if cp.Cursor == "" {
		next.Since = s.now().UTC() // the source's (or replay's) start
	} else if n, err := strconv.Atoi(strings.TrimPrefix(cp.Cursor, "seq:")); err == nil && n >= 0 {
		done = n
	}
	var alerts []*domain.Alert
	var problems []Problem
	more := false
	if s.file == "" {
		for i := 0; i < s.perPoll; i++ {
			a, err := s.generate(done + i)
			if err != nil {
				problems = append(problems, Problem{ID: strconv.Itoa(done + i), Reason: err.Error()})
				continue
			}
			alerts = append(alerts, a)
		}
		done += s.perPoll
	} else {
		s.once.Do(func() { s.replay, s.err = loadReplay(s.file) })
		if s.err != nil {
			return Page{}, &PermanentError{Body: s.err.Error()}
		}
		n := s.perPoll
		if s.speed > 0 && done < len(s.replay) {
			// At Speed× their own pace: release the alerts whose offset
			// from the first, divided by Speed, has elapsed since the
			// replay began.
			elapsed := time.Duration(float64(s.now().Sub(next.Since)) * s.speed)
			t0 := s.replay[0].ActivityTime()
			n = 0
			for done+n < len(s.replay) && s.replay[done+n].ActivityTime().Sub(t0) <= elapsed {
				n++
			}
		}
		end := min(done+n, len(s.replay))
		alerts = append(alerts, s.replay[done:end]...)
		done = end
		more = s.speed == 0 && done < len(s.replay)
	}
	next.Cursor = "seq:" + strconv.Itoa(done)
	return Page{Alerts: alerts, Problems: problems, Next: next, More: more}, nil
}

// generate raises the i-th lab alert of this source, as a Graph alert
// document decoded like any other.
func (s *simulatedPoller) generate(i int) (*domain.Alert, error) {
	d := labDetections[i%len(labDetections)]
	now := s.now().UTC()
	g := map[string]any{
		"id": fmt.Sprintf("sim-%s-%d", s.name, i), "providerAlertId": strconv.Itoa(i), "title": d.title,
		"description": "Raised by AIR's simulated source " + s.name + " (lab data, not a real detection).",
		"severity":    d.severity, "status": "new", "category": d.category, "serviceSource": "airLab",
		"detectionSource": "airLab", "productName": "AIR lab", "detectorId": fmt.Sprintf("lab-%d", i%len(labDetections)),
		"mitreTechniques": []string{d.technique}, "createdDateTime": now, "lastUpdateDateTime": now, "lastActivityDateTime": now,
		"evidence": []map[string]any{
			{"@odata.type": "#microsoft.graph.security.deviceEvidence", "verdict": "suspicious", "roles": []string{"compromised"},
				"deviceDnsName": fmt.Sprintf("lab-ws-%03d.lab.example", i%17+1), "rbacGroupName": "Lab"},
			{"@odata.type": "#microsoft.graph.security.userEvidence", "verdict": "suspicious",
				"userAccount": map[string]any{"userPrincipalName": fmt.Sprintf("user%02d@lab.example", i%11+1)}},
		},
	}
	return decodeAsGraph(g, nil)
}

// loadReplay decodes a replay file (any format ingest takes), in order.
func loadReplay(path string) ([]*domain.Alert, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	alerts, problems, err := decode.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	if len(alerts) == 0 {
		return nil, fmt.Errorf("replay %s: no usable alert (%d rejected)", path, len(problems))
	}
	return alerts, nil
}
