package stored_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/plan/stored"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
)

// throughStore is how plan mode correlated before it did so in memory:
// every alert ingested one by one into a fresh SQLite store, then each
// incident they opened and that was not merged away read back with Load.
func throughStore(t *testing.T, alerts []*domain.Alert, settings policy.Settings) []plan.Incident {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "scratch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []int64
	for _, a := range alerts {
		r, err := st.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		if r.NewIncident {
			ids = append(ids, r.IncidentID)
		}
	}
	var out []plan.Incident
	for _, id := range ids {
		in, err := stored.Load(ctx, st, id, settings)
		if err != nil {
			t.Fatal(err)
		}
		if in.Incident.Status != domain.IncidentRedirected {
			out = append(out, *in)
		}
	}
	return out
}

// comparable clears what cannot match between the two ways: the clock
// (an incident's creation, update and ingest's resolution time are "now")
// and the actions a stored incident reads (none in a fresh store, read as
// empty lists rather than nil). Times are made UTC: the store reads them
// back in a zone of its driver's choosing.
func comparable(in plan.Incident) plan.Incident {
	in.Incident.CreatedDateTime, in.Incident.LastUpdateDateTime = time.Time{}, time.Time{}
	if in.Incident.ResolvedDateTime != nil {
		in.Incident.ResolvedDateTime = &time.Time{}
	}
	in.Incident.FirstActivity, in.Incident.LastActivity = in.Incident.FirstActivity.UTC(), in.Incident.LastActivity.UTC()
	in.Merged, in.Actions = nil, nil
	return in
}

// assertSame correlates fresh copies of the alerts both ways and requires
// the same incidents, and the same plans of the shipped playbooks.
func assertSame(t *testing.T, books []*playbook.Playbook, alerts func() []*domain.Alert) (incidents int) {
	t.Helper()
	settings := policy.Settings{Default: policy.SemiAll}
	want := throughStore(t, alerts(), settings)
	got, err := scratch.Incidents(context.Background(), alerts(), settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d incidents in memory, %d through the store", len(got), len(want))
	}
	for i := range want {
		g, w := comparable(got[i]), comparable(want[i])
		if !reflect.DeepEqual(g, w) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Fatalf("incident %d differs:\nin memory:     %s\nthrough store: %s", w.Incident.ID, gj, wj)
		}
		gp, err := plan.Make(books, got[i])
		if err != nil {
			t.Fatal(err)
		}
		wp, err := plan.Make(books, want[i])
		if err != nil {
			t.Fatal(err)
		}
		gj, _ := json.Marshal(gp)
		wj, _ := json.Marshal(wp)
		if !bytes.Equal(gj, wj) {
			t.Fatalf("plan of incident %d differs:\nin memory:     %s\nthrough store: %s", w.Incident.ID, gj, wj)
		}
	}
	return len(want)
}

func shippedPlaybooks(t *testing.T) []*playbook.Playbook {
	t.Helper()
	books, err := playbook.LoadDir("../../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	return books
}

// TestInMemoryMatchesTheStoreOnPlaybookTests: every case of the shipped
// playbooks' tests (history and alerts), one by one and all together —
// where alert ids repeat, later ones update or leave earlier ones.
func TestInMemoryMatchesTheStoreOnPlaybookTests(t *testing.T) {
	books := shippedPlaybooks(t)
	files, err := playbook.LoadTests("../../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	var all []json.RawMessage
	for _, f := range files {
		for _, c := range f.Cases {
			raws := append(append([]json.RawMessage{}, c.History...), c.Alerts...)
			all = append(all, raws...)
			t.Run(filepath.Base(f.File)+"/"+c.Name, func(t *testing.T) {
				assertSame(t, books, func() []*domain.Alert { return decodeAll(t, raws) })
			})
		}
	}
	t.Run("all cases together", func(t *testing.T) {
		if n := assertSame(t, books, func() []*domain.Alert { return decodeAll(t, all) }); n < 2 {
			t.Fatalf("%d incidents", n)
		}
	})
}

func decodeAll(t *testing.T, raws []json.RawMessage) []*domain.Alert {
	t.Helper()
	body, err := json.Marshal(raws)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBody(t, body)
}

func decodeBody(t *testing.T, body []byte) []*domain.Alert {
	t.Helper()
	alerts, _, err := decode.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return alerts
}

// TestInMemoryMatchesTheStoreOnSamples: plan mode's own sample alert, the
// public Graph samples and the first alerts of the AIT scenarios (real
// Wazuh, Suricata and AMiner alerts: hosts, routine noise, storms), where
// they are at hand.
func TestInMemoryMatchesTheStoreOnSamples(t *testing.T) {
	books := shippedPlaybooks(t)
	files := []string{"../../graph/testdata/sample-alert.json"}
	shared, _ := filepath.Glob("../../../../shared/data/graph/*.ndjson")
	if len(shared) == 0 {
		shared, _ = filepath.Glob("/work/shared/data/graph/*.ndjson")
	}
	for _, name := range append(files, shared...) {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			assertSame(t, books, func() []*domain.Alert { return decodeBody(t, body) })
		})
	}
	dir := os.Getenv("AIR_AIT_DATA")
	if dir == "" {
		dir = "/work/shared/data/ait"
	}
	for _, scenario := range []string{"shaw", "russellmitchell"} {
		t.Run(scenario, func(t *testing.T) {
			body := aitHead(t, filepath.Join(dir, scenario+".ndjson.gz"), 1500)
			assertSame(t, books, func() []*domain.Alert { return decodeBody(t, body) })
		})
	}
}

// aitHead reads the first n alerts of an AIT scenario (skipping the test
// where the data set is absent).
func aitHead(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("AIT data set not at hand (%v); set AIR_AIT_DATA to its directory", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sc := bufio.NewScanner(z)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		buf.Write(sc.Bytes())
		buf.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInMemoryMatchesTheStoreOnMerges: a hand-built set with what the
// store derives in several ways — incidents merged by a linking alert
// (re-derived from their alerts, the headline in creation order rather
// than arrival order), entities of many kinds renamed by later alerts,
// verdicts strengthened, severities raised, alerts updated (and one older
// version ignored), and an incident resolved by the provider.
func TestInMemoryMatchesTheStoreOnMerges(t *testing.T) {
	books := shippedPlaybooks(t)
	n := assertSame(t, books, func() []*domain.Alert { return handBuilt() })
	incidents := throughStore(t, handBuilt(), policy.Settings{})
	if n != len(incidents) {
		t.Fatalf("%d incidents, then %d", n, len(incidents))
	}
	// The set must exercise what it says.
	var merged, resolved bool
	for _, in := range incidents {
		ids := map[byte]bool{}
		for _, a := range in.Alerts {
			ids[a.ID[0]] = true
		}
		merged = merged || ids['a'] && ids['b'] // A's and B's alerts in one incident
		resolved = resolved || in.Incident.Status == domain.IncidentResolved
	}
	if !merged || !resolved {
		t.Errorf("the hand-built set merged: %v, resolved an incident: %v; want both", merged, resolved)
	}
}

func ev(kind domain.EntityKind, id, name string, v domain.Verdict, attrs map[string]string) domain.Evidence {
	return domain.Evidence{Type: string(kind) + "Evidence", Verdict: v, Entity: &domain.Entity{
		Key: domain.EntityKey(string(kind) + ":" + id), Kind: kind, Name: name, Verdict: v, Attrs: attrs}}
}

func alert(id string, at time.Time, sev domain.Severity, title, category string, evidence ...domain.Evidence) *domain.Alert {
	return &domain.Alert{ID: id, Status: domain.AlertNew, Severity: sev, Title: title, Category: category,
		ServiceSource: "microsoftDefenderForEndpoint", DetectionSource: "antivirus", DetectorID: "det-" + title,
		CreatedDateTime: at, LastUpdateDateTime: at, Evidence: evidence}
}

func handBuilt() []*domain.Alert {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	dev := func(id, name string, v domain.Verdict) domain.Evidence {
		return ev(domain.KindDevice, id, name, v, map[string]string{"osPlatform": "Windows11", "hostName": name})
	}
	user := func(upn string, v domain.Verdict) domain.Evidence { return ev(domain.KindUser, upn, upn, v, nil) }
	var out []*domain.Alert
	add := func(a *domain.Alert) { out = append(out, a) }
	// Incident A: a device, a file and an IP; created later than it arrives.
	add(alert("a1", m(20), domain.SeverityMedium, "Suspicious PowerShell", "Execution", dev("d1", "ws-001", domain.VerdictSuspicious),
		ev("file", "sha256-aa", "dropper.exe", domain.VerdictMalicious, map[string]string{"sha256": "aa"}),
		ev("ip", "203.0.113.7", "203.0.113.7", domain.VerdictUnknown, nil)))
	add(alert("a2", m(21), domain.SeverityHigh, "Credential dumping", "CredentialAccess", dev("d1", "WS-001.corp.example", domain.VerdictMalicious)))
	// Incident B: a user and a mailbox, created before A's alerts.
	add(alert("b1", m(5), domain.SeverityLow, "Unusual sign-in", "InitialAccess", user("bob@corp.example", domain.VerdictUnknown),
		ev(domain.KindMailbox, "bob@corp.example", "Bob", domain.VerdictNoThreatsFound, map[string]string{"primaryAddress": "bob@corp.example"})))
	add(alert("b2", m(6), domain.SeverityHigh, "Inbox rule created", "Persistence", user("bob@corp.example", domain.VerdictSuspicious),
		ev(domain.KindMailbox, "bob@corp.example", "Bob Builder", domain.VerdictUnknown, map[string]string{"primaryAddress": "bob@corp.example", "displayName": "Bob"})))
	// An update of a1 (newer: resolved, higher) and an older version of b1 (ignored).
	up := alert("a1", m(20), domain.SeverityHigh, "Suspicious PowerShell", "Execution", dev("d1", "ws-001", domain.VerdictMalicious))
	up.Status, up.LastUpdateDateTime = domain.AlertResolved, m(40)
	add(up)
	old := alert("b1", m(5), domain.SeverityInformational, "Unusual sign-in (old)", "InitialAccess", user("bob@corp.example", domain.VerdictUnknown))
	old.LastUpdateDateTime = m(1)
	add(old)
	// A link: the device and the user in one alert merges B into A or A into B.
	add(alert("c1", m(22), domain.SeverityHigh, "Lateral movement", "LateralMovement", dev("d1", "ws-001", domain.VerdictUnknown),
		user("bob@corp.example", domain.VerdictMalicious), ev("cloudApp", "app-9", "Dropbox", domain.VerdictUnknown, nil)))
	// Incident D: one alert, later resolved by its provider.
	add(alert("d1", m(30), domain.SeverityLow, "Adware", "Execution", dev("d9", "kiosk-9", domain.VerdictNoThreatsFound)))
	res := alert("d1", m(30), domain.SeverityLow, "Adware", "Execution", dev("d9", "kiosk-9", domain.VerdictNoThreatsFound))
	res.Status, res.LastUpdateDateTime = domain.AlertResolved, m(50)
	add(res)
	// Incident E: many devices (a name and a count), an unknown severity.
	var devs []domain.Evidence
	for i := range 4 {
		devs = append(devs, dev(fmt.Sprintf("s%d", i), fmt.Sprintf("srv-%02d", 4-i), domain.VerdictUnknown))
	}
	add(alert("e1", m(35), domain.SeverityUnknown, "", "Discovery", devs...))
	add(alert("e2", m(36), domain.Severity("bogus"), "Port scan", "Discovery", devs[0]))
	return out
}
