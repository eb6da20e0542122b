package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/records"
)

// intelCmd is `starter intel import|list|lookup|delete`. Import sends the
// file as it is to the API, which parses and stores it as it arrives: the
// worker is the one place that writes feeds and audits it.
func intelCmd(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"intel: missing subcommand (import, list, lookup, delete, facts)"}
	}
	switch args[0] {
	case "import":
		return intelImport(ctx, env, args[1:])
	case "list":
		return intelList(ctx, env, args[1:])
	case "lookup":
		return intelLookup(ctx, env, args[1:])
	case "delete":
		return intelDelete(ctx, env, args[1:])
	case "facts":
		return intelFacts(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "intel "+args[0])}
}

// feedNameOf is a file's base name without its extensions, the default
// feed name: "ipsum.txt.gz" → "ipsum".
func feedNameOf(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, "."); i > 0 {
		base = base[:i]
	}
	return base
}

func intelImport(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "intel import")
	name := fs.String("name", "", "the feed's name (default: the file's name without extensions)")
	format := fs.String("format", "", "stix, misp or list (default: detected from the content)")
	family := fs.String("family", "", "malware family of a plain list's lines that name none")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "one feed file", func(n int) bool { return n == 1 })
	if err != nil {
		return err
	}
	file := pos[0]
	if *name == "" {
		*name = feedNameOf(file)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	q := url.Values{"name": {*name}, "source": {filepath.Base(file)}}
	if *format != "" {
		q.Set("format", *format)
	}
	if *family != "" {
		q.Set("family", *family)
	}
	prog := &uploadProgress{r: f, size: st.Size(), w: env.Stderr, name: *name, every: 2 * time.Second, last: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(env.BaseURL, "/")+"/api/v1/intel/feeds?"+q.Encode(), prog)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	// The worker parses while it receives, so a large feed takes as long
	// as it takes: no overall client timeout.
	client := *env.HTTP
	client.Timeout = 0
	var res api.FeedImportResult
	status, err := do(env, &client, req, &res)
	prog.done()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if *out == "json" {
		printJSON(env.Stdout, res)
		return nil
	}
	printImport(env.Stdout, res)
	if status == http.StatusMultiStatus {
		return fmt.Errorf("%d bad lines or objects skipped; the rest imported", res.Feed.Skipped)
	}
	return nil
}

// printImport says what an import stored and what it skipped.
func printImport(w io.Writer, res api.FeedImportResult) {
	fd := res.Feed
	kind := "threat intelligence"
	if fd.Benign {
		kind = "known-benign list"
	}
	fmt.Fprintf(w, "feed %s (%s, %s): %d indicators", fd.Name, fd.Format, kind, fd.Indicators)
	if fd.Techniques > 0 {
		fmt.Fprintf(w, ", %d MITRE ATT&CK techniques", fd.Techniques)
	}
	if fd.Unsupported > 0 {
		fmt.Fprintf(w, ", %d kept but not evaluated", fd.Unsupported)
	}
	if fd.Duplicates > 0 {
		fmt.Fprintf(w, ", %d duplicates", fd.Duplicates)
	}
	if fd.Skipped > 0 {
		fmt.Fprintf(w, ", %d bad lines or objects skipped", fd.Skipped)
	}
	if res.Ignored > 0 {
		fmt.Fprintf(w, ", %d other objects ignored", res.Ignored)
	}
	fmt.Fprintln(w)
	for _, p := range res.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	if n := fd.Skipped + fd.Unsupported; n > len(res.Problems) {
		fmt.Fprintf(w, "  … and %d more\n", n-len(res.Problems))
	}
}

// uploadProgress reports an upload's progress on w every so often; the worker
// parses and stores as it receives, so this is the import's progress too.
type uploadProgress struct {
	r     io.Reader
	size  int64
	w     io.Writer
	name  string
	every time.Duration

	mu       sync.Mutex
	sent     int64
	last     time.Time
	reported bool
}

func (p *uploadProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent += int64(n)
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.reported = true
		fmt.Fprintf(p.w, "importing %s: %s of %s (%d%%)\n", p.name, mib(p.sent), mib(p.size), percent(p.sent, p.size))
	}
	return n, err
}

// done closes the progress report, if one was begun.
func (p *uploadProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reported {
		fmt.Fprintf(p.w, "importing %s: %s sent\n", p.name, mib(p.sent))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func percent(n, of int64) int64 {
	if of <= 0 {
		return 100
	}
	return n * 100 / of
}

func intelList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "intel list")
	out := outputFlag(fs, "table", "table|json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	var list api.FeedList
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/intel/feeds", nil, &list); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, list.Value)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFORMAT\tKIND\tINDICATORS\tUNSUPPORTED\tSKIPPED\tSOURCE\tIMPORTED\tBY")
	for _, f := range list.Value {
		kind := "intel"
		if f.Benign {
			kind = "benign"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", f.Name, f.Format, kind, f.Indicators, f.Unsupported,
			f.Skipped, f.Source, f.ImportedAt.UTC().Format(time.DateTime), f.ImportedBy)
	}
	return tw.Flush()
}

func intelLookup(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "intel lookup")
	at := fs.String("at", "", "the time indicators must be valid at (RFC 3339; default now)")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "KIND VALUE (kind: ip, domain, url or file)", func(n int) bool { return n == 2 })
	if err != nil {
		return err
	}
	q := url.Values{"kind": {pos[0]}, "value": {pos[1]}}
	if *at != "" {
		q.Set("at", *at)
	}
	var look api.IntelLookup
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/intel/lookup?"+q.Encode(), nil, &look); err != nil {
		return err
	}
	// Prevalence counts across device groups: a scoped token is refused,
	// and the look-up stands on its own.
	var prev *records.Prevalence
	var p records.Prevalence
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/prevalence?"+url.Values{"kind": {pos[0]}, "value": {pos[1]}}.Encode(), nil, &p); err == nil {
		prev = &p
	}
	if *out == "json" {
		printJSON(env.Stdout, map[string]any{"lookup": look, "prevalence": prev})
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s %s at %s: ", look.Kind, look.Value, look.At.Format(time.DateTime))
	if len(look.Matches) == 0 {
		fmt.Fprintln(env.Stdout, "in no feed")
	} else {
		fmt.Fprintf(env.Stdout, "%d matches\n", len(look.Matches))
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FEED\tKIND\tINDICATOR\tSCORE\tFAMILY\tVALID\tREF")
		for _, m := range look.Matches {
			name := m.Feed
			if m.Benign {
				name += " (benign)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\n", name, m.Kind, m.Value, m.Score, dash(m.Family), validity(m.ValidFrom, m.ValidUntil), m.Ref)
		}
		tw.Flush()
	}
	if prev != nil {
		fmt.Fprintf(env.Stdout, "seen here: %d alerts, %d incidents, %d devices, %d users", prev.Alerts, prev.Incidents, prev.Devices, prev.Users)
		if prev.FirstSeen != nil {
			fmt.Fprintf(env.Stdout, ", first %s, last %s", prev.FirstSeen.Format(time.DateTime), prev.LastSeen.Format(time.DateTime))
		}
		fmt.Fprintln(env.Stdout)
	}
	return nil
}

func validity(from, until *time.Time) string {
	if from == nil && until == nil {
		return "always"
	}
	f, u := "…", "…"
	if from != nil {
		f = from.Format(time.DateOnly)
	}
	if until != nil {
		u = until.Format(time.DateOnly)
	}
	return f + "–" + u
}

func intelDelete(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "intel delete")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"intel delete: name one feed"}
	}
	var f records.IntelFeed
	if _, err := call(ctx, env, http.MethodDelete, "/api/v1/intel/feeds/"+url.PathEscape(pos[0]), nil, &f); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "feed %s deleted (%d indicators)\n", f.Name, f.Indicators)
	return nil
}

// intelFacts prints what analysis steps recorded about an incident's
// entities.
func intelFacts(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "intel facts")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "one incident id", func(n int) bool { return n == 1 })
	if err != nil {
		return err
	}
	var list api.FactList
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/incidents/"+url.PathEscape(pos[0])+"/facts", nil, &list); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, list.Value)
		return nil
	}
	if len(list.Value) == 0 {
		fmt.Fprintln(env.Stdout, "no facts: the incident's playbooks have no analysis steps, or they have not run yet")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tKIND\tSOURCE\tOBSERVED\tVALUE")
	for _, f := range list.Value {
		var b bytes.Buffer
		if json.Compact(&b, f.Value) != nil { // the API indents its answers
			b.Reset()
			b.Write(f.Value)
		}
		v := b.String()
		if len(v) > 120 {
			v = v[:117] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Entity, f.Kind, f.Source, f.ObservedAt.UTC().Format(time.DateTime), v)
	}
	return tw.Flush()
}
