package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// TestFactsOnTheIncidentPage: what analysis steps learned shows, in words,
// under the entity's verdict on the response tab and in the Investigations
// tab's facts table; a feed name carrying markup stays text.
func TestFactsOnTheIncidentPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	if err := s.st.RecordFacts(context.Background(), s.inc, []domain.Fact{
		{Entity: "device:ws1", Kind: domain.FactIntelMatch, Source: "intel:" + evil, ObservedAt: at,
			Value: []byte(`{"feed":"feodo","matches":[{"feed":"feodo","kind":"ip","value":"203.0.113.7","score":90,"family":"emotet"},{"feed":"feodo","kind":"ip","value":"203.0.113.8"}]}`)},
		{Entity: "device:ws1", Kind: domain.FactPrevalence, Source: "store", ObservedAt: at,
			Value: []byte(`{"kind":"ip","value":"203.0.113.7","entities":[],"alerts":5,"incidents":2,"devices":3,"users":1,"deviceKeys":[],"incidentIds":[]}`)},
	}); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, auth.Viewer)
	for _, tab := range []string{"response", "investigations"} {
		_, page := s.get(t, fmt.Sprintf("/incidents/%d?tab=%s", s.inc, tab))
		checkPage(t, "the "+tab+" tab", page)
		for _, want := range []string{"named by feodo: 203.0.113.7 (family emotet, score 90) and 1 more indicator",
			"seen on 3 devices, 1 user in 2 incidents (5 alerts)"} {
			if !strings.Contains(page, want) {
				t.Errorf("the %s tab does not say %q", tab, want)
			}
		}
	}
}

// TestGraphOnTheInvestigationsTab: an entity a hunt step found shows under
// "Found during the investigation" with where it was found from, the step
// and the reason.
func TestGraphOnTheInvestigationsTab(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.st.AddFoundEvidence(ctx, records.EvidenceLink{IncidentID: s.inc, Entity: "device:ws1", From: "device:ws1",
		Step: "analyze-evidence/hunt_files", Reason: "file <b>evil.exe</b> (malicious) was also seen on ws1"}); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, auth.Viewer)
	_, page := s.get(t, fmt.Sprintf("/incidents/%d?tab=investigations", s.inc))
	checkPage(t, "the investigations tab", page)
	for _, want := range []string{"Found during the investigation", "analyze-evidence/hunt_files",
		"file &lt;b&gt;evil.exe&lt;/b&gt; (malicious) was also seen on ws1"} {
		if !strings.Contains(page, want) {
			t.Errorf("the investigations tab does not say %q", want)
		}
	}
}

// TestVendorFactsOnTheIncidentPage: what a vendor connector told, and what
// it could not, show in words with the vendor as their source.
func TestVendorFactsOnTheIncidentPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	if err := s.st.RecordFacts(context.Background(), s.inc, []domain.Fact{
		{Entity: "device:ws1", Kind: domain.FactVendorLoggedOnUsers, Source: "mde", ObservedAt: at,
			Value: []byte(`{"machine":"m1","users":[{"account":"contoso\\user1","name":"user1","domainAdmin":true,"networkOnly":false}]}`)},
		{Entity: "device:ws1", Kind: domain.FactVendorError, Source: "mde", ObservedAt: at,
			Value: []byte(`{"vendor":"mde","failures":[{"kind":"vendor.related_alerts","call":"GET /api/machines/m1/alerts","error":"mde GET /api/machines/m1/alerts: HTTP 403 Forbidden: missing Alert.Read.All","errorKind":"forbidden","attempts":1}]}`)},
	}); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, auth.Viewer)
	_, page := s.get(t, fmt.Sprintf("/incidents/%d?tab=investigations", s.inc))
	checkPage(t, "the investigations tab", page)
	for _, want := range []string{`1 logged-on users (contoso\user1), domain admins contoso\user1`,
		"could not tell: mde GET /api/machines/m1/alerts: HTTP 403 Forbidden: missing Alert.Read.All"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
}
