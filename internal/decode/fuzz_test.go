package decode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// fuzzSeeds adds the fixtures and the public samples (where present).
func fuzzSeeds(f *testing.F, globs ...string) {
	for _, g := range globs {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
}

// checkAlerts holds every decoder to its promises: no panic, an error is an
// invalid error and comes alone, alerts have ids and raw documents, and
// every entity has a key of its kind.
func checkAlerts(t *testing.T, body []byte) {
	alerts, problems, err := Decode(bytes.NewReader(body))
	if err != nil {
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("error %v is not of kind invalid", err)
		}
		if alerts != nil || problems != nil {
			t.Fatalf("error with results")
		}
		return
	}
	for _, a := range alerts {
		if a.ID == "" || len(a.Raw) == 0 {
			t.Fatalf("alert without id or raw: %+v", a)
		}
		for _, ev := range a.Evidence {
			if ev.Entity != nil && (ev.Entity.Key == "" || ev.Entity.Kind == "") {
				t.Fatalf("entity without key or kind: %+v", ev.Entity)
			}
		}
	}
	for _, p := range problems {
		if p.Index < 0 || p.Reason == "" {
			t.Fatalf("bad problem %+v", p)
		}
	}
}

func FuzzDecodeOCSF(f *testing.F) {
	fuzzSeeds(f, "testdata/same-ocsf.json", filepath.Join(sharedData, "ocsf", "examples_*.ocsf.json"))
	f.Add([]byte(`{"class_uid":2001,"finding":{"uid":"1"},"time":1,"observables":[{"type_id":8,"value":"abc"}]}`))
	f.Fuzz(checkAlerts)
}

func FuzzDecodeSentinel(f *testing.F) {
	fuzzSeeds(f, "testdata/same-sentinel.json", filepath.Join(sharedData, "graph", "*Sentinel*.ndjson"))
	f.Add([]byte(`{"SystemAlertId":"s","TimeGenerated":"2024-09-26T05:23:30Z","Entities":"[{\"$id\":\"1\",\"Type\":\"process\",\"ProcessId\":\"4\",\"CreationTimeUtc\":\"2024-09-26T05:23:30Z\",\"Host\":{\"$ref\":\"1\"}}]"}`))
	f.Fuzz(checkAlerts)
}

func FuzzDecodeAny(f *testing.F) {
	fuzzSeeds(f, "testdata/*.json", filepath.Join(sharedData, "graph", "*.ndjson"))
	f.Add([]byte("{\"id\":\"a\"}\n{\"class_uid\":2004}\n{\"SystemAlertId\":\"x\"}"))
	f.Fuzz(checkAlerts)
}
