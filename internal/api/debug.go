package api

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// debugProfile serves Go's runtime profiles to admins at
// /debug/pprof/{profile}: heap, allocs, goroutine, profile (CPU, ?seconds=),
// trace, and the index without a name. cmdline is left out: it would show
// the worker's flags, which may hold a database URL with its password.
// docs/performance.md says how to read them.
func (s *Server) debugProfile(w http.ResponseWriter, r *http.Request) error {
	switch name := r.PathValue("profile"); name {
	case "":
		pprof.Index(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "cmdline":
		return domain.Errorf(domain.KindNotFound, "cmdline is not served: the worker's flags may hold secrets")
	default:
		if strings.ContainsAny(name, "/") {
			return domain.Errorf(domain.KindNotFound, "no profile %q", name)
		}
		pprof.Handler(name).ServeHTTP(w, r)
	}
	return nil
}
