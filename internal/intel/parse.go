package intel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Options steer Parse. The zero value detects the format and names
// positions "input".
type Options struct {
	// Format of the input; "" detects it from the content: a JSON object
	// with "objects" is STIX, one with "list" is a MISP warning list,
	// anything else a plain list.
	Format Format
	// Source names the input in problems ("ipsum.txt.gz:12: …"); "" means
	// "input".
	Source string
	// Family is the malware family of a plain list's lines that name none;
	// "" means the list's "# Aliases: X, …" comment (maltrail), if any.
	Family string
	// MaxProblems caps the problems kept in the result (all are counted);
	// 0 means 100.
	MaxProblems int
}

// Problem is one bad line or object, skipped or kept as unsupported.
type Problem struct {
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"`
	Ref     string `json:"ref,omitempty"` // STIX id, when the object has one
	Message string `json:"message"`
}

func (p Problem) String() string {
	pos := p.Source + ":" + strconv.Itoa(p.Line)
	if p.Column > 0 {
		pos += ":" + strconv.Itoa(p.Column)
	}
	if p.Ref != "" {
		pos += " (" + p.Ref + ")"
	}
	return pos + ": " + p.Message
}

// Result says what Parse read.
type Result struct {
	Format Format `json:"format"`
	// Name and Description are what the feed says of itself (a MISP
	// list's name); empty for plain lists and bundles.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Benign is true for known-benign lists (MISP warning lists): a match
	// says "commonly seen, likely harmless", not "malicious".
	Benign bool `json:"benign"`
	// Indicators counts those handed to emit, Unsupported among them.
	Indicators  int `json:"indicators"`
	Unsupported int `json:"unsupported"`
	// Skipped counts bad lines and objects, Problems describes them (up to
	// Options.MaxProblems) and the unsupported ones.
	Skipped  int       `json:"skipped"`
	Problems []Problem `json:"problems"`
	// Ignored counts STIX objects that are neither indicators nor ATT&CK
	// knowledge (malware, other attack patterns, relationships…) and
	// revoked indicators.
	Ignored int `json:"ignored,omitempty"`
	// Knowledge is the bundle's MITRE ATT&CK content (tactics, techniques,
	// mitigations), when it has any; nil otherwise.
	Knowledge *Knowledge `json:"-"`
}

// parser carries one Parse call's state.
type parser struct {
	opt  Options
	res  *Result
	emit func(Indicator) error
}

func (p *parser) problem(line, col int, ref, format string, args ...any) {
	if len(p.res.Problems) < p.opt.MaxProblems {
		p.res.Problems = append(p.res.Problems, Problem{Source: p.opt.Source, Line: line, Column: col, Ref: ref,
			Message: fmt.Sprintf(format, args...)})
	}
}

// skip reports a bad line or object that was left out.
func (p *parser) skip(line, col int, ref, format string, args ...any) {
	p.res.Skipped++
	p.problem(line, col, ref, format, args...)
}

// add emits one indicator, counting it.
func (p *parser) add(in Indicator) error {
	p.res.Indicators++
	if in.Kind == KindPattern {
		p.res.Unsupported++
	}
	return p.emit(in)
}

// Parse reads a feed from r (plain or gzip-compressed), hands each
// indicator to emit, and says what it read. It fails only when the input as
// a whole is unusable (not JSON where JSON was announced, no bundle) or emit
// fails; bad lines and objects are skipped and reported in the result.
func Parse(r io.Reader, opt Options, emit func(Indicator) error) (*Result, error) {
	if opt.Source == "" {
		opt.Source = "input"
	}
	if opt.MaxProblems <= 0 {
		opt.MaxProblems = 100
	}
	br, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt.Source, err)
	}
	if opt.Format == "" {
		opt.Format = detect(br)
	}
	p := &parser{opt: opt, res: &Result{Format: opt.Format, Problems: []Problem{}}, emit: emit}
	switch opt.Format {
	case FormatSTIX:
		err = p.stix(br)
	case FormatMISP:
		err = p.misp(br)
	case FormatList:
		err = p.list(br)
	default:
		_, err = ParseFormat(string(opt.Format))
	}
	var pe *posError
	switch {
	case errors.As(err, &pe):
		return p.res, fmt.Errorf("%s:%w", opt.Source, err)
	case err != nil:
		return p.res, fmt.Errorf("%s: %w", opt.Source, err)
	}
	return p.res, nil
}

// decompress returns a buffered reader of r's content, gunzipped when it
// starts with gzip's magic number.
func decompress(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(zr, 64<<10), nil
	}
	return br, nil
}

// detect guesses the format from the first 64 KiB.
func detect(br *bufio.Reader) Format {
	head, _ := br.Peek(64 << 10)
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(head) == 0 || head[0] != '{' {
		return FormatList
	}
	if bytes.Contains(head, []byte(`"objects"`)) || bytes.Contains(head, []byte(`"bundle"`)) {
		return FormatSTIX
	}
	if bytes.Contains(head, []byte(`"list"`)) {
		return FormatMISP
	}
	return FormatSTIX
}
