package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
)

// FeedList answers GET /api/v1/intel/feeds.
type FeedList struct {
	Value []records.IntelFeed `json:"value"`
}

// FeedImportResult answers POST /api/v1/intel/feeds: the feed as stored,
// and what the parser skipped or kept without evaluating.
type FeedImportResult struct {
	Feed *records.IntelFeed `json:"feed"`
	// Problems lists bad lines and objects (skipped) and indicators kept
	// but not evaluated, each with its position; at most 100.
	Problems []intel.Problem `json:"problems"`
	// Ignored counts STIX objects that are not indicators.
	Ignored int `json:"ignored"`
}

// IntelLookup answers GET /api/v1/intel/lookup.
type IntelLookup struct {
	Kind  intel.Kind `json:"kind"`
	Value string     `json:"value"` // normalised
	At    time.Time  `json:"at"`
	// Matches are the live feeds' indicators valid at At; known-benign
	// feeds' matches say benign.
	Matches []records.IntelMatch `json:"matches"`
}

// feedName is what a feed may be called: it appears in facts and the
// audit log, so no spaces or punctuation beyond . _ -.
var feedName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// maxIntelBody bounds an uploaded feed unless Server.MaxIntelBody says
// otherwise.
const maxIntelBody = 512 << 20

// postIntelFeed imports the request body as the feed named by the query:
// name (required), format (stix, misp, list; default: detected) and family
// (for plain lists). A STIX bundle of MITRE ATT&CK content keeps its
// tactics, techniques and mitigations, which the post-incident review
// names. The body is the file as is, gzip-compressed or not;
// it is parsed and stored as it arrives, so a large feed never sits in
// memory. Re-importing a name replaces that feed atomically. Answers 200
// when every line was read, 207 when some were skipped, 400 when nothing
// usable was found (the previous import, if any, stays).
func (s *Server) postIntelFeed(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	name := q.Get("name")
	if !feedName.MatchString(name) {
		return domain.Invalid("name", "want a feed name of letters, digits, '.', '_' or '-' (at most 100), got %q", name)
	}
	format, err := intel.ParseFormat(q.Get("format"))
	if err != nil {
		return domain.Invalid("format", "%v", err)
	}
	limit := s.MaxIntelBody
	if limit <= 0 {
		limit = maxIntelBody
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	source := q.Get("source")
	if source == "" {
		source = name
	}
	ctx := r.Context()
	im, err := s.Store.BeginIntelImport(ctx, name)
	if err != nil {
		return err
	}
	var storeErr error
	res, err := intel.Parse(body, intel.Options{Format: format, Source: source, Family: q.Get("family")},
		func(in intel.Indicator) error {
			storeErr = im.Add(ctx, in)
			return storeErr
		})
	if storeErr != nil {
		im.Abort(context.WithoutCancel(ctx))
		return storeErr
	}
	if err == nil && res.Knowledge != nil {
		err = im.AddKnowledge(ctx, res.Knowledge) // MITRE ATT&CK: tactics, techniques, mitigations
	}
	if err == nil && res.Indicators == 0 && res.Knowledge == nil {
		err = domain.Invalid("body", "no indicators (nor ATT&CK techniques) found in %s (%d bad lines or objects skipped, %d other objects ignored); the feed is unchanged",
			source, res.Skipped, res.Ignored)
	}
	if err != nil {
		im.Abort(context.WithoutCancel(ctx))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || domain.KindOf(err) != "" || ctx.Err() != nil {
			return err // too large, already a domain error, or the client went away
		}
		return domain.Invalid("body", "%v", err) // the input as a whole is unusable (truncated, not JSON): say where
	}
	feed, err := im.Commit(ctx, records.IntelFeed{Format: res.Format, Benign: res.Benign, Title: res.Name,
		Description: res.Description, Source: source, Unsupported: res.Unsupported, Skipped: res.Skipped,
		ImportedBy: principalName(r)})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Skipped > 0 {
		status = http.StatusMultiStatus
	}
	return writeJSON(w, status, FeedImportResult{Feed: feed, Problems: res.Problems, Ignored: res.Ignored})
}

// listIntelFeeds lists the imported feeds.
func (s *Server) listIntelFeeds(w http.ResponseWriter, r *http.Request) error {
	feeds, err := s.Store.IntelFeeds(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, FeedList{Value: feeds})
}

// deleteIntelFeed removes a feed and its indicators and answers the feed
// as it was.
func (s *Server) deleteIntelFeed(w http.ResponseWriter, r *http.Request) error {
	feed, err := s.Store.DeleteIntelFeed(r.Context(), r.PathValue("name"), principalName(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, feed)
}

// observable reads and normalises the kind and value query parameters.
func observable(r *http.Request) (intel.Kind, string, error) {
	q := r.URL.Query()
	kind := intel.Kind(q.Get("kind"))
	switch kind {
	case intel.KindIP, intel.KindDomain, intel.KindURL, intel.KindFile:
	case "":
		return "", "", domain.Invalid("kind", "required: ip, domain, url or file")
	default:
		return "", "", domain.Invalid("kind", "want ip, domain, url or file, got %q", kind)
	}
	if q.Get("value") == "" {
		return "", "", domain.Invalid("value", "required: the %s to look up", kind)
	}
	k, v, err := intel.Normalize(kind, q.Get("value"))
	if err != nil {
		return "", "", domain.Invalid("value", "%v", err)
	}
	if k != kind {
		return "", "", domain.Invalid("value", "want a single %s, got the network %q", kind, v)
	}
	return k, v, nil
}

// lookupIntel answers which live feeds name a value, valid now or at the
// time given as at (RFC 3339).
func (s *Server) lookupIntel(w http.ResponseWriter, r *http.Request) error {
	kind, value, err := observable(r)
	if err != nil {
		return err
	}
	at := s.now()
	if v := r.URL.Query().Get("at"); v != "" {
		if at, err = time.Parse(time.RFC3339, v); err != nil {
			return domain.Invalid("at", "want an RFC 3339 time, got %q", v)
		}
	}
	matches, err := s.Store.LookupIntel(r.Context(), kind, value, at)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, IntelLookup{Kind: kind, Value: value, At: at.UTC(), Matches: matches})
}

// getPrevalence answers how many devices, users, alerts and incidents have
// seen a value. It counts across every device group, so a token scoped to
// some may not ask.
func (s *Server) getPrevalence(w http.ResponseWriter, r *http.Request) error {
	if p := auth.FromContext(r.Context()); p != nil && p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "prevalence counts across every device group; a token scoped to some may not ask")
	}
	kind, value, err := observable(r)
	if err != nil {
		return err
	}
	p, err := s.Store.Prevalence(r.Context(), kind, value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// now is the server's clock.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// FactList answers GET /api/v1/incidents/{id}/facts.
type FactList struct {
	Value []domain.Fact `json:"value"`
}

// listFacts answers what analysis steps learned about an incident's
// entities. Prevalence facts count across every device group, so a token
// scoped to some does not get them, as it may not ask for prevalence.
func (s *Server) listFacts(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	if _, err := s.Store.GetIncident(r.Context(), id); err != nil {
		return err
	}
	if err := s.incidentInScope(r.Context(), p, id); err != nil {
		return err
	}
	facts, err := s.facts(r.Context(), p, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, FactList{Value: facts})
}

// facts reads an incident's facts as the principal may see them: without
// prevalence for a scoped one (it counts across every device group; so do
// a vendor's file and IP statistics).
func (s *Server) facts(ctx context.Context, p *auth.Principal, id int64) ([]domain.Fact, error) {
	facts, err := s.Store.Facts(ctx, id)
	if err != nil {
		return nil, err
	}
	if p != nil && p.Scoped() {
		facts = slices.DeleteFunc(facts, func(f domain.Fact) bool {
			return f.Kind == domain.FactPrevalence || f.Kind == domain.FactVendorFileStats || f.Kind == domain.FactVendorIPStats
		})
	}
	if facts == nil {
		facts = []domain.Fact{}
	}
	return facts, nil
}
