package web

import (
	"net/http"
	"strings"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
)

// signinPage shows the sign-in form. The form's anti-forgery token is a
// random secret also set in a cookie (double submit): there is no session
// yet to derive it from.
func (p *pages) signinPage(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, err := p.Auth.Session(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
			return nil
		}
	}
	return p.showSignin(w, r, http.StatusOK, "")
}

// localPath returns next when it is a path of this site (never another
// site: no scheme, no "//host", no backslash), else the queue.
func localPath(next string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n\t") {
		return next
	}
	return "/incidents"
}

func (p *pages) showSignin(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	secret, err := auth.NewSecret()
	if err != nil {
		return err
	}
	p.setCookie(w, r, signinCookie, secret, 3600)
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	p.render(w, r, status, "signin", &view{Title: "Sign in", CSRF: auth.CSRFToken(secret), Error: problem, Next: localPath(next)})
	return nil
}

// signin exchanges an API token for a page session. Failed attempts count
// against the caller's address and the tried secret's first characters,
// in buckets apart from the API's.
func (p *pages) signin(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) || !auth.CheckCSRF(c.Value, r.PostFormValue("csrf")) {
		return p.showSignin(w, r, http.StatusForbidden, "The sign-in form expired; try again.")
	}
	// Only failed attempts are charged, to buckets of their own (not the
	// API's failed authentications): analysts behind one proxy share an
	// address, and signing in with a valid token must keep working for them.
	addr, tried := api.ClientAddr(r), r.PostFormValue("token")
	if blocked, _ := p.limiter.SignInExhausted(addr, tried); blocked {
		return p.showSignin(w, r, http.StatusTooManyRequests, "Too many failed attempts; wait a minute and try again.")
	}
	secret, pr, err := p.Auth.SignIn(r.Context(), tried)
	if auth.IsUnauthenticated(err) {
		p.limiter.SignInFailed(addr, tried)
		return p.showSignin(w, r, http.StatusUnauthorized, "That token is unknown or revoked.")
	}
	if err != nil {
		return err
	}
	p.setCookie(w, r, signinCookie, "", -1)
	p.setCookie(w, r, sessionCookie, secret, int(p.lifetime().Seconds()))
	p.Log.WithField("user", pr.Name).WithField("role", pr.Role).Info("signed in to the pages")
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

func (p *pages) lifetime() (d interface{ Seconds() float64 }) {
	if p.Auth.SessionLifetime > 0 {
		return p.Auth.SessionLifetime
	}
	return auth.DefaultSessionLifetime
}

func (p *pages) signout(w http.ResponseWriter, r *http.Request) error {
	if err := p.Auth.SignOut(r.Context(), secretOf(r), auth.FromContext(r.Context())); err != nil {
		return err
	}
	p.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}
