package rest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// MaxPages bounds how many pages ListOData reads: past it the list is
// refused rather than read without end.
const MaxPages = 50

// ListOData reads every page of an OData collection ({"value": [...],
// "@odata.nextLink": "…"}, as Microsoft Graph and Defender for Endpoint
// page them), following the next link while it stays on the client's
// base URL (a link elsewhere is refused: the token must not travel).
func ListOData[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var out []T
	for page := 0; path != ""; page++ {
		if page == MaxPages {
			return nil, fmt.Errorf("%s %s: more than %d pages", c.Vendor, path, MaxPages)
		}
		var p struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.Do(ctx, http.MethodGet, path, nil, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Value...)
		path = ""
		if p.NextLink != "" {
			next, ok := strings.CutPrefix(p.NextLink, strings.TrimRight(c.BaseURL, "/"))
			if !ok || !strings.HasPrefix(next, "/") {
				return nil, fmt.Errorf("%s: next page %q is not on %s", c.Vendor, p.NextLink, c.BaseURL)
			}
			path = next
		}
	}
	return out, nil
}
