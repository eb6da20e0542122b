package intel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// mispEntry is one value of a warning list's "list" and where it was.
type mispEntry struct {
	value     string
	index     int // in "list"
	line, col int
}

// misp reads a MISP warning list: {"name", "description", "type", "list":
// [values…]}. Warning lists are known-benign values, so the result is
// Benign. The list's type says how to read its values:
//
//   - cidr: addresses and networks;
//   - hostname: domains that match with their subdomains (".dyndns.org");
//   - string, substring: each value classified (IP, network, hash, domain,
//     URL) and matched exactly — a substring list's looser meaning is not
//     evaluated, and values that are none of those are kept as patterns;
//   - regex: kept as patterns, not evaluated.
//
// "type" may follow "list" (MISP writes keys in alphabetical order), so
// the values are held until the end of the object.
func (p *parser) misp(r io.Reader) error {
	p.res.Benign = true
	lr := newLineReader(r)
	dec := json.NewDecoder(lr)
	if err := expectDelim(dec, lr, '{', "a MISP warning list (a JSON object)"); err != nil {
		return err
	}
	var typ string
	var entries []mispEntry
	sawList := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxAt(lr, dec, err)
		}
		key, _ := tok.(string)
		if key != "list" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return syntaxAt(lr, dec, err)
			}
			var s string
			switch key {
			case "type":
				if json.Unmarshal(v, &s) != nil {
					return fmt.Errorf(`"type" is %s: want a string`, v)
				}
				typ = s
			case "name":
				_ = json.Unmarshal(v, &p.res.Name) // not a string: no name, nothing lost
			case "description":
				_ = json.Unmarshal(v, &p.res.Description)
			}
			continue
		}
		sawList = true
		if entries, err = p.mispList(dec, lr); err != nil {
			return err
		}
	}
	if !sawList {
		return errors.New(`not a MISP warning list: no "list"`)
	}
	return p.mispEntries(typ, entries)
}

// mispList reads the "list" array, skipping (and reporting) values that are
// not strings.
func (p *parser) mispList(dec *json.Decoder, lr *lineReader) ([]mispEntry, error) {
	if err := expectDelim(dec, lr, '[', `"list" as an array`); err != nil {
		return nil, err
	}
	var entries []mispEntry
	for n := 0; dec.More(); n++ {
		line, col := lr.next(dec)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxAt(lr, dec, err)
		}
		s, ok := v.(string)
		if !ok {
			p.skip(line, col, "", "list[%d]: want a string, got %v", n, v)
			continue
		}
		entries = append(entries, mispEntry{value: s, index: n, line: line, col: col})
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxAt(lr, dec, err)
	}
	return entries, nil
}

// mispEntries emits a list's values read as its type says.
func (p *parser) mispEntries(typ string, entries []mispEntry) error {
	read, err := mispReader(typ)
	if err != nil {
		return err
	}
	for _, e := range entries {
		in, err := read(e.value)
		if err != nil {
			p.skip(e.line, e.col, "", "list[%d]: %v", e.index, err)
			continue
		}
		if in.Kind == KindPattern {
			p.problem(e.line, e.col, "", "list[%d]: %s value %q kept but not evaluated", e.index, typ, e.value)
		}
		if err := p.add(in); err != nil {
			return err
		}
	}
	return nil
}

// mispReader returns how values of a warning list type become indicators.
func mispReader(typ string) (func(string) (Indicator, error), error) {
	switch typ {
	case "cidr":
		return func(v string) (Indicator, error) {
			k, val, err := Normalize(KindCIDR, v)
			return Indicator{Kind: k, Value: val}, err
		}, nil
	case "hostname":
		return func(v string) (Indicator, error) {
			k, val, err := Normalize(KindDomain, v)
			return Indicator{Kind: k, Value: val, Subdomains: true}, err
		}, nil
	case "string", "substring":
		return func(v string) (Indicator, error) {
			k, val, err := Classify(v)
			if err != nil {
				return Indicator{Kind: KindPattern, Value: v}, nil
			}
			return Indicator{Kind: k, Value: val}, nil
		}, nil
	case "regex":
		return func(v string) (Indicator, error) {
			return Indicator{Kind: KindPattern, Value: v}, nil
		}, nil
	case "":
		return nil, errors.New(`MISP warning list without a "type"`)
	}
	return nil, fmt.Errorf("MISP warning list type %q: want cidr, hostname, string, substring or regex", typ)
}
