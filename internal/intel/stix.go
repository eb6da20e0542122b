package intel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// stixObject holds the fields AIR reads of any STIX object.
type stixObject struct {
	Type             string   `json:"type"`
	ID               string   `json:"id"`
	Modified         string   `json:"modified"`
	Name             string   `json:"name"`
	Pattern          string   `json:"pattern"`
	PatternType      string   `json:"pattern_type"`
	ValidFrom        string   `json:"valid_from"`
	ValidUntil       string   `json:"valid_until"`
	Labels           []string `json:"labels"`
	IndicatorTypes   []string `json:"indicator_types"`
	Confidence       *int     `json:"confidence"`
	Revoked          bool     `json:"revoked"`
	RelationshipType string   `json:"relationship_type"`
	SourceRef        string   `json:"source_ref"`
	TargetRef        string   `json:"target_ref"`

	// ATT&CK's fields (tactics, techniques, mitigations).
	Description        string `json:"description"`
	ExternalReferences []struct {
		SourceName string `json:"source_name"`
		URL        string `json:"url"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
	KillChainPhases []struct {
		KillChainName string `json:"kill_chain_name"`
		PhaseName     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
	ShortName  string `json:"x_mitre_shortname"`
	Deprecated bool   `json:"x_mitre_deprecated"`
}

// stixIndicator is an indicator object and where it was.
type stixIndicator struct {
	obj       stixObject
	line, col int
}

// bundle collects what a STIX bundle says about its indicators.
type bundle struct {
	order    []string                  // indicator ids, first appearance first
	inds     map[string]*stixIndicator // by id
	names    map[string]string         // malware, tool, group ids → names
	families map[string]string         // indicator id → the id it indicates
	attack   attack                    // ATT&CK tactics, techniques, mitigations
}

// take keeps one object: an indicator (a later version replaces an earlier
// one), a name, an "indicates" relationship; it reports whether the object
// was of a type that yields no indicator.
func (b *bundle) take(o stixObject, line, col int) (ignored bool) {
	if b.attack.take(o) {
		return false // kept as ATT&CK knowledge
	}
	switch o.Type {
	case "indicator":
		// An indicator's description and references are not kept: a feed
		// of a million indicators must not hold them all.
		o.Description, o.ExternalReferences, o.KillChainPhases = "", nil, nil
		if prev, ok := b.inds[o.ID]; ok {
			if o.Modified >= prev.obj.Modified {
				prev.obj, prev.line, prev.col = o, line, col
			}
			return false
		}
		b.order = append(b.order, o.ID)
		b.inds[o.ID] = &stixIndicator{obj: o, line: line, col: col}
		return false
	case "malware", "tool", "intrusion-set", "threat-actor":
		if o.Name != "" {
			b.names[o.ID] = o.Name
		}
	case "relationship":
		if o.RelationshipType == "indicates" && strings.HasPrefix(o.SourceRef, "indicator--") {
			// A malware or tool name wins over a group's.
			if _, ok := b.families[o.SourceRef]; !ok || strings.HasPrefix(o.TargetRef, "malware--") {
				b.families[o.SourceRef] = o.TargetRef
			}
		}
	}
	return true
}

// stix reads a bundle. Indicators are held until the end, because the
// relationships that name their malware family may follow them; a later
// version of an object (same id, newer "modified") replaces an earlier one.
func (p *parser) stix(r io.Reader) error {
	lr := newLineReader(r)
	dec := json.NewDecoder(lr)
	if err := expectDelim(dec, lr, '{', "a STIX bundle (a JSON object)"); err != nil {
		return err
	}
	b := &bundle{inds: map[string]*stixIndicator{}, names: map[string]string{}, families: map[string]string{},
		attack: attack{tactics: map[string]stixObject{}, techniques: map[string]stixObject{}, mitigations: map[string]stixObject{}}}
	sawObjs := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxAt(lr, dec, err)
		}
		key, _ := tok.(string)
		if key != "objects" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return syntaxAt(lr, dec, err)
			}
			if key == "type" && string(skip) != `"bundle"` {
				return fmt.Errorf("not a STIX bundle: type is %s", skip)
			}
			continue
		}
		sawObjs = true
		if err := p.stixObjects(dec, lr, b); err != nil {
			return err
		}
	}
	if !sawObjs {
		return errors.New(`not a STIX bundle: no "objects"`)
	}
	p.res.Knowledge = b.attack.knowledge()
	for _, id := range b.order {
		if err := p.stixIndicator(b.inds[id], b.names[b.families[id]]); err != nil {
			return err
		}
	}
	// Indicators are judged after the other objects: put the problems
	// back in input order.
	sort.SliceStable(p.res.Problems, func(i, j int) bool {
		a, b := p.res.Problems[i], p.res.Problems[j]
		return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
	})
	return nil
}

// stixObjects reads the "objects" array into b, skipping (and reporting)
// objects of the wrong shape.
func (p *parser) stixObjects(dec *json.Decoder, lr *lineReader, b *bundle) error {
	if err := expectDelim(dec, lr, '[', `"objects" as an array`); err != nil {
		return err
	}
	for n := 0; dec.More(); n++ {
		line, col := lr.next(dec)
		var o stixObject
		if err := dec.Decode(&o); err != nil {
			var typ *json.UnmarshalTypeError
			if !errors.As(err, &typ) {
				return syntaxAt(lr, dec, err)
			}
			p.skip(line, col, o.ID, "objects[%d]: %s: want %s, got JSON %s", n, typ.Field, typ.Type, typ.Value)
			continue
		}
		if o.Type == "" {
			p.skip(line, col, o.ID, "objects[%d]: no type", n)
			continue
		}
		if b.take(o, line, col) {
			p.res.Ignored++
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return syntaxAt(lr, dec, err)
	}
	return nil
}

// stixIndicator emits the indicators one STIX indicator object yields.
func (p *parser) stixIndicator(si *stixIndicator, family string) error {
	o := si.obj
	if o.Revoked {
		p.res.Ignored++
		return nil
	}
	from, err := stixTime(o.ValidFrom)
	if err != nil {
		p.skip(si.line, si.col, o.ID, "valid_from: %v", err)
		return nil
	}
	until, err := stixTime(o.ValidUntil)
	if err != nil {
		p.skip(si.line, si.col, o.ID, "valid_until: %v", err)
		return nil
	}
	if from != nil && until != nil && !until.After(*from) {
		p.skip(si.line, si.col, o.ID, "valid_until %s is not after valid_from %s", o.ValidUntil, o.ValidFrom)
		return nil
	}
	score, err := stixScore(o)
	if err != nil {
		p.skip(si.line, si.col, o.ID, "%v", err)
		return nil
	}
	base := Indicator{Score: score, Family: family, Ref: o.ID, ValidFrom: from, ValidUntil: until}
	if strings.TrimSpace(o.Pattern) == "" {
		p.skip(si.line, si.col, o.ID, "indicator without a pattern")
		return nil
	}
	var cmps []comparison
	if o.PatternType != "" && o.PatternType != "stix" {
		err = fmt.Errorf("pattern_type %q: AIR evaluates STIX patterns", o.PatternType)
	} else {
		cmps, err = stixPattern(o.Pattern)
	}
	seen := map[comparison]bool{}
	for _, c := range cmps {
		if seen[c] {
			continue
		}
		seen[c] = true
		in := base
		in.Kind, in.Value = c.kind, c.value
		if err := p.add(in); err != nil {
			return err
		}
	}
	if err != nil {
		// Kept, so that the feed's record is complete and a later AIR that
		// evaluates more can match it; reported, so that nobody believes
		// it is checked.
		p.problem(si.line, si.col, o.ID, "pattern kept but not evaluated: %v", err)
		in := base
		in.Kind, in.Value = KindPattern, o.Pattern
		return p.add(in)
	}
	return nil
}

func stixTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("want an RFC 3339 timestamp, got %q", s)
	}
	t = t.UTC()
	return &t, nil
}

// stixScore is the indicator's confidence when it has one, else a score
// from its indicator types (STIX 2.1) or labels (2.0): malicious 75,
// anomalous or unknown 50, benign 0; 50 when nothing says.
func stixScore(o stixObject) (int, error) {
	if o.Confidence != nil {
		if *o.Confidence < 0 || *o.Confidence > 100 {
			return 0, fmt.Errorf("confidence %d is outside 0–100", *o.Confidence)
		}
		return *o.Confidence, nil
	}
	types := append(slices.Clone(o.IndicatorTypes), o.Labels...)
	for _, t := range []struct {
		name  string
		score int
	}{{"malicious-activity", 75}, {"attribution", 75}, {"compromised", 75}, {"anomalous-activity", 50}, {"unknown", 50}, {"benign", 0}} {
		if slices.Contains(types, t.name) {
			return t.score, nil
		}
	}
	return 50, nil
}

func expectDelim(dec *json.Decoder, lr *lineReader, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxAt(lr, dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		line, col := lr.position(dec.InputOffset())
		return &posError{line, col, fmt.Errorf("want %s", what)}
	}
	return nil
}

// syntaxAt places a fatal JSON error: past it nothing can be read.
func syntaxAt(lr *lineReader, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off = syn.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = errors.New("unexpected end of input")
	}
	line, col := lr.position(max(off, 0))
	return &posError{line, col, fmt.Errorf("malformed JSON: %w", err)}
}

// posError is a fatal error at a position of the input; Parse prefixes the
// source's name.
type posError struct {
	line, col int
	err       error
}

func (e *posError) Error() string { return fmt.Sprintf("%d:%d: %v", e.line, e.col, e.err) }
func (e *posError) Unwrap() error { return e.err }
