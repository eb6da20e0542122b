package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// TestStopForm: the incident page offers a responder, and only a
// responder, to stop an investigation that still runs; the form carries
// the anti-forgery token and a required reason; without the token, or as
// an analyst, the stop is refused. (The stop itself runs on a real
// workflow in internal/app's browser test; here no engine is behind the
// API, so a valid stop answers 503.)
func TestStopForm(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if err := s.st.SetInvestigationState(context.Background(), s.inc, domain.InvestigationPendingApproval); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/incidents/%d", s.inc)
	stop := path + "/stop"

	analyst := s.fresh()
	analyst.signIn(t, auth.Analyst)
	_, page := analyst.get(t, path)
	if strings.Contains(page, `action="`+stop+`"`) {
		t.Errorf("an analyst is offered to stop the investigation")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := analyst.post(t, stop, url.Values{"csrf": {csrf}, "reason": {"pentest"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an analyst's stop: HTTP %d, want 403", resp.StatusCode)
	}

	s.signIn(t, auth.Responder)
	_, page = s.get(t, path)
	checkPage(t, "the responder's incident page", page)
	if !strings.Contains(page, `action="`+stop+`"`) || !strings.Contains(page, `name="reason"`) {
		t.Fatalf("a responder is not offered to stop the running investigation")
	}
	csrf = csrfField.FindStringSubmatch(page)[1]
	if resp, _ := s.post(t, stop, url.Values{"reason": {"pentest"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a stop without the anti-forgery token: HTTP %d, want 403", resp.StatusCode)
	}
	resp, page := s.post(t, stop, url.Values{"csrf": {csrf}, "reason": {"  "}, "tab": {"alerts"}})
	if k, m := flashOf(page); k != "error" || !strings.Contains(m, "reason") || resp.Request.URL.RawQuery != "tab=alerts" {
		t.Errorf("a stop without a reason: at %s, flash %s %q; want an error naming the reason, back on the tab", resp.Request.URL, k, m)
	}
	if resp, _ := s.post(t, stop, url.Values{"csrf": {csrf}, "reason": {"pentest"}}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stop with no engine: HTTP %d, want 503", resp.StatusCode)
	}

	if err := s.st.SetInvestigationState(context.Background(), s.inc, domain.InvestigationSuccessfullyRemediated); err != nil {
		t.Fatal(err)
	}
	if _, page = s.get(t, path); strings.Contains(page, `action="`+stop+`"`) {
		t.Errorf("a finished investigation is offered to be stopped")
	}
}
