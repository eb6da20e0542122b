package decode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// File streams the items of an alert file (Graph, OCSF or Sentinel; one
// object, an array, a page or NDJSON; .gz is read as gzip), decoded, so
// that memory stays flat however long the replay. Read NDJSON line by
// line; any other shape is read whole and split. A File is not safe for
// concurrent use.
type File struct {
	f       *os.File
	r       *bufio.Reader
	items   [][]byte // a non-NDJSON body, split at once
	repeat  int
	pass    int
	shift   time.Duration
	path    string
	decoded int
}

// OpenFile opens an alert file to be read repeat times (at least once):
// each pass after the first gives every alert a new id (suffixed -r1,
// -r2, …) and moves its times 30 days a pass, so that the passes are new
// alerts.
func OpenFile(path string, repeat int) (*File, error) {
	rd := &File{path: path, repeat: max(1, repeat)}
	if err := rd.open(); err != nil {
		return nil, err
	}
	return rd, nil
}

func (rd *File) open() error {
	f, err := os.Open(rd.path)
	if err != nil {
		return err
	}
	rd.f = f
	var r io.Reader = f
	if strings.HasSuffix(rd.path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", rd.path, err)
		}
		r = gz
	}
	rd.r = bufio.NewReaderSize(r, 1<<20)
	first, err := rd.r.Peek(1)
	if err == nil && (first[0] == '[' || isSingleDoc(rd.r)) {
		body, err := io.ReadAll(rd.r)
		if err != nil {
			return err
		}
		items, err := splitItems(body)
		if err != nil {
			return err
		}
		rd.items = items
	}
	return nil
}

// isSingleDoc tells a pretty-printed single document or page from NDJSON
// by its first line.
func isSingleDoc(r *bufio.Reader) bool {
	b, _ := r.Peek(64 << 10)
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	return !json.Valid(bytes.TrimSpace(line))
}

func splitItems(body []byte) ([][]byte, error) {
	var out [][]byte
	alerts, problems, err := Decode(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("item %d: %s: %s", problems[0].Index, problems[0].Field, problems[0].Reason)
	}
	for _, a := range alerts {
		out = append(out, a.Raw)
	}
	return out, nil
}

// Close closes the file.
func (rd *File) Close() {
	if rd.f != nil {
		rd.f.Close()
	}
}

// NextRaw returns the next item's bytes, undecoded, moving to the next pass of the
// file at its end; nil when every pass is done.
func (rd *File) NextRaw() ([]byte, error) {
	// Past the last pass the file is closed: reading it again would fail
	// (an NDJSON file whose last batch came out short asks once more).
	if rd.pass >= rd.repeat {
		return nil, nil
	}
	for {
		if rd.items != nil {
			if len(rd.items) > 0 {
				it := rd.items[0]
				rd.items = rd.items[1:]
				return it, nil
			}
		} else {
			line, err := rd.r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				return bytes.TrimSpace(line), nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			if err == nil {
				continue
			}
		}
		rd.pass++
		rd.f.Close()
		if rd.pass >= rd.repeat {
			return nil, nil
		}
		rd.items = nil
		if err := rd.open(); err != nil {
			return nil, err
		}
	}
}

// shifted returns the item for the current pass (shift).
func (rd *File) shifted(raw []byte) (*domain.Alert, error) {
	a, err := shift(raw, rd.pass)
	if err != nil {
		return nil, err
	}
	rd.decoded++
	return a, nil
}

// shift decodes an item of a pass: later passes get a new id and times
// moved past the file's span, so that they are new alerts.
func shift(raw []byte, pass int) (*domain.Alert, error) {
	a, _, derr := Item(raw)
	if derr != nil {
		return nil, derr
	}
	if pass > 0 {
		a.ID += passSuffix(pass)
		d := time.Duration(pass) * passShift
		a.CreatedDateTime = a.CreatedDateTime.Add(d)
		a.LastUpdateDateTime = a.LastUpdateDateTime.Add(d)
		for _, p := range []**time.Time{&a.FirstActivityDateTime, &a.LastActivityDateTime, &a.ResolvedDateTime} {
			if *p != nil {
				t := (**p).Add(d)
				*p = &t
			}
		}
	}
	return a, nil
}

// passShift is how far each pass of a replay after the first moves an
// alert's times: past any scenario's span, so the passes do not overlap.
const passShift = 30 * 24 * time.Hour

func passSuffix(pass int) string { return "-r" + strconv.Itoa(pass) }

// ShiftRaw is an item's bytes as pass p of a replay gives them (pass 0
// unchanged), for replays that post the raw JSON: the same new id and
// times as File gives a decoded alert of that pass.
func ShiftRaw(raw []byte, pass int) ([]byte, error) {
	if pass == 0 {
		return raw, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	id, ok := m["id"].(string)
	if !ok {
		return nil, errors.New("id: missing or not a string")
	}
	m["id"] = id + passSuffix(pass)
	for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime", "resolvedDateTime"} {
		if v, ok := m[k].(string); ok {
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				m[k] = at.Add(time.Duration(pass) * passShift).Format(time.RFC3339Nano)
			}
		}
	}
	return json.Marshal(m)
}

// Next returns up to n decoded alerts; none when every pass is done.
func (rd *File) Next(n int) ([]*domain.Alert, error) {
	out := make([]*domain.Alert, 0, n)
	for len(out) < n {
		raw, err := rd.NextRaw()
		if err != nil {
			return nil, err
		}
		if raw == nil {
			break
		}
		a, err := rd.shifted(raw)
		if err != nil {
			return nil, fmt.Errorf("alert %d: %w", rd.decoded, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ReadItems reads every item of an alert file, undecoded (for a client
// that posts them: the API decodes them).
func ReadItems(path string) ([][]byte, error) {
	rd, err := OpenFile(path, 1)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out [][]byte
	for {
		raw, err := rd.NextRaw()
		if raw == nil || err != nil {
			return out, err
		}
		out = append(out, raw)
	}
}

// CountItems counts the items of repeat passes over an alert file
// without decoding them.
func CountItems(path string, repeat int) (int, error) {
	rd, err := OpenFile(path, repeat)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	n := 0
	for {
		raw, err := rd.NextRaw()
		if err != nil {
			return 0, err
		}
		if raw == nil {
			return n, nil
		}
		n++
	}
}
