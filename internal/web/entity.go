package web

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// Entities are the entity pages' reads; *api.Server is one.
type Entities interface {
	Entity(ctx context.Context, p *auth.Principal, key domain.EntityKey) (*api.EntityDetail, error)
	FindEntity(ctx context.Context, p *auth.Principal, kind, name string) (domain.EntityKey, error)
}

// entityView is what the entity page shows.
type entityView struct {
	*api.EntityDetail
	// Attrs are the entity's attributes in name order.
	Attrs []attrPair
}

type attrPair struct{ Name, Value string }

// entityURL is the entity page of a key: the key is one path segment,
// escaped (a URL's key holds slashes).
func entityURL(k domain.EntityKey) string {
	return "/entities/" + url.PathEscape(string(k))
}

// targetURL is the page of an action's target: its entity's, or its
// incident's for an action on an incident (domain.IncidentTarget).
func targetURL(k domain.EntityKey) string {
	if id, ok := strings.CutPrefix(string(k), "incident:"); ok {
		return "/incidents/" + url.PathEscape(id)
	}
	return entityURL(k)
}

// assetLinks is an impacted-asset list of the queue, as links to the
// entity look-up: the first three names and how many more there are.
type assetLinksView struct {
	Kind  domain.EntityKind
	Names []string
	More  int
}

func assetLinks(kind domain.EntityKind, names []string, total int) assetLinksView {
	const n = 3
	shown := names[:min(n, len(names))]
	return assetLinksView{Kind: kind, Names: shown, More: max(total, len(names)) - len(shown)}
}

// entity shows one entity across incidents (GET /entities/{key}).
func (p *pages) entity(w http.ResponseWriter, r *http.Request) error {
	if p.Entities == nil {
		return domain.Errorf(domain.KindNotFound, "no page %s", r.URL.Path)
	}
	pr := auth.FromContext(r.Context())
	key, err := api.ParseEntityKey("key", r.PathValue("key"))
	if err != nil {
		return err
	}
	d, err := p.Entities.Entity(r.Context(), pr, key)
	if err != nil {
		return err
	}
	v := &entityView{EntityDetail: d}
	for _, k := range slices.Sorted(maps.Keys(d.Attrs)) {
		v.Attrs = append(v.Attrs, attrPair{k, d.Attrs[k]})
	}
	p.render(w, r, http.StatusOK, "entity", &view{Title: fmt.Sprintf("%s %s", d.Kind, d.Name), Nav: "incidents",
		Principal: pr, CSRF: auth.CSRFToken(secretOf(r)), Entity: v})
	return nil
}

// findEntity looks an entity up by kind and name (GET
// /entities?kind=device&name=WS-042) and redirects to its page; with key
// set, to that key's.
func (p *pages) findEntity(w http.ResponseWriter, r *http.Request) error {
	if p.Entities == nil {
		return domain.Errorf(domain.KindNotFound, "no page %s", r.URL.Path)
	}
	q := r.URL.Query()
	if k := q.Get("key"); k != "" {
		key, err := api.ParseEntityKey("key", k)
		if err != nil {
			return err
		}
		http.Redirect(w, r, entityURL(key), http.StatusSeeOther)
		return nil
	}
	key, err := p.Entities.FindEntity(r.Context(), auth.FromContext(r.Context()), q.Get("kind"), q.Get("name"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, entityURL(key), http.StatusSeeOther)
	return nil
}
