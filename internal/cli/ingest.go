package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
)

const ingestUsage = `Usage: starter ingest [flags] FILE...

Sends alerts to AIR (POST /api/v1/alerts): a Graph alert object, a JSON
array, a Graph page {"value": [...]}, or NDJSON, in Graph, OCSF or Sentinel
format; .gz files are read as gzip; - reads stdin. A file of any size is
streamed in batches under the API's body limit, with progress on stderr.
Valid alerts are stored even when others in the batch are bad; the bad ones
are listed with their position in the file and the field at fault.

If a run stops (AIR down, Ctrl-C), it prints the position reached; run it
again with --from N to continue from there without sending anything twice.

Flags:
`

// ingestBatch bounds a batch: the API takes 16 MiB a request by default.
type ingestBatch struct {
	alerts int
	bytes  int
}

func ingest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "ingest")
	fs.Usage = func() { fmt.Fprint(env.Stderr, ingestUsage); fs.PrintDefaults() }
	out := fs.String("o", "table", "output: table or json")
	batchSize := fs.Int("batch", 1000, "alerts per request")
	maxBytes := fs.Int("batch-bytes", 8<<20, "bytes per request at most (keep under the API's body limit)")
	from := fs.Int("from", 0, "skip the first N alerts of the (single) file: where an interrupted run stopped")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{"ingest: name at least one file (- for stdin)"}
	}
	if *from > 0 && len(files) > 1 {
		return usageError{"ingest: --from applies to one file"}
	}
	if *batchSize < 1 || *maxBytes < 1024 {
		return usageError{"ingest: --batch must be at least 1 and --batch-bytes at least 1024"}
	}
	// A batch that opens hundreds of incidents on a loaded worker can take
	// longer than other calls: give it minutes, not the default minute.
	if env.HTTP != nil && env.HTTP.Timeout > 0 && env.HTTP.Timeout < 5*time.Minute {
		c := *env.HTTP
		c.Timeout = 5 * time.Minute
		env.HTTP = &c
	}
	failed := false
	for _, f := range files {
		sum, err := ingestFile(ctx, env, f, ingestBatch{*batchSize, *maxBytes}, *from)
		if sum != nil {
			if *out == "json" {
				printJSON(env.Stdout, sum)
			} else {
				sum.print(env.Stdout, f)
			}
			failed = failed || sum.Rejected > 0
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	if failed {
		return errors.New("some alerts were not accepted")
	}
	return nil
}

// ingestSummary is what one file's ingest did; Results and Problems carry
// positions in the file.
type ingestSummary struct {
	Accepted     int               `json:"accepted"`
	Rejected     int               `json:"rejected"`
	NewIncidents int               `json:"newIncidents"`
	Requests     int               `json:"requests"`
	Seconds      float64           `json:"seconds"`
	Results      []api.AlertResult `json:"results,omitempty"`
	Problems     []ingestProblem   `json:"problems,omitempty"`
	Warnings     []string          `json:"warnings,omitempty"`
	Position     int               `json:"position"` // alerts of the file done, --from included
	omitted      int               // results not kept (large files)
	progress     *progress
}

type ingestProblem struct {
	Index  int    `json:"index"`
	ID     string `json:"id,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// maxListed bounds the per-alert results a summary keeps; problems are all
// kept (a file of bad alerts is what the user must fix).
const maxListed = 50

func (s *ingestSummary) print(w io.Writer, file string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: %d accepted, %d rejected", file, s.Accepted, s.Rejected)
	if s.NewIncidents > 0 {
		fmt.Fprintf(tw, ", %d new incidents", s.NewIncidents)
	}
	fmt.Fprintln(tw)
	for _, r := range s.Results {
		note := ""
		if r.NewIncident {
			note = "(new incident)"
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s\tincident %d %s\n", r.Index, r.ID, r.Outcome, r.IncidentID, note)
	}
	if s.omitted > 0 {
		fmt.Fprintf(tw, "  … and %d more alerts (-o json lists the first %d)\n", s.omitted, maxListed)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(tw, "  #%d\t%s\trejected\t%s: %s\n", p.Index, p.ID, p.Field, p.Reason)
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(tw, "  warning: %s\n", w)
	}
	tw.Flush()
}

func ingestFile(ctx context.Context, env Env, file string, limit ingestBatch, from int) (*ingestSummary, error) {
	r, size, closeFn, err := openInput(file)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	sum := &ingestSummary{Position: from, progress: newProgress(env.Stderr, file, size)}
	start := time.Now()
	defer func() { sum.Seconds = time.Since(start).Seconds(); sum.progress.done(sum) }()

	var (
		batch    bytes.Buffer
		n, first int // alerts in the batch; index in the file of its first
		index    int // alerts read from the file
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		batch.WriteByte(']')
		if err := sum.send(ctx, env, batch.Bytes(), first); err != nil {
			return fmt.Errorf("%w\nstopped after %d alerts of the file; continue with: starter ingest --from %d %s", err, sum.Position, sum.Position, file)
		}
		sum.Position = first + n
		sum.progress.update(sum, r.read())
		batch.Reset()
		n = 0
		return nil
	}
	var sendErr error
	err = eachAlert(r.Reader, func(raw json.RawMessage) error {
		defer func() { index++ }()
		if index < from {
			return nil
		}
		if n > 0 && (n >= limit.alerts || batch.Len()+len(raw)+2 > limit.bytes) {
			if sendErr = flush(); sendErr != nil {
				return sendErr
			}
		}
		if n == 0 {
			first = index
			batch.WriteByte('[')
		} else {
			batch.WriteByte(',')
		}
		batch.Write(raw)
		n++
		return ctx.Err()
	})
	switch {
	case sendErr != nil:
		return sum, sendErr
	case err != nil:
		// A read or syntax error, or an interrupt: send what came before
		// it, then say where to continue.
		if ferr := flush(); ferr != nil {
			return sum, ferr
		}
		return sum, fmt.Errorf("%w\nstopped after %d alerts of the file; continue with: starter ingest --from %d %s", err, sum.Position, sum.Position, file)
	}
	return sum, flush()
}

// send posts one batch, waiting out 429 and 503 answers (Retry-After), and
// adds its results with positions in the file.
func (s *ingestSummary) send(ctx context.Context, env Env, body []byte, first int) error {
	for attempt := 0; ; attempt++ {
		var resp api.IngestResponse
		status, err := call(ctx, env, http.MethodPost, "/api/v1/alerts", body, &resp)
		s.Requests++
		var retry *retryAfterError
		if errors.As(err, &retry) && attempt < 10 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retry.wait):
			}
			continue
		}
		if err != nil && status != http.StatusBadRequest {
			return err
		}
		if status == http.StatusBadRequest && len(resp.Problems) == 0 {
			return err // refused as a whole, not per alert
		}
		s.Accepted += resp.Accepted
		s.Rejected += resp.Rejected
		for _, r := range resp.Results {
			if r.NewIncident {
				s.NewIncidents++
			}
			r.Index += first
			if len(s.Results) < maxListed {
				s.Results = append(s.Results, r)
			} else {
				s.omitted++
			}
		}
		for _, p := range resp.Problems {
			s.Problems = append(s.Problems, ingestProblem{Index: p.Index + first, ID: p.ID, Field: p.Field, Reason: p.Reason})
		}
		if resp.Warning != "" && !contains(s.Warnings, resp.Warning) {
			s.Warnings = append(s.Warnings, resp.Warning)
		}
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// countingReader counts the bytes read from the file, for progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// input is the file being read, with the compressed bytes read so far.
type input struct {
	*bufio.Reader
	counted *countingReader
}

func (in input) read() int64 { return in.counted.n }

// openInput opens a file (or stdin for -), gunzipping .gz; size is the
// file's size on disk, 0 when unknown.
func openInput(file string) (input, int64, func(), error) {
	var f *os.File
	var size int64
	if file == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(file); err != nil {
			return input{}, 0, nil, err
		}
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	counted := &countingReader{r: f}
	var r io.Reader = counted
	closeFn := func() { f.Close() }
	if strings.HasSuffix(file, ".gz") {
		gz, err := gzip.NewReader(counted)
		if err != nil {
			f.Close()
			return input{}, 0, nil, fmt.Errorf("read gzip: %w", err)
		}
		r = gz
	}
	return input{Reader: bufio.NewReaderSize(r, 1<<20), counted: counted}, size, closeFn, nil
}

// eachAlert calls fn with every alert of the input, without holding the
// whole file: a top-level array is walked element by element; a top-level
// object is one alert or a page {"value": [...]}; several top-level values
// (NDJSON) are each read in turn. An error from fn stops the walk and is
// returned as is.
func eachAlert(r *bufio.Reader, fn func(json.RawMessage) error) error {
	first, err := firstByte(r)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert file: %w", err)
	}
	dec := json.NewDecoder(r)
	each := fn
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("alert file: %w", err)
		}
		for i := 0; dec.More(); i++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("alert file, array element %d: %w", i, err)
			}
			if err := each(raw); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("alert file: %w", err)
		}
	}
	for line := 1; dec.More(); line++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("alert file, value %d: %w", line, err)
		}
		var items []json.RawMessage
		var page struct {
			Value []json.RawMessage `json:"value"`
		}
		switch {
		case raw[0] == '[' && json.Unmarshal(raw, &items) == nil:
		case raw[0] == '{' && json.Unmarshal(raw, &page) == nil && page.Value != nil:
			items = page.Value
		default:
			items = []json.RawMessage{raw}
		}
		for _, it := range items {
			if err := each(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstByte peeks the first byte that is not white space.
func firstByte(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			r.Discard(1)
			continue
		}
		return b[0], nil
	}
}

// progress reports a long ingest on stderr, at most every two seconds, and
// a last line when it ends; a file that fits in one request prints none.
type progress struct {
	w     io.Writer
	file  string
	size  int64
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, file string, size int64) *progress {
	now := time.Now()
	return &progress{w: w, file: file, size: size, start: now, last: now}
}

func (p *progress) update(s *ingestSummary, read int64) {
	if time.Since(p.last) < 2*time.Second {
		return
	}
	p.last, p.shown = time.Now(), true
	pct := ""
	if p.size > 0 {
		pct = fmt.Sprintf(" (%d%% of the file)", min(100, read*100/p.size))
	}
	fmt.Fprintf(p.w, "%s: %d alerts sent%s, %.0f/s, %d rejected\n", p.file, s.Position, pct, rate(s.Accepted+s.Rejected, time.Since(p.start)), s.Rejected)
}

func (p *progress) done(s *ingestSummary) {
	if p.shown {
		fmt.Fprintf(p.w, "%s: done, %d alerts in %.1f s (%.0f/s), %d requests\n", p.file, s.Accepted+s.Rejected, s.Seconds, rate(s.Accepted+s.Rejected, time.Since(p.start)), s.Requests)
	}
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
