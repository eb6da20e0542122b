package intel

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// maxLine bounds one line of a plain list; a longer one is an error of the
// whole input (it is not a list).
const maxLine = 1 << 20

// list reads one indicator a line: the value, then optionally a score (an
// integer) and a family, separated by tabs, spaces or commas. Empty lines
// and lines starting with # are comments. A "# Aliases: …" comment marks a
// maltrail trail file, whose name is its malware family: lines without a
// family get Options.Family or, when that is empty, the source's base name
// ("emotet.txt.gz" → "emotet").
func (p *parser) list(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	family := p.opt.Family
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if strings.HasPrefix(strings.TrimSpace(line[1:]), "Aliases:") && family == "" {
				family = trailName(p.opt.Source)
			}
			continue
		}
		in, err := listLine(line)
		if err != nil {
			p.skip(n, 0, "", "%v", err)
			continue
		}
		if in.Kind == KindPattern {
			p.problem(n, 0, "", "%q kept but not evaluated: a URL path without a host", in.Value)
		}
		if in.Family == "" {
			in.Family = family
		}
		in.Ref = "line " + strconv.Itoa(n)
		if err := p.add(in); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read list: %w", err)
	}
	return nil
}

// listLine parses "VALUE [SCORE] [FAMILY]". A value that is a bare URL
// path (maltrail's "/owalanding/ajax.php", which matches on any host) is
// kept as a pattern.
func listLine(line string) (Indicator, error) {
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == '\t' || r == ' ' || r == ',' || r == ';' })
	kind, value, err := Classify(fields[0])
	if err != nil && strings.HasPrefix(fields[0], "/") {
		kind, value, err = KindPattern, fields[0], nil
	}
	if err != nil {
		return Indicator{}, err
	}
	in := Indicator{Kind: kind, Value: value}
	rest := fields[1:]
	if len(rest) > 0 {
		if n, err := strconv.Atoi(rest[0]); err == nil {
			if n < 0 {
				return Indicator{}, fmt.Errorf("score %d is negative", n)
			}
			in.Score = n
			rest = rest[1:]
		}
	}
	if len(rest) > 0 {
		in.Family = strings.Join(rest, " ")
	}
	return in, nil
}

// trailName is a file's base name without its extensions.
func trailName(source string) string {
	base := filepath.Base(source)
	if i := strings.Index(base, "."); i > 0 {
		base = base[:i]
	}
	if base == "input" || base == "-" {
		return ""
	}
	return base
}
