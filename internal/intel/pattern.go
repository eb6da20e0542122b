package intel

import (
	"errors"
	"fmt"
	"strings"
)

// comparison is one "object-path = 'value'" of a STIX pattern that AIR can
// evaluate.
type comparison struct {
	kind  Kind
	value string
}

// stixPattern reads the part of STIX patterning that AIR evaluates:
// observation expressions joined by OR, each a bracketed list of equality
// comparisons joined by OR, on file hashes (MD5, SHA-1, SHA-256),
// ipv4-addr/ipv6-addr, domain-name and url values:
//
//	[file:hashes.'SHA-256' = 'ef53…' OR file:hashes.MD5 = '001d…']
//	[ipv4-addr:value = '198.51.100.0/24'] OR [domain-name:value = 'evil.example']
//
// It returns what it understood, and an error naming the first thing it did
// not. When the pattern is a disjunction of comparisons, each understood one
// alone implies a match, so it is returned even when others (another
// property or operator) are not understood. When the structure is more than
// that (AND, qualifiers such as WITHIN, FOLLOWEDBY, parentheses), no single
// comparison implies a match and nothing is returned.
func stixPattern(pattern string) ([]comparison, error) {
	out, err := stixDisjunction(pattern)
	var se structureError
	if errors.As(err, &se) {
		return nil, err
	}
	return out, err
}

// structureError is a pattern whose shape is not a disjunction of
// comparisons.
type structureError struct{ error }

func stixDisjunction(pattern string) ([]comparison, error) {
	toks, err := lexPattern(pattern)
	if err != nil {
		return nil, structureError{err}
	}
	var out []comparison
	var firstErr error
	i := 0
	for {
		if i >= len(toks) || toks[i] != "[" {
			return out, structureError{fmt.Errorf("want [ at %q", at(toks, i))}
		}
		i++
		for {
			if i+2 >= len(toks) {
				return out, structureError{fmt.Errorf("unfinished comparison")}
			}
			path, op, val := toks[i], toks[i+1], toks[i+2]
			i += 3
			c, err := stixComparison(path, op, val)
			if err != nil {
				firstErr = orErr(firstErr, err)
			} else {
				out = append(out, c)
			}
			if i < len(toks) && strings.EqualFold(toks[i], "OR") {
				i++
				continue
			}
			break
		}
		if i >= len(toks) || toks[i] != "]" {
			return out, structureError{fmt.Errorf("unsupported %q (AIR evaluates comparisons joined by OR)", at(toks, i))}
		}
		i++
		if i == len(toks) {
			return out, firstErr
		}
		if !strings.EqualFold(toks[i], "OR") {
			return out, structureError{fmt.Errorf("unsupported %q between observations (AIR evaluates OR)", toks[i])}
		}
		i++
	}
}

func orErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func at(toks []string, i int) string {
	if i >= len(toks) {
		return "end of pattern"
	}
	return toks[i]
}

// stixComparison turns one comparison into an indicator value.
func stixComparison(path, op, val string) (comparison, error) {
	if op != "=" {
		return comparison{}, fmt.Errorf("unsupported operator %q (AIR evaluates =)", op)
	}
	if !strings.HasPrefix(val, "'") {
		return comparison{}, fmt.Errorf("want a quoted string after %s =, got %s", path, val)
	}
	lit := val[1:]
	var kind Kind
	switch p := strings.ToLower(strings.ReplaceAll(path, "'", "")); p {
	case "file:hashes.sha-256", "file:hashes.sha256", "file:hashes.md5", "file:hashes.sha-1", "file:hashes.sha1":
		kind = KindFile
	case "ipv4-addr:value", "ipv6-addr:value":
		kind = KindIP
	case "domain-name:value":
		kind = KindDomain
	case "url:value":
		kind = KindURL
	default:
		return comparison{}, fmt.Errorf("unsupported property %s", path)
	}
	k, v, err := Normalize(kind, lit)
	if err != nil {
		return comparison{}, fmt.Errorf("%s: %w", path, err)
	}
	return comparison{kind: k, value: v}, nil
}

// lexPattern splits a pattern into tokens: brackets and parentheses,
// operators, words (object paths with quoted segments such as
// hashes.'SHA-256' stay one token) and string literals, returned with their
// opening quote and unescaped ("'abc").
func lexPattern(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[' || c == ']' || c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			lit, n, err := quoted(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, "'"+lit)
			i += n
		case strings.ContainsRune("=!<>", rune(c)):
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) {
				d := s[j]
				if d == '\'' && j > i && s[j-1] == '.' {
					_, n, err := quoted(s[j:])
					if err != nil {
						return nil, err
					}
					j += n
					continue
				}
				if d == ' ' || d == '\t' || d == '\n' || d == '\r' || strings.ContainsRune("[]()='!<>", rune(d)) {
					break
				}
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", c)
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// quoted reads a single-quoted STIX string at the start of s, with \' and
// \\ escapes, and returns its value and length.
func quoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\'':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
