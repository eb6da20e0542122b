// Package web serves AIR's pages: sign-in, the incident queue (filters,
// sort, search, paging, CSV, bulk management), the incident page with its
// tabs and manage panel, the post-incident review, the dashboard, and the
// action center (pending actions with approve and reject, one at a time or
// several of one type, and the history with undo).
//
// The pages are html/template files and plain CSS embedded in the binary,
// rendered on the server and driven by ordinary forms, so they work with
// no JavaScript build step. Optional plain script helps with bulk
// selection and makes the pages live: GET /live streams the changes the
// store publishes (package events), filtered to the principal's device
// groups, and a page re-reads its own URL and swaps the regions marked
// data-live (see live.go). html/template escapes every value by context: alert
// titles, target names and reasons come from outside and are never
// trusted.
//
// Signing in exchanges an API token for a page session: a random secret in
// a cookie that is HttpOnly, SameSite=Strict and Secure over TLS, kept
// hashed in the store. Every form carries an anti-forgery token derived
// from the session secret. Decisions go through the same methods of the
// API server as the JSON API (Center, Incidents), so the role checks,
// scoping and the workflow Update are the same.
package web

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Center is the action center the pages drive; *api.Server is one.
type Center interface {
	Actions(ctx context.Context, p *auth.Principal, q records.ActionQuery) (*records.ActionPage, error)
	Decide(ctx context.Context, p *auth.Principal, id string, d domain.Decision, comment, paramsHash string) (*domain.Action, error)
	DecideMany(ctx context.Context, p *auth.Principal, ids []string, d domain.Decision, comment string) ([]api.BulkResult, error)
	Undo(ctx context.Context, p *auth.Principal, id, comment string) (*domain.Action, error)
	Questions(ctx context.Context, p *auth.Principal, q records.QuestionQuery) (*records.QuestionPage, error)
	Answer(ctx context.Context, p *auth.Principal, id string, body api.AnswerBody) (*domain.Question, error)
}

// Incidents is the incident queue, the incident and its management the
// pages drive; *api.Server is one. The pages parse the queue's filters
// with api.ParseIncidentQuery, so that they filter as the API does.
type Incidents interface {
	Incidents(ctx context.Context, p *auth.Principal, q records.IncidentQuery) (*records.IncidentPage, error)
	ExportIncidents(ctx context.Context, p *auth.Principal, q records.IncidentQuery, w *csv.Writer) error
	Incident(ctx context.Context, p *auth.Principal, id int64) (*api.IncidentDetail, error)
	ManageIncidents(ctx context.Context, p *auth.Principal, ids []int64, ch records.IncidentChange) ([]api.IncidentResult, error)
	StopInvestigation(ctx context.Context, p *auth.Principal, id int64, reason string) (*workflows.State, error)
	RequestAction(ctx context.Context, p *auth.Principal, id int64, body api.ManualActionBody) (*domain.Action, error)
	ManageAlert(ctx context.Context, p *auth.Principal, id string, ch records.AlertChange) (*domain.Alert, error)
	SetVerdict(ctx context.Context, p *auth.Principal, incidentID int64, body api.VerdictBody) (*domain.Entity, error)
}

// Reviews are the post-incident review and the response figures the
// pages show; *api.Server is one.
type Reviews interface {
	Review(ctx context.Context, p *auth.Principal, id int64) (*review.Report, error)
	Dashboard(ctx context.Context, p *auth.Principal, since time.Time) (*review.Metrics, error)
	SourceReport(ctx context.Context, p *auth.Principal, alert string) (*api.SourcesResponse, error)
}

// Server holds the pages' dependencies.
type Server struct {
	Center    Center
	Incidents Incidents
	Reviews   Reviews
	// Entities serves the entity pages; nil means none.
	Entities Entities
	Auth     *auth.Service
	// Limiter limits requests per session's token (and sign-in attempts
	// per address); nil means the default rate. Share the API's.
	Limiter *auth.Limiter
	Log     logrus.FieldLogger
	// SecureCookies marks cookies Secure even when the request came over
	// plain HTTP, for a worker behind a TLS-terminating proxy. Requests
	// over TLS always get Secure cookies.
	SecureCookies bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Feed, when set, makes the pages live: GET /live streams changes
	// and the pages' script re-reads what changed. Nil: pages update on
	// reload only.
	Feed Feed
	// Notes is the notification delivery history (admins); nil: no
	// notifications page.
	Notes Notifications
	// Reports are the daily, monthly and quarterly reports; nil: no
	// report pages.
	Reports Reports
	// Kept are the report schedules and kept reports; nil: the reports
	// page lists none.
	Kept KeptReports
	// Exercises are the breach exercises; nil: their pages are not found.
	Exercises Exercises
	// Scope filters the feed for principals scoped to device groups;
	// with Feed set and Scope nil, scoped principals only hear that
	// something changed, never what.
	Scope Scope
}

// Cookie names.
const (
	sessionCookie = "air_session"
	signinCookie  = "air_signin" // anti-forgery secret of the sign-in form
	flashCookie   = "air_flash"
)

// pageSize is how many actions a page lists.
const pageSize = 50

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type pages struct {
	*Server
	tmpl    map[string]*template.Template
	limiter *auth.Limiter
}

// funcs are the templates' functions.
func (p *pages) funcs() template.FuncMap {
	funcs := template.FuncMap{
		"ago":     p.ago,
		"ts":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"join":    strings.Join,
		"seconds": seconds,
		"short":   func(id string) string { return id[:min(len(id), 10)] },
		"when":    p.when,
		"open":    questionOpen,
		// entityURL links an entity key to its page; assetLinks a
		// queue's impacted assets to the entity look-up.
		"entityURL":  entityURL,
		"assetLinks": assetLinks,
		"targetURL":  targetURL,
	}
	for k, f := range storyFuncs {
		funcs[k] = f
	}
	for k, f := range incidentFuncs {
		funcs[k] = f
	}
	return funcs
}

// Handler parses the embedded templates and returns the pages' handler.
func (s *Server) Handler() (http.Handler, error) {
	p := &pages{Server: s, tmpl: map[string]*template.Template{}, limiter: s.Limiter}
	if p.limiter == nil {
		p.limiter = &auth.Limiter{}
	}
	funcs := p.funcs()
	for _, name := range []string{"signin", "pending", "history", "error", "queue", "incident", "review", "dashboard", "sources", "notifications", "entity",
		"reports", "report_daily", "report_monthly", "report_quarterly", "exercises"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/filters.html",
			"templates/parts.html", "templates/story.html", "templates/reportparts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/incidents", http.StatusSeeOther)
	})
	mux.Handle("GET /signin", p.handle(p.signinPage))
	mux.Handle("POST /signin", p.handle(p.signin))
	mux.Handle("POST /signout", p.session(p.signout))
	mux.Handle("GET /actions", p.session(p.pending))
	mux.Handle("GET /actions/history", p.session(p.history))
	mux.Handle("POST /actions/decide", p.session(p.decide))
	mux.Handle("POST /actions/{id}/undo", p.session(p.undo))
	mux.Handle("POST /questions/{id}/answer", p.session(p.answer))
	mux.Handle("GET /incidents", p.session(p.queue))
	mux.Handle("GET /incidents/export", p.session(p.exportQueue))
	mux.Handle("POST /incidents/manage", p.session(p.manageMany))
	mux.Handle("GET /incidents/{id}", p.session(p.incident))
	mux.Handle("POST /incidents/{id}/manage", p.session(p.manage))
	mux.Handle("POST /incidents/{id}/stop", p.session(p.stop))
	mux.Handle("POST /incidents/{id}/actions", p.session(p.requestAction))
	mux.Handle("POST /incidents/{id}/alerts/{alert}/manage", p.session(p.manageAlert))
	mux.Handle("POST /incidents/{id}/verdicts", p.session(p.setVerdict))
	mux.Handle("GET /incidents/{id}/review", p.session(p.review))
	mux.Handle("GET /entities/{key}", p.session(p.entity))
	mux.Handle("GET /entities", p.session(p.findEntity))
	mux.Handle("GET /dashboard", p.session(p.dashboard))
	mux.Handle("GET /sources", p.session(p.sources))
	mux.Handle("GET /reports", p.session(p.reports))
	mux.Handle("GET /reports/daily", p.session(p.dailyReport))
	mux.Handle("GET /reports/monthly", p.session(p.monthlyReport))
	mux.Handle("GET /reports/quarterly", p.session(p.quarterlyReport))
	mux.Handle("GET /reports/runs/{id}", p.session(p.keptReport))
	mux.Handle("GET /exercises", p.session(p.exercises))
	mux.Handle("GET /exercises/{id}", p.session(p.exercise))
	mux.Handle("GET /notifications", p.session(p.notifications))
	mux.Handle("POST /notifications/test", p.session(p.testNotification))
	mux.Handle("GET /live", p.session(p.live))
	mux.Handle("GET /actions/count", p.session(p.pendingCount))
	mux.Handle("/", p.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.KindNotFound, "no page %s", r.URL.Path)
	}))
	return headers(mux), nil
}

// headers sets the security headers of every page: scripts, styles and
// form targets only from this origin, no framing, no sniffing, no caching.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// no-referrer would make browsers send "Origin: null" on our own
		// form posts, which sameOrigin refuses.
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (p *pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// handle renders a handler's error as a page.
func (p *pages) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			p.fail(w, r, nil, "", err)
		}
	})
}

type principalKey struct{}
type secretKey struct{}

// session requires a signed-in session: GETs without one go to the sign-in
// page; POSTs must carry the session's anti-forgery token.
func (p *pages) session(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var pr *auth.Principal
		if err == nil {
			pr, err = p.Auth.Session(r.Context(), c.Value)
		}
		if err != nil {
			if !auth.IsUnauthenticated(err) && !errors.Is(err, http.ErrNoCookie) {
				p.fail(w, r, nil, "", err)
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
				return
			}
			p.fail(w, r, nil, "", domain.Errorf(domain.KindForbidden, "your session ended; sign in again"))
			return
		}
		if ok, wait := p.limiter.Allow("token:" + pr.TokenID); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(max(1, int(wait.Seconds()+0.999))))
			p.render(w, r, http.StatusTooManyRequests, "error", &view{Title: "Too many requests", Principal: pr,
				CSRF: auth.CSRFToken(c.Value), Error: "Slow down: retry in a few seconds."})
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !auth.CheckCSRF(c.Value, r.PostFormValue("csrf")) {
				p.fail(w, r, pr, c.Value, domain.Errorf(domain.KindForbidden, "the form's anti-forgery token is missing or stale; reload the page and try again"))
				return
			}
		}
		ctx := context.WithValue(auth.WithPrincipal(r.Context(), pr), secretKey{}, c.Value)
		if err := h(w, r.WithContext(ctx)); err != nil {
			p.fail(w, r, pr, c.Value, err)
		}
	})
}

// sameOrigin refuses a POST whose Origin header names another site. The
// anti-forgery token is the defence; this is a second one.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (p *pages) isSecure(r *http.Request) bool { return r.TLS != nil || p.SecureCookies }

func (p *pages) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: p.isSecure(r), SameSite: http.SameSiteStrictMode})
}

// flash is a one-time message shown after a redirect.
type flash struct {
	Kind    string `json:"k"` // ok or error
	Message string `json:"m"`
}

func (p *pages) setFlash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	if len(msg) > 1500 {
		msg = msg[:1500] + "…"
	}
	b, _ := json.Marshal(flash{Kind: kind, Message: msg})
	p.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(b), 60)
}

func (p *pages) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	p.setCookie(w, r, flashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || (f.Kind != "ok" && f.Kind != "error") {
		return nil
	}
	return &f
}

// view is what every page template gets.
type view struct {
	Title     string
	Nav       string
	Principal *auth.Principal
	CSRF      string
	Flash     *flash
	Error     string
	CanDecide bool

	// Next is where sign-in leads (the page that asked for it).
	Next string

	// Action center lists.
	Path        string
	Back        string // where a form returns to: this page with its filters
	Filter      filterValues
	Rows        []row
	Page        pager
	ExportQuery string
	Types       []string
	Statuses    []domain.ActionStatus
	Sources     []domain.ActionSource
	Ages        []option
	Ranges      []option
	Sorts       []option
	// Questions are the open questions the action center shows.
	Questions *questionsView

	// Incident pages; one is set per page.
	CanManage bool
	Queue     *queueView
	Incident  *incidentView
	Review    *reviewView
	Entity    *entityView
	Dash      *dashView
	Feeds     *api.SourcesResponse // the sources page
	Notes     *notesView           // the notifications page
	Report    *reportView          // the report pages
	Doc       *docView             // a report as a whole document
	Exercises *exercisesView       // the exercises pages

	// Live is what the page follows on the change feed: "incidents",
	// "actions" or "incident:<id>"; empty: nothing (the top bar's count
	// still follows actions).
	Live string
	// PendingCount is the top bar's count of actions waiting for a
	// decision that the principal may see.
	PendingCount int
}

func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	// A live re-read (the page's script) must not take a flash meant
	// for the page the person loads next.
	if v.Flash == nil && r.Header.Get("X-AIR-Live") == "" {
		v.Flash = p.takeFlash(w, r)
	}
	if v.Principal != nil && v.Error == "" && p.Center != nil {
		n, err := p.countPending(r.Context(), v.Principal)
		if err != nil {
			p.Log.WithError(err).Warn("count pending actions for the top bar")
		}
		v.PendingCount = n
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf strings.Builder
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.Log.WithError(err).WithField("page", name).Error("render page")
		http.Error(w, "internal error; see the worker's log", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

// fail renders an error page; internal errors are logged, never shown.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, pr *auth.Principal, secret string, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong; the worker's log says what."
	var de *domain.Error
	if errors.As(err, &de) {
		status, msg = de.Kind.HTTPStatus(), de.Error()
	} else {
		p.Log.WithError(err).WithField("path", r.URL.Path).Error("page failed")
	}
	v := &view{Title: http.StatusText(status), Principal: pr, Error: msg}
	if secret != "" {
		v.CSRF = auth.CSRFToken(secret)
	}
	p.render(w, r, status, "error", v)
}

func (p *pages) ago(t any) string {
	var at time.Time
	switch v := t.(type) {
	case time.Time:
		at = v
	case *time.Time:
		if v == nil {
			return ""
		}
		at = *v
	default:
		return ""
	}
	d := p.now().Sub(at)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// when stamps an entry with its time as a person reads it (UTC): the time
// alone today, the day and time this year, the date with the year before.
func (p *pages) when(t time.Time) string {
	t, now := t.UTC(), p.now().UTC()
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04:05")
	case t.Year() == now.Year():
		return t.Format("Jan 2 15:04")
	}
	return t.Format("Jan 2 2006 15:04")
}
