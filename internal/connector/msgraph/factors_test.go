package msgraph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airsoc/air/internal/remediation"
)

// TestResetFactors: user.reset_factors lists the user's authentication
// methods (GET /users/{id}/authentication/methods, the shape of Graph's
// "List methods" reference) and deletes each but the password, phones
// last; a retry after a crash deletes only what is left, a method gone
// meanwhile (404) counts as removed, and a refusal names Graph's answer.
func TestResetFactors(t *testing.T) {
	t.Parallel()
	const user = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
	var mu sync.Mutex
	methods := []map[string]string{
		{"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "28c10230-6103-485e-b985-444c60001490"},
		{"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "3179e48a-750b-4051-897c-87b9720928f7"},
		{"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "6e0392f3-6c4f-4c3c-9a5e-7b0a1a7e1c11"},
		{"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "-2_GRUg2-HYz6_1YG4YRAQ2"},
	}
	refuse := ""
	base := "/v1.0/users/" + user + "/authentication/"
	del := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if refuse != "" && strings.Contains(r.URL.Path, refuse) {
			graphError(w, http.StatusBadRequest, "badRequest", "The default sign-in method cannot be deleted.")
			return
		}
		i := slices.IndexFunc(methods, func(m map[string]string) bool { return m["id"] == id })
		if i < 0 {
			graphError(w, http.StatusNotFound, "itemNotFound", "The requested resource does not exist.")
			return
		}
		methods = slices.Delete(methods, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	}
	g := newGraph(t, map[string]http.HandlerFunc{
		"/v1.0/users/ana@contoso.example": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"id": user, "userPrincipalName": "ana@contoso.example", "accountEnabled": true})
		},
		base + "methods": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('" + user + "')/authentication/methods",
				"value": methods})
		},
		base + "phoneMethods/3179e48a-750b-4051-897c-87b9720928f7":                  del,
		base + "microsoftAuthenticatorMethods/6e0392f3-6c4f-4c3c-9a5e-7b0a1a7e1c11": del,
		base + "fido2Methods/-2_GRUg2-HYz6_1YG4YRAQ2":                               del,
	})
	c := g.client()
	req := remediation.Request{Type: "user.reset_factors", Target: "user:ana@contoso.example", IdempotencyKey: "k1"}

	// The phone is refused: the others are gone, the phone stays, and the
	// error says what Graph answered.
	refuse = "phoneMethods"
	if _, err := c.Execute(context.Background(), req); err == nil || !strings.Contains(err.Error(), "default sign-in method") {
		t.Fatalf("a refused delete: %v", err)
	}
	// The retry removes what is left: the phone alone.
	refuse = ""
	res, err := c.Execute(context.Background(), req)
	if err != nil || !res.Changed || !strings.Contains(res.Summary, "1 MFA method(s) of ana@contoso.example removed (phone)") {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if len(methods) != 1 || methods[0]["@odata.type"] != "#microsoft.graph.passwordAuthenticationMethod" {
		t.Errorf("left: %v; want the password alone", methods)
	}
	// Nothing left to remove: no change.
	if res, err := c.Execute(context.Background(), req); err != nil || res.Changed || !strings.Contains(res.Summary, "no MFA method") {
		t.Errorf("again: %+v, %v", res, err)
	}
	var deletes []string
	for _, call := range g.seen() {
		if strings.HasPrefix(call, "DELETE ") {
			deletes = append(deletes, strings.TrimPrefix(call, "DELETE "+base))
		}
	}
	want := []string{"microsoftAuthenticatorMethods/6e0392f3-6c4f-4c3c-9a5e-7b0a1a7e1c11", "fido2Methods/-2_GRUg2-HYz6_1YG4YRAQ2",
		"phoneMethods/3179e48a-750b-4051-897c-87b9720928f7", "phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"}
	if !slices.Equal(deletes, want) {
		t.Errorf("deletes %q, want %q (phones last, the password never)", deletes, want)
	}
}
