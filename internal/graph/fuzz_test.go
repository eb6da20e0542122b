package graph

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// FuzzDecode checks that no input panics Decode and that what it returns
// keeps its promises: an error is an invalid error and comes alone; every
// alert has an id, its raw document and keyed entities; problems point into
// the batch.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"id":"a"}`,
		`[{"id":"a"},{"id":"b","severity":"severe"}]`,
		`{"value":[{"id":"a","evidence":[{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"::ffff:10.0.0.1"}]}]}`,
		"{\"id\":\"a\"}\n\n{\"id\":\"b\"}\r\n",
		"{\n \"id\": \"a\"\n}\n{\n \"id\": \"b\"\n}",
		`{"id":"a","evidence":[{"@odata.type":"#microsoft.graph.security.urlEvidence","url":"HTTP://X:80/a#b"}]}`,
		`{"id":"\"[[","title":"\\"}`,
		nested(maxDepth),
		"",
		"null",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/sample-alert.json"); err == nil {
		f.Add(b)
	}
	if paths, err := filepath.Glob(filepath.Join(samplesDir, "*.ndjson")); err == nil {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, problems, err := Decode(bytes.NewReader(body))
		if err != nil {
			if domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("error %v is not of kind invalid", err)
			}
			if alerts != nil || problems != nil {
				t.Fatalf("error %v came with %d alerts and %d problems", err, len(alerts), len(problems))
			}
			return
		}
		for _, a := range alerts {
			if strings.TrimSpace(a.ID) == "" {
				t.Fatalf("alert with empty id from %q", body)
			}
			if !json.Valid(a.Raw) {
				t.Fatalf("alert %q: Raw %q is not JSON", a.ID, a.Raw)
			}
			for _, ev := range a.Evidence {
				if ev.Entity == nil {
					continue
				}
				kind, _, ok := entity.Split(ev.Entity.Key)
				if !ok || kind != ev.Entity.Kind {
					t.Fatalf("alert %q: entity key %q does not match kind %q", a.ID, ev.Entity.Key, ev.Entity.Kind)
				}
			}
		}
		last := -1
		for _, p := range problems {
			if p.Index <= last || p.Reason == "" {
				t.Fatalf("problem %+v out of order or without a reason (previous index %d)", p, last)
			}
			last = p.Index
		}
	})
}
