package logging

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestTemporalAdapterCarriesKeyvals(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Config{Format: "json", Level: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	NewTemporal(l).With("WorkflowID", "incident-7").Info("started", "IncidentID", 7)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if line["WorkflowID"] != "incident-7" || line["IncidentID"] != float64(7) || line["msg"] != "started" {
		t.Errorf("got %v, want workflow id, incident id and message", line)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, Config{Format: "xml"}); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New(&bytes.Buffer{}, Config{Level: "loud"}); err == nil {
		t.Error("level loud accepted")
	}
	l, err := New(&bytes.Buffer{}, Config{})
	if err != nil || l.GetLevel().String() != "info" {
		t.Errorf("zero config: got %v, %v; want info", l, err)
	}
}
