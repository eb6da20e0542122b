package mde

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/remediation"
)

// Indicator is the API's Indicator entity (ti-indicator), the fields AIR
// sends and reads.
type Indicator struct {
	ID                      string `json:"id,omitempty"`
	IndicatorValue          string `json:"indicatorValue"`
	IndicatorType           string `json:"indicatorType"`
	Action                  string `json:"action"`
	Title                   string `json:"title"`
	Description             string `json:"description"`
	Severity                string `json:"severity,omitempty"`
	ExpirationTime          string `json:"expirationTime,omitempty"`
	GenerateAlert           bool   `json:"generateAlert"`
	RecommendedActions      string `json:"recommendedActions,omitempty"`
	ExternalID              string `json:"externalID,omitempty"`
	CreatedBy               string `json:"createdBy,omitempty"`
	CreationTimeDateTimeUtc string `json:"creationTimeDateTimeUtc,omitempty"`
}

// indicatorOps are the block actions Defender for Endpoint carries as
// custom indicators (POST /api/indicators, "submit or update": one
// indicator per value and type, so a repeated POST updates rather than
// doubles), and their undo (DELETE /api/indicators/{id}).
var indicatorOps = map[string]bool{
	"file.block": true, "ip.block": true, "url.block": true,
	"file.unblock": false, "ip.unblock": false, "url.unblock": false,
}

// indicatorOf says which indicator an action's target is: its value and
// type, and the action Defender takes on it. A file blocks by its hash
// (SHA-256, SHA-1 or MD5, as the key holds it) and is remediated where
// found; an IP address blocks as itself (Defender takes no CIDR ranges);
// a URL with no path or query blocks its whole domain, any other as the
// full URL.
func indicatorOf(target domain.EntityKey) (value, typ, action string, err error) {
	kind, id, ok := entity.Split(target)
	if !ok || id == "" {
		return "", "", "", domain.Invalid("target", "want an entity key such as ip:203.0.113.7, got %q", target)
	}
	switch kind {
	case domain.KindFile:
		switch len(id) {
		case 64:
			return id, "FileSha256", "BlockAndRemediate", nil
		case 40:
			return id, "FileSha1", "BlockAndRemediate", nil
		case 32:
			return id, "FileMd5", "BlockAndRemediate", nil
		}
		return "", "", "", domain.Invalid("target", "a file indicator needs a SHA-256, SHA-1 or MD5 hash, got %q", id)
	case domain.KindIP:
		if _, err := netip.ParseAddr(id); err != nil {
			return "", "", "", domain.Invalid("target", "defender for endpoint blocks single IP addresses, not %q", id)
		}
		return id, "IpAddress", "Block", nil
	case domain.KindURL:
		u, err := url.Parse(id)
		if err != nil || u.Host == "" {
			return "", "", "", domain.Invalid("target", "not a URL: %q", id)
		}
		if (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil && u.Port() == "" {
			return u.Hostname(), "DomainName", "Block", nil
		}
		return id, "Url", "Block", nil
	}
	return "", "", "", domain.Invalid("target", "defender for endpoint indicators take a file, an IP or a URL, got %q", target)
}

// indicator blocks or unblocks a file hash, an IP address or a URL.
//
// Blocking is safe to repeat: the API keeps one indicator per value and
// type, and a POST for one that exists updates it. Before posting, AIR
// still looks the value up: an indicator that already blocks it (from an
// earlier attempt of this action — its externalID is the action's marker —
// or put there by someone else) is joined, not rewritten, so that an
// analyst's own expiry or title stands. The answer confirms the result:
// AIR reads the indicator it got back and fails if it does not block.
//
// Unblocking deletes every indicator for the value and type that blocks
// it; none is the pre-check's answer ("not blocked": nothing changed), and
// a 404 on delete means another attempt or someone else removed it.
func (c *Client) indicator(ctx context.Context, req remediation.Request, p map[string]any) (remediation.Result, error) {
	value, typ, action, err := indicatorOf(req.Target)
	if err != nil {
		return remediation.Result{}, err
	}
	marker := remediation.Marker(req.IncidentID, req.ActionID)
	existing, err := c.indicators(ctx, value, typ)
	if err != nil {
		return remediation.Result{}, err
	}
	if !indicatorOps[req.Type] {
		return c.unblock(ctx, existing, value, typ)
	}
	for _, in := range existing {
		if blocks(in.Action) {
			how := "already blocked by " + cmp.Or(in.CreatedBy, "someone else")
			changed := false
			if in.ExternalID == marker {
				how, changed = "blocked by this action before a retry", true
			}
			return remediation.Result{Summary: fmt.Sprintf("%s %s: %s (indicator %s, action %s)", typ, value, how, in.ID, in.Action),
				Changed: changed}, nil
		}
	}
	body := Indicator{IndicatorValue: value, IndicatorType: typ, Action: action, GenerateAlert: false,
		Title:       fmt.Sprintf("AIR incident %d: %s", req.IncidentID, req.Type),
		Description: marker + " (" + req.Type + ")", Severity: "High", ExternalID: marker,
		RecommendedActions: "Blocked by AIR's automated investigation; see the incident for the evidence."}
	if s := remediation.StringParam(p, "comment", ""); s != "" {
		body.Description += ": " + s
	}
	if s := remediation.StringParam(p, "expiresIn", ""); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return remediation.Result{}, domain.Invalid("params.expiresIn", "want a positive Go duration such as 720h, got %q", s)
		}
		body.ExpirationTime = time.Now().Add(d).UTC().Format(time.RFC3339)
	}
	var got Indicator
	if err := c.API.Do(ctx, http.MethodPost, "/api/indicators", body, &got); err != nil {
		return remediation.Result{}, err
	}
	if got.ID == "" || !strings.EqualFold(got.IndicatorValue, value) || !blocks(got.Action) {
		return remediation.Result{}, fmt.Errorf("mde indicator for %s %s: the answer does not confirm a block (id %q, value %q, action %q)",
			typ, value, got.ID, got.IndicatorValue, got.Action)
	}
	summary := fmt.Sprintf("%s %s blocked (indicator %s, action %s", typ, value, got.ID, got.Action)
	if got.ExpirationTime != "" {
		summary += ", expires " + got.ExpirationTime
	}
	return remediation.Result{Summary: summary + ")", Changed: true}, nil
}

func (c *Client) unblock(ctx context.Context, existing []Indicator, value, typ string) (remediation.Result, error) {
	var removed []string
	for _, in := range existing {
		if !blocks(in.Action) {
			continue // an allow or audit indicator is not ours to remove
		}
		if err := c.API.DeleteGone(ctx, "/api/indicators/"+url.PathEscape(in.ID)); err != nil {
			return remediation.Result{}, err
		}
		removed = append(removed, in.ID)
	}
	if len(removed) == 0 {
		return remediation.Result{Summary: fmt.Sprintf("%s %s: not blocked, nothing to lift", typ, value)}, nil
	}
	return remediation.Result{Summary: fmt.Sprintf("%s %s: block lifted (indicator %s deleted)", typ, value, strings.Join(removed, ", ")),
		Changed: true}, nil
}

// indicators lists the active indicators for one value and type.
func (c *Client) indicators(ctx context.Context, value, typ string) ([]Indicator, error) {
	esc := strings.ReplaceAll(value, "'", "''")
	q := url.Values{"$filter": {"indicatorValue eq '" + esc + "' and indicatorType eq '" + typ + "'"}}
	return rest.ListOData[Indicator](ctx, c.API, "/api/indicators?"+q.Encode())
}

// blocks reports whether an indicator's action blocks (AlertAndBlock is
// the API's older name for a block that also alerts).
func blocks(action string) bool {
	return action == "Block" || action == "BlockAndRemediate" || action == "AlertAndBlock"
}
