package activities

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/airsoc/air/internal/playbook"
)

func TestPackPlaybooksRoundTrip(t *testing.T) {
	books, err := playbook.Load("../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	var set []PlaybookSource
	for _, b := range books {
		set = append(set, PlaybookSource{File: b.File, Source: b.Source})
	}
	packed, err := PackPlaybooks(set)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(set)
	wire, _ := json.Marshal(packed)
	if len(packed) != 1 || len(wire)*3 > len(plain) {
		t.Errorf("packed set is %d bytes as JSON, the plain one %d: want a third or less", len(wire), len(plain))
	}
	// What the workflow decodes from the marker.
	var recorded []PlaybookSource
	if err := json.Unmarshal(wire, &recorded); err != nil {
		t.Fatal(err)
	}
	got, err := UnpackPlaybooks(recorded)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, set) {
		t.Errorf("unpacked set differs from the packed one")
	}
	// The second time comes from the worker's memory, the same set.
	again, err := UnpackPlaybooks(recorded)
	if err != nil || !reflect.DeepEqual(again, set) || &again[0] != &got[0] {
		t.Errorf("unpacking the same set again: %v, shared %v", err, err == nil && &again[0] == &got[0])
	}
}

func TestUnpackPlaybooksLegacyAndDamaged(t *testing.T) {
	legacy := []PlaybookSource{{File: "a.yaml", Source: []byte("name: a")}, {File: "b.yaml", Source: []byte("name: b")}}
	got, err := UnpackPlaybooks(legacy)
	if err != nil || !reflect.DeepEqual(got, legacy) {
		t.Errorf("a set recorded before packing: got %v, %v; want it unchanged", got, err)
	}
	one := []PlaybookSource{{File: "a.yaml", Source: []byte("name: a")}}
	if got, err := UnpackPlaybooks(one); err != nil || !reflect.DeepEqual(got, one) {
		t.Errorf("a one-playbook set recorded before packing: got %v, %v", got, err)
	}
	if _, err := UnpackPlaybooks([]PlaybookSource{{Packed: []byte("not gzip")}}); err == nil {
		t.Error("a damaged packed set unpacked without error")
	}
}

func TestLoadPlaybooksPacksOnce(t *testing.T) {
	a := &Activities{Playbooks: []PlaybookSource{{File: "a.yaml", Source: []byte("name: a")}}}
	first, err := a.LoadPlaybooks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second, _ := a.LoadPlaybooks(t.Context())
	if len(first) != 1 || first[0].Packed == nil || &first[0] != &second[0] {
		t.Errorf("LoadPlaybooks = %v then %v: want one packed set, packed once", first, second)
	}
}
