package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/connector/rest"
)

// TestListODataFollowsNextLinksOnItsHostOnly: pages are read in order
// through @odata.nextLink; a next link to another host is refused, so that
// the bearer token never travels there.
func TestListODataFollowsNextLinksOnItsHostOnly(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skip") {
		case "":
			fmt.Fprintf(w, `{"value":[{"id":"a"}],"@odata.nextLink":"%s/api/things?$skip=1"}`, srv.URL)
		case "1":
			fmt.Fprintf(w, `{"value":[{"id":"b"}],"@odata.nextLink":"%s/api/things?$skip=2"}`, srv.URL)
		case "2":
			fmt.Fprint(w, `{"value":[{"id":"c"}]}`)
		case "evil":
			fmt.Fprint(w, `{"value":[],"@odata.nextLink":"https://attacker.example/api/things"}`)
		}
	}))
	defer srv.Close()
	c := &rest.Client{Vendor: "test", BaseURL: srv.URL, HTTP: srv.Client()}
	type thing struct{ ID string }
	got, err := rest.ListOData[thing](context.Background(), c, "/api/things")
	if err != nil || len(got) != 3 || got[0].ID != "a" || got[2].ID != "c" {
		t.Fatalf("pages: %+v, %v; want a, b, c", got, err)
	}
	if _, err := rest.ListOData[thing](context.Background(), c, "/api/things?$skip=evil"); err == nil || !strings.Contains(err.Error(), "not on") {
		t.Errorf("a next link to another host: %v, want it refused", err)
	}
}
