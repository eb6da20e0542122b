package playbook

import (
	"testing"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// TestOAuthAppsFromGraphEvidence: an alert's oauthApplicationEvidence
// becomes an oauthApps entity with its application id, object id and
// publisher, keyed as the app actions take it; an app step targets it.
func TestOAuthAppsFromGraphEvidence(t *testing.T) {
	t.Parallel()
	a, err := graph.DecodeAlert([]byte(`{"id": "cg-1", "title": "Malicious OAuth app consent", "severity": "high",
		"createdDateTime": "2026-01-01T10:00:00Z", "mitreTechniques": ["T1528"],
		"evidence": [{"@odata.type": "#microsoft.graph.security.oauthApplicationEvidence",
			"appId": "5E3CE6C0-2B1F-4285-8D4B-75EE78787346", "objectId": "9a9a9a9a-0000-4000-8000-000000000001",
			"displayName": "Mail Helper", "publisher": "Unknown", "verdict": "malicious"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var entities []domain.Entity
	for _, ev := range a.Evidence {
		if ev.Entity != nil {
			entities = append(entities, *ev.Entity)
		}
	}
	env := NewEnv(domain.Incident{ID: 1}, []domain.Alert{*a}, entities)
	want := EntityView{Key: "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346", Kind: "oauthApp", Name: "Mail Helper",
		Verdict: "malicious", DisplayName: "Mail Helper", AppID: "5E3CE6C0-2B1F-4285-8D4B-75EE78787346",
		ObjectID: "9a9a9a9a-0000-4000-8000-000000000001", Publisher: "Unknown", Tags: []string{}}
	if len(env.OAuthApps) != 1 || env.OAuthApps[0].Key != want.Key || env.OAuthApps[0].AppID != want.AppID ||
		env.OAuthApps[0].ObjectID != want.ObjectID || env.OAuthApps[0].Publisher != want.Publisher ||
		env.OAuthApps[0].Verdict != want.Verdict || env.OAuthApps[0].Name != want.Name {
		t.Fatalf("oauthApps = %+v, want [%+v]", env.OAuthApps, want)
	}

	pb, err := Parse("p.yaml", []byte(`name: consent
version: 1
match: any(alerts, {any(.mitreTechniques, {# startsWith "T1528"})}) and len(oauthApps) > 0
stages:
  containment:
    - id: disable
      for_each: filter(oauthApps, {.publisher == "Unknown"})
      action: app.disable
      with:
        comment: "{{ item.name }} ({{ item.appId }})"
`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := pb.Matches(env); err != nil || !ok {
		t.Fatalf("match: %v, %v; want true", ok, err)
	}
	inv, err := pb.Steps("containment")[0].Expand(env)
	if err != nil || len(inv) != 1 || string(inv[0].Target) != want.Key ||
		inv[0].Args["comment"] != "Mail Helper (5E3CE6C0-2B1F-4285-8D4B-75EE78787346)" {
		t.Fatalf("expand: %+v, %v", inv, err)
	}
}
