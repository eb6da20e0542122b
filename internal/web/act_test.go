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

// TestRowActionForm: a responder, and only a responder, is offered the
// manual actions of a device on its row, each form with the anti-forgery
// token and the device as its target; the request goes through the API's
// rules (an unknown type or a target outside the incident comes back as
// an error naming the field). The action itself runs on a real workflow
// in internal/app's browser test; here no engine is behind the API.
func TestRowActionForm(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	path := fmt.Sprintf("/incidents/%d?tab=devices", s.inc)
	act := fmt.Sprintf("/incidents/%d/actions", s.inc)

	analyst := s.fresh()
	analyst.signIn(t, auth.Analyst)
	_, page := analyst.get(t, path)
	if strings.Contains(page, `action="`+act+`"`) || strings.Contains(page, "Take action") {
		t.Errorf("an analyst is offered manual actions")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := analyst.post(t, act, url.Values{"csrf": {csrf}, "type": {"device.isolate"}, "target": {"device:ws1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an analyst's manual action: HTTP %d, want 403", resp.StatusCode)
	}

	s.signIn(t, auth.Responder)
	for _, tab := range []string{"devices", "response"} {
		_, page = s.get(t, fmt.Sprintf("/incidents/%d?tab=%s", s.inc, tab))
		checkPage(t, "the "+tab+" tab", page)
		if !strings.Contains(page, `action="`+act+`"`) || !strings.Contains(page, `name="target" value="device:ws1"`) ||
			!strings.Contains(page, `<option value="device.isolate">Isolate device</option>`) {
			t.Errorf("the %s tab does not offer the device's actions from its row", tab)
		}
		if strings.Contains(page, `<option value="user.`) {
			t.Errorf("the %s tab offers user actions on a device", tab)
		}
	}
	csrf = csrfField.FindStringSubmatch(page)[1]
	if resp, _ := s.post(t, act, url.Values{"type": {"device.isolate"}, "target": {"device:ws1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a manual action without the anti-forgery token: HTTP %d, want 403", resp.StatusCode)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"type": {""}, "target": {"device:ws1"}}, "type"},
		{url.Values{"type": {"device.isolate"}, "target": {"device:elsewhere"}}, "target"},
		{url.Values{"type": {"device.isolate"}, "target": {"device:ws1"}}, "no workflow engine"},
	} {
		c.form.Set("csrf", csrf)
		c.form.Set("tab", "devices")
		resp, page := s.post(t, act, c.form)
		if k, m := flashOf(page); k != "error" || !strings.Contains(m, c.want) || resp.Request.URL.RawQuery != "tab=devices" {
			t.Errorf("%v: at %s, flash %s %q; want an error about %s, back on the tab", c.form, resp.Request.URL, k, m, c.want)
		}
	}
}

// TestAlertRowManage: an analyst classifies, assigns and comments on one
// alert from its row; only the fields changed from what the page showed
// are sent; bad values come back naming the field; a viewer gets no form
// and a 403.
func TestAlertRowManage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	path := fmt.Sprintf("/incidents/%d?tab=alerts", s.inc)
	manage := fmt.Sprintf("/incidents/%d/alerts/a1/manage", s.inc)

	viewer := s.fresh()
	viewer.signIn(t, auth.Viewer)
	_, page := viewer.get(t, path)
	if strings.Contains(page, `action="`+manage+`"`) {
		t.Errorf("a viewer is offered to manage an alert")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := viewer.post(t, manage, url.Values{"csrf": {csrf}, "comment": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's alert change: HTTP %d, want 403", resp.StatusCode)
	}

	s.signIn(t, auth.Analyst)
	_, page = s.get(t, path)
	checkPage(t, "the alerts tab", page)
	if !strings.Contains(page, `action="`+manage+`"`) {
		t.Fatalf("an analyst is not offered to manage the alert from its row")
	}
	csrf = csrfField.FindStringSubmatch(page)[1]
	shown := url.Values{"csrf": {csrf}, "tab": {"alerts"}, "status": {"new"}, "was-status": {"new"},
		"classification": {"unknown"}, "was-classification": {"unknown"}, "determination": {"unknown"},
		"was-determination": {"unknown"}, "assignedTo": {""}, "was-assignedTo": {""}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range shown {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if _, page := s.post(t, manage, with()); !strings.Contains(page, "Nothing changed") {
		t.Errorf("an unchanged form: want a flash saying nothing changed")
	}
	if _, page := s.post(t, manage, with("classification", "truePositive", "determination", "nonsense")); !strings.Contains(page, "determination") {
		t.Errorf("a bad determination: want an error naming the determination")
	}
	resp, page := s.post(t, manage, with("classification", "truePositive", "determination", "malware", "assignedTo", "rita", "comment", "confirmed"))
	if k, m := flashOf(page); k != "ok" || !strings.Contains(m, "true positive") || resp.Request.URL.RawQuery != "tab=alerts" {
		t.Errorf("classify the alert: at %s, flash %s %q", resp.Request.URL, k, m)
	}
	alerts, err := s.st.IncidentAlerts(context.Background(), s.inc)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("the incident's alerts: %v, %v", alerts, err)
	}
	a := alerts[0]
	if a.Classification != "truePositive" || a.Determination != "malware" || a.AssignedTo != "rita" || a.Status != domain.AlertNew {
		t.Errorf("the alert after its row's form: %s %s/%s %q", a.Status, a.Classification, a.Determination, a.AssignedTo)
	}
}

// TestVerdictForm: an analyst decides an entity's verdict from its row on
// the response tab, with a reason; the page then shows it with who and why
// and what the provider said; without a reason the flash names it; a
// viewer gets no form and a 403.
func TestVerdictForm(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	path := fmt.Sprintf("/incidents/%d?tab=response", s.inc)
	post := fmt.Sprintf("/incidents/%d/verdicts", s.inc)

	viewer := s.fresh()
	viewer.signIn(t, auth.Viewer)
	_, page := viewer.get(t, path)
	if strings.Contains(page, `action="`+post+`"`) {
		t.Errorf("a viewer is offered to decide a verdict")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := viewer.post(t, post, url.Values{"csrf": {csrf}, "target": {"device:ws1"}, "verdict": {"noThreatsFound"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's verdict: HTTP %d, want 403", resp.StatusCode)
	}

	s.signIn(t, auth.Analyst)
	_, page = s.get(t, path)
	checkPage(t, "the response tab", page)
	if !strings.Contains(page, `action="`+post+`"`) || !strings.Contains(page, `name="target" value="device:ws1"`) {
		t.Fatalf("an analyst is not offered the verdict form")
	}
	csrf = csrfField.FindStringSubmatch(page)[1]
	form := url.Values{"csrf": {csrf}, "tab": {"response"}, "target": {"device:ws1"}, "verdict": {"noThreatsFound"}}
	if _, page := s.post(t, post, form); !strings.Contains(page, "reason") {
		t.Errorf("a verdict without a reason: want an error naming the reason")
	}
	form.Set("reason", "re-imaged, clean scan")
	_, page = s.post(t, post, form)
	if k, m := flashOf(page); k != "ok" || !strings.Contains(m, "no threats found, by you") {
		t.Errorf("the verdict: flash %s %q", k, m)
	}
	for _, want := range []string{"analyst <b>analyst</b>", "re-imaged, clean scan", "the provider said malicious"} {
		if !strings.Contains(page, want) {
			t.Errorf("the response tab after the verdict does not show %q", want)
		}
	}
}
