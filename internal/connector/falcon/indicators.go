package falcon

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/remediation"
)

// IOC is the IOC Management API's indicator, the fields AIR sends and reads.
type IOC struct {
	ID              string   `json:"id,omitempty"`
	Type            string   `json:"type,omitempty"`
	Value           string   `json:"value,omitempty"`
	Action          string   `json:"action"`
	Severity        string   `json:"severity,omitempty"`
	Platforms       []string `json:"platforms,omitempty"`
	Description     string   `json:"description,omitempty"`
	Expiration      string   `json:"expiration,omitempty"`
	Source          string   `json:"source,omitempty"`
	AppliedGlobally bool     `json:"applied_globally"`
	CreatedBy       string   `json:"created_by,omitempty"`
}

// Source is the IOC source AIR writes, and by which it recognises its own
// detect-only IOCs when it lifts a block.
const Source = "AIR"

// iocOps are the block actions Falcon carries as custom IOCs, and their
// undo.
var iocOps = map[string]bool{
	"file.block": true, "ip.block": true, "url.block": true,
	"file.unblock": false, "ip.unblock": false, "url.unblock": false,
}

// DefaultPlatforms are the platforms a hash IOC applies to.
var DefaultPlatforms = []string{"windows", "mac", "linux"}

// iocOf says which IOC an action's target is: its Falcon type, value and
// the action AIR asks for. Falcon prevents execution of a file hash
// (sha256 or md5; it takes no sha1 IOC). For domains and IP addresses
// Falcon's IOC Management offers only detect and no_action — a custom IOC
// cannot stop a connection — so AIR asks for detect and says so in the
// result. A URL with a path or query is refused: Falcon matches domains
// only, and widening a block from one URL to its whole domain is not AIR's
// call to make.
func iocOf(target domain.EntityKey) (typ, value, action string, err error) {
	kind, id, ok := entity.Split(target)
	if !ok || id == "" {
		return "", "", "", domain.Invalid("target", "want an entity key such as ip:203.0.113.7, got %q", target)
	}
	switch kind {
	case domain.KindFile:
		switch len(id) {
		case 64:
			return "sha256", strings.ToLower(id), "prevent", nil
		case 32:
			return "md5", strings.ToLower(id), "prevent", nil
		}
		return "", "", "", domain.Invalid("target", "a falcon file IOC needs a SHA-256 or MD5 hash, got %q", id)
	case domain.KindIP:
		a, err := netip.ParseAddr(id)
		if err != nil {
			return "", "", "", domain.Invalid("target", "falcon IOCs take single IP addresses, not %q", id)
		}
		if a.Is4() || a.Is4In6() {
			return "ipv4", a.Unmap().String(), "detect", nil
		}
		return "ipv6", a.String(), "detect", nil
	case domain.KindURL:
		if !strings.Contains(id, "://") {
			id = "http://" + id // a bare host name
		}
		u, err := url.Parse(id)
		if err != nil || u.Host == "" {
			return "", "", "", domain.Invalid("target", "not a URL: %q", id)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Port() != "" {
			return "", "", "", domain.Invalid("target", "falcon IOCs match domains, not full URLs: %q has a path, query or port; block its domain with a url.block on %s://%s if that is meant",
				id, u.Scheme, u.Hostname())
		}
		return "domain", strings.ToLower(u.Hostname()), "detect", nil
	}
	return "", "", "", domain.Invalid("target", "falcon IOCs take a file, an IP or a URL, got %q", target)
}

// acts reports whether an IOC's action is the one AIR asks for or a
// stronger one.
func acts(have, want string) bool {
	switch want {
	case "prevent":
		return have == "prevent" || have == "prevent_no_ui"
	case "detect":
		return have == "detect" || have == "prevent" || have == "prevent_no_ui"
	}
	return false
}

// indicator blocks or unblocks a file hash, an IP address or a domain.
//
// Falcon keeps one IOC per type and value, so AIR looks the value up first
// (GET /iocs/combined/indicator/v1): an IOC that already acts as asked is
// joined (changed false), or recognised as this action's own after a
// crash by the marker in its description (changed true). An expired IOC
// (Falcon sets its action to no_action) is updated rather than doubled;
// an allow IOC is someone's decision, and AIR reports the conflict rather
// than overwrite it.
//
// Unblocking deletes the IOCs that prevent the value, and the detect-only
// IOCs AIR itself created (source AIR); none is the pre-check's answer
// ("not blocked"), and a 404 on delete means someone else removed it.
func (c *Client) indicator(ctx context.Context, req remediation.Request, p map[string]any) (remediation.Result, error) {
	typ, value, action, err := iocOf(req.Target)
	if err != nil {
		return remediation.Result{}, err
	}
	existing, err := c.iocs(ctx, typ, value)
	if err != nil {
		return remediation.Result{}, err
	}
	if !iocOps[req.Type] {
		return c.unblock(ctx, existing, typ, value)
	}
	marker := remediation.Marker(req.IncidentID, req.ActionID)
	caveat := ""
	if action == "detect" {
		caveat = "; detect only: Falcon IOCs cannot block domains or IP addresses"
	}
	for _, in := range existing {
		switch {
		case acts(in.Action, action) && strings.Contains(in.Description, marker+" ("):
			return remediation.Result{Summary: fmt.Sprintf("%s %s: IOC %s (%s) created by this action before a retry%s", typ, value, in.ID, in.Action, caveat),
				Changed: true}, nil
		case acts(in.Action, action):
			return remediation.Result{Summary: fmt.Sprintf("%s %s: already %s by IOC %s of %s%s", typ, value, in.Action, in.ID, cmp.Or(in.CreatedBy, "someone else"), caveat)}, nil
		case in.Action == "allow":
			return remediation.Result{}, domain.Errorf(domain.KindConflict, "falcon IOC %s allows %s %s (created by %s); AIR does not overwrite an allow",
				in.ID, typ, value, cmp.Or(in.CreatedBy, "someone else"))
		}
	}
	body := IOC{Type: typ, Value: value, Action: action, Severity: "high", Source: Source, AppliedGlobally: true,
		Platforms: c.platforms(), Description: marker + " (" + req.Type + ")"}
	if s := remediation.StringParam(p, "comment", ""); s != "" {
		body.Description += ": " + s
	}
	if s := remediation.StringParam(p, "expiresIn", ""); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return remediation.Result{}, domain.Invalid("params.expiresIn", "want a positive Go duration such as 720h, got %q", s)
		}
		body.Expiration = c.now().Add(d).UTC().Format(time.RFC3339)
	}
	var reply struct {
		Resources []IOC `json:"resources"`
	}
	how := "created"
	if len(existing) > 0 { // an expired or otherwise inert IOC: update it
		body.ID, how = existing[0].ID, "updated from "+existing[0].Action
		body.Type, body.Value = "", ""
		err = c.API.Do(ctx, http.MethodPatch, "/iocs/entities/indicators/v1", map[string]any{"indicators": []IOC{body}}, &reply)
	} else {
		err = c.API.Do(ctx, http.MethodPost, "/iocs/entities/indicators/v1", map[string]any{"indicators": []IOC{body}}, &reply)
	}
	if err != nil {
		return remediation.Result{}, err
	}
	if len(reply.Resources) == 0 || reply.Resources[0].ID == "" || !acts(reply.Resources[0].Action, action) {
		got := IOC{}
		if len(reply.Resources) > 0 {
			got = reply.Resources[0]
		}
		return remediation.Result{}, fmt.Errorf("falcon IOC for %s %s: the answer does not confirm it (id %q, action %q)", typ, value, got.ID, got.Action)
	}
	got := reply.Resources[0]
	summary := fmt.Sprintf("%s %s: IOC %s %s (%s", typ, value, got.ID, how, got.Action)
	if got.Expiration != "" {
		summary += ", expires " + got.Expiration
	}
	return remediation.Result{Summary: summary + ")" + caveat, Changed: true}, nil
}

func (c *Client) unblock(ctx context.Context, existing []IOC, typ, value string) (remediation.Result, error) {
	var removed []string
	for _, in := range existing {
		if !(in.Action == "prevent" || in.Action == "prevent_no_ui" || (in.Action == "detect" && in.Source == Source)) {
			continue // an allow, someone's detect, an expired IOC: not a block AIR lifts
		}
		if err := c.API.DeleteGone(ctx, "/iocs/entities/indicators/v1?"+url.Values{"ids": {in.ID}}.Encode()); err != nil {
			return remediation.Result{}, err
		}
		removed = append(removed, in.ID)
	}
	if len(removed) == 0 {
		return remediation.Result{Summary: fmt.Sprintf("%s %s: not blocked, nothing to lift", typ, value)}, nil
	}
	return remediation.Result{Summary: fmt.Sprintf("%s %s: block lifted (IOC %s deleted)", typ, value, strings.Join(removed, ", ")),
		Changed: true}, nil
}

// iocs lists the IOCs for one type and value.
func (c *Client) iocs(ctx context.Context, typ, value string) ([]IOC, error) {
	q := url.Values{"filter": {"type:" + fqlString(typ) + "+value:" + fqlString(value)}, "limit": {"100"}}
	var page struct {
		Resources []IOC `json:"resources"`
	}
	if err := c.API.Do(ctx, http.MethodGet, "/iocs/combined/indicator/v1?"+q.Encode(), nil, &page); err != nil {
		return nil, err
	}
	return page.Resources, nil
}

func (c *Client) platforms() []string {
	if len(c.Platforms) > 0 {
		return c.Platforms
	}
	return DefaultPlatforms
}
