package intel

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// Knowledge is the MITRE ATT&CK content of a STIX bundle (the enterprise
// matrix, or an excerpt of it): tactics, techniques and the mitigations
// ATT&CK lists for each. The post-incident review names the tactics and
// techniques an incident's alerts saw with it.
type Knowledge struct {
	Tactics    []Tactic    `json:"tactics"`
	Techniques []Technique `json:"techniques"`
}

// Tactic is an ATT&CK tactic (x-mitre-tactic).
type Tactic struct {
	ID          string `json:"id"` // TA0001
	Name        string `json:"name"`
	ShortName   string `json:"shortName"` // initial-access
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

// Technique is an ATT&CK technique or sub-technique (attack-pattern).
type Technique struct {
	ID          string `json:"id"` // T1566 or T1566.002
	Name        string `json:"name"`
	Description string `json:"description"` // the first paragraph, citations removed
	// Tactics are the ids of the tactics it serves (TA0001).
	Tactics     []string     `json:"tactics"`
	URL         string       `json:"url,omitempty"`
	Mitigations []Mitigation `json:"mitigations"`
}

// Mitigation is a course of action ATT&CK lists against a technique.
type Mitigation struct {
	ID   string `json:"id"` // M1049
	Name string `json:"name"`
	// How is what ATT&CK says this mitigation does against the technique.
	How string `json:"how,omitempty"`
}

// Parent is the technique a sub-technique belongs to (T1566 for
// T1566.002), or "" for a technique.
func Parent(id string) string {
	if i := strings.IndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return ""
}

// attack collects a bundle's ATT&CK objects by STIX id.
type attack struct {
	tactics     map[string]stixObject
	techniques  map[string]stixObject
	mitigations map[string]stixObject
	mitigates   []stixObject // relationships course-of-action → attack-pattern
}

// take keeps an ATT&CK object; it reports whether it kept o.
func (a *attack) take(o stixObject) bool {
	if o.Revoked || o.Deprecated {
		return false // left out, and counted as ignored
	}
	keep := func(m map[string]stixObject) {
		if prev, ok := m[o.ID]; !ok || o.Modified >= prev.Modified {
			m[o.ID] = o
		}
	}
	switch o.Type {
	case "x-mitre-tactic":
		keep(a.tactics)
	case "attack-pattern":
		keep(a.techniques)
	case "course-of-action":
		keep(a.mitigations)
	case "relationship":
		if o.RelationshipType != "mitigates" || !strings.HasPrefix(o.SourceRef, "course-of-action--") ||
			!strings.HasPrefix(o.TargetRef, "attack-pattern--") {
			return false
		}
		a.mitigates = append(a.mitigates, o)
	default:
		return false
	}
	return true
}

// knowledge assembles what was taken; nil when the bundle held no
// ATT&CK technique.
func (a *attack) knowledge() *Knowledge {
	if len(a.techniques) == 0 {
		return nil
	}
	k := &Knowledge{}
	byShort := map[string]string{}
	for _, o := range a.tactics {
		id, url := mitreRef(o)
		if id == "" {
			continue
		}
		byShort[o.ShortName] = id
		k.Tactics = append(k.Tactics, Tactic{ID: id, Name: o.Name, ShortName: o.ShortName,
			Description: firstParagraph(o.Description), URL: url})
	}
	mits := map[string][]Mitigation{}
	for _, r := range a.mitigates {
		m, ok := a.mitigations[r.SourceRef]
		if !ok {
			continue
		}
		id, _ := mitreRef(m)
		if id == "" {
			continue
		}
		mits[r.TargetRef] = append(mits[r.TargetRef], Mitigation{ID: id, Name: m.Name, How: firstParagraph(r.Description)})
	}
	for sid, o := range a.techniques {
		id, url := mitreRef(o)
		if id == "" {
			continue
		}
		t := Technique{ID: id, Name: o.Name, Description: firstParagraph(o.Description), URL: url,
			Tactics: []string{}, Mitigations: mits[sid]}
		for _, p := range o.KillChainPhases {
			if tid := byShort[p.PhaseName]; p.KillChainName == "mitre-attack" && tid != "" && !slices.Contains(t.Tactics, tid) {
				t.Tactics = append(t.Tactics, tid)
			}
		}
		slices.SortFunc(t.Mitigations, func(a, b Mitigation) int { return cmp.Compare(a.ID, b.ID) })
		t.Mitigations = slices.CompactFunc(t.Mitigations, func(a, b Mitigation) bool { return a.ID == b.ID })
		if t.Mitigations == nil {
			t.Mitigations = []Mitigation{}
		}
		k.Techniques = append(k.Techniques, t)
	}
	if len(k.Techniques) == 0 {
		return nil // attack patterns, but none of ATT&CK's
	}
	slices.SortFunc(k.Tactics, func(a, b Tactic) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(k.Techniques, func(a, b Technique) int { return cmp.Compare(a.ID, b.ID) })
	return k
}

// mitreRef is an object's ATT&CK id and page, from its external reference
// of source "mitre-attack".
func mitreRef(o stixObject) (id, url string) {
	for _, r := range o.ExternalReferences {
		if r.SourceName == "mitre-attack" && r.ExternalID != "" {
			return r.ExternalID, r.URL
		}
	}
	return "", ""
}

var (
	citation = regexp.MustCompile(`\s*\(Citation:[^)]*\)`)
	htmlTag  = regexp.MustCompile(`</?[a-zA-Z][^>]*>`) // ATT&CK writes <code>…</code>
)

// firstParagraph is a description's first paragraph without ATT&CK's
// citation markers and HTML tags, at most 1,000 bytes.
func firstParagraph(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n\n")
	s = strings.TrimSpace(htmlTag.ReplaceAllString(citation.ReplaceAllString(s, ""), ""))
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "") + "…"
	}
	return s
}
