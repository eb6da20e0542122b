package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// odataPage is an OData collection answer (Graph, Defender for Endpoint).
type odataPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// odataPoll reads one page of an OData collection filtered on an update
// time field: the first page of a sweep builds the query, later ones follow
// @odata.nextLink (on the API's own host only).
func odataPoll(ctx context.Context, v *vendor, path, timeField string, cp Checkpoint, overlap time.Duration,
	pageSize int, extra url.Values, decode func(json.RawMessage) (*domain.Alert, error)) (Page, error) {
	var u *url.URL
	if cp.Cursor != "" {
		var err error
		if u, err = v.sameOrigin(cp.Cursor); err != nil {
			return Page{}, &PermanentError{Status: 0, Body: err.Error()}
		}
	} else {
		q := url.Values{}
		for k, vs := range extra {
			q[k] = vs
		}
		q.Set("$filter", fmt.Sprintf("%s ge %s", timeField, cp.Since.Add(-overlap).UTC().Format(time.RFC3339)))
		if pageSize > 0 {
			q.Set("$top", strconv.Itoa(pageSize))
		}
		u = v.url(path, q)
	}
	b, _, err := v.do(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return Page{}, err
	}
	var p odataPage
	if err := json.Unmarshal(b, &p); err != nil {
		return Page{}, fmt.Errorf("decode %s page: %w", path, err)
	}
	alerts, problems := decodeItems(p.Value, decode)
	return Page{Alerts: alerts, Problems: problems, Next: cp.Advance(newestUpdate(alerts), p.NextLink), More: p.NextLink != ""}, nil
}

// graphPoller reads Microsoft Graph security alerts (alerts_v2), newest
// updates first seen first: GET /security/alerts_v2 with
// $filter=lastUpdateDateTime ge <checkpoint − overlap>, paged by
// @odata.nextLink. Permission: SecurityAlert.Read.All (application).
type graphPoller struct {
	v        *vendor
	overlap  time.Duration
	pageSize int
}

func (g *graphPoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	return odataPoll(ctx, g.v, "/v1.0/security/alerts_v2", "lastUpdateDateTime", cp, g.overlap, g.pageSize, nil, graph.DecodeAlert)
}
