package intel

import (
	"os"
	"strings"
	"testing"
)

func TestAttackBundleYieldsTechniquesWithTheirMitigations(t *testing.T) {
	f, err := os.Open("testdata/attack-excerpt.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f, Options{Source: "attack-excerpt.json"}, func(Indicator) error {
		t.Error("an ATT&CK bundle yielded an indicator")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	k := res.Knowledge
	if k == nil {
		t.Fatal("no ATT&CK knowledge read")
	}
	if len(k.Tactics) != 2 || k.Tactics[0].ID != "TA0001" || k.Tactics[0].Name != "Initial Access" || k.Tactics[0].ShortName != "initial-access" {
		t.Errorf("tactics %+v", k.Tactics)
	}
	ids := []string{}
	for _, tq := range k.Techniques {
		ids = append(ids, tq.ID)
	}
	if strings.Join(ids, " ") != "T1059.001 T1566 T1566.002" {
		t.Fatalf("techniques %v", ids)
	}
	for _, tq := range k.Techniques {
		if strings.Contains(tq.Description, "<code>") {
			t.Errorf("%s: HTML left in the description: %q", tq.ID, tq.Description)
		}
	}
	spear := k.Techniques[2]
	if spear.Name != "Spearphishing Link" || len(spear.Tactics) != 1 || spear.Tactics[0] != "TA0001" ||
		!strings.HasPrefix(spear.URL, "https://attack.mitre.org/techniques/T1566/002") {
		t.Errorf("T1566.002 = %+v", spear)
	}
	if strings.Contains(spear.Description, "(Citation:") || strings.Contains(spear.Description, "\n\n") || spear.Description == "" {
		t.Errorf("description not the first paragraph without citations: %q", spear.Description)
	}
	var names []string
	for _, m := range spear.Mitigations {
		if !strings.HasPrefix(m.ID, "M1") || m.Name == "" || m.How == "" {
			t.Errorf("mitigation %+v", m)
		}
		names = append(names, m.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "User Training") {
		t.Errorf("T1566.002 mitigations %v: want User Training among them", names)
	}
	if Parent("T1566.002") != "T1566" || Parent("T1566") != "" {
		t.Error("Parent")
	}
}

func TestIndicatorBundlesCarryNoKnowledge(t *testing.T) {
	f, err := os.Open("testdata/poisonivy.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f, Options{}, func(Indicator) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Knowledge != nil {
		t.Errorf("knowledge from an indicator bundle: %+v", res.Knowledge)
	}
}
