package exo

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// Entry is a Tenant Allow/Block List entry as Get- and
// New-TenantAllowBlockListItems output it (the properties AIR reads).
type Entry struct {
	Identity       string `json:"Identity"`
	Value          string `json:"Value"`
	Action         string `json:"Action"` // Block or Allow
	Notes          string `json:"Notes"`
	ExpirationDate string `json:"ExpirationDate"` // empty or null: never
}

// sender checks a block-list sender: an email address or a domain, the
// two forms the list's Sender entries take.
func sender(id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if a, err := mail.ParseAddress(id); err == nil && a.Address == id {
		return id, nil
	}
	if !strings.ContainsAny(id, "@ <>\"") && strings.Contains(id, ".") {
		return id, nil // a domain
	}
	return "", domain.Invalid("target", "want a sender's email address or domain, got %q", id)
}

// entries reads the list's Sender entries for one address or domain; an
// answer that it has none (an empty list or, as some tenants answer, an
// object not found) is none.
func (c *Client) entries(ctx context.Context, addr string) ([]Entry, error) {
	es, err := invoke[Entry](ctx, c, "Get-TenantAllowBlockListItems", addr, map[string]any{"ListType": "Sender", "Entry": addr})
	if notFound(err) {
		return nil, nil
	}
	var out []Entry
	for _, e := range es {
		if strings.EqualFold(e.Value, addr) {
			out = append(out, e)
		}
	}
	return out, err
}

// blockSender adds a Sender block entry, unless one is there already:
//
//   - a block entry whose Notes carry this action's marker is this
//     action's own, written by an attempt that did not live to report it
//     (changed true);
//   - any other block entry is joined (changed false, naming who wrote it
//     and when it expires): a second entry for the same value is refused
//     by Exchange anyway;
//   - an allow entry for the sender is a conflict: someone decided to let
//     it through, and AIR does not overrule that silently.
//
// Without expiresIn the entry never expires (-NoExpiration): Exchange's
// own default is 30 days, which is not what "no expiry" says.
func (c *Client) blockSender(ctx context.Context, req remediation.Request, id string, p map[string]any) (remediation.Result, error) {
	addr, err := sender(id)
	if err != nil {
		return remediation.Result{}, err
	}
	params := map[string]any{"ListType": "Sender", "Block": true, "Entries": []string{addr},
		"Notes": remediation.Marker(req.IncidentID, req.ActionID)}
	expiry := "never"
	if s := remediation.StringParam(p, "expiresIn", ""); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return remediation.Result{}, domain.Invalid("params.expiresIn", "want a positive Go duration such as 720h, got %q", s)
		}
		expiry = c.now().Add(d).UTC().Format(time.RFC3339)
		params["ExpirationDate"] = expiry
	} else {
		params["NoExpiration"] = true
	}
	have, err := c.entries(ctx, addr)
	if err != nil {
		return remediation.Result{}, err
	}
	marker := params["Notes"].(string)
	for _, e := range have {
		switch {
		case strings.EqualFold(e.Action, "Allow"):
			return remediation.Result{}, domain.Errorf(domain.KindConflict,
				"sender %s is allowed on the tenant allow/block list (entry %s, notes %q): remove the allow entry to block it", addr, e.Identity, e.Notes)
		case strings.Contains(e.Notes, marker):
			return remediation.Result{Summary: fmt.Sprintf("sender %s blocked by this action before a retry (entry %s, expires %s)",
				addr, e.Identity, orNever(e.ExpirationDate)), Changed: true}, nil
		default:
			return remediation.Result{Summary: fmt.Sprintf("sender %s already blocked (entry %s, notes %q, expires %s)",
				addr, e.Identity, e.Notes, orNever(e.ExpirationDate))}, nil
		}
	}
	made, err := invoke[Entry](ctx, c, "New-TenantAllowBlockListItems", addr, params)
	if k := domain.KindOf(err); k == domain.KindInvalid || k == domain.KindConflict {
		// Refused: perhaps someone added an entry since the look-up.
		// Join it if so; else Exchange's reason stands.
		if have, rerr := c.entries(ctx, addr); rerr == nil {
			for _, e := range have {
				if strings.EqualFold(e.Action, "Block") {
					return remediation.Result{Summary: fmt.Sprintf("sender %s already blocked (entry %s, notes %q, added meanwhile)",
						addr, e.Identity, e.Notes)}, nil
				}
			}
		}
	}
	if err != nil {
		return remediation.Result{}, err
	}
	for _, e := range made {
		if strings.EqualFold(e.Value, addr) && strings.EqualFold(e.Action, "Block") {
			return remediation.Result{Summary: fmt.Sprintf("sender %s blocked tenant-wide (entry %s, expires %s)",
				addr, e.Identity, orNever(e.ExpirationDate)), Changed: true}, nil
		}
	}
	// An answer without the entry: the next attempt's look-up finds it
	// by the marker, or adds it.
	return remediation.Result{}, fmt.Errorf("exchange online New-TenantAllowBlockListItems %s: the answer shows no block entry for it", addr)
}

// unblockSender removes the sender's block entry. A sender with none has
// nothing to lift; an allow entry is never removed (Remove- by value would
// remove it too, so AIR looks first).
func (c *Client) unblockSender(ctx context.Context, id string) (remediation.Result, error) {
	addr, err := sender(id)
	if err != nil {
		return remediation.Result{}, err
	}
	have, err := c.entries(ctx, addr)
	if err != nil {
		return remediation.Result{}, err
	}
	var block *Entry
	for i := range have {
		if strings.EqualFold(have[i].Action, "Block") {
			block = &have[i]
		}
	}
	if block == nil {
		return remediation.Result{Summary: "sender " + addr + " not blocked, nothing to lift"}, nil
	}
	_, err = invoke[Entry](ctx, c, "Remove-TenantAllowBlockListItems", addr, map[string]any{"ListType": "Sender", "Entries": []string{addr}})
	switch {
	case notFound(err):
		return remediation.Result{Summary: "sender " + addr + " no longer blocked (entry " + block.Identity + " removed meanwhile)"}, nil
	case err != nil:
		return remediation.Result{}, err
	}
	return remediation.Result{Summary: fmt.Sprintf("sender %s unblocked (entry %s, notes %q, removed)", addr, block.Identity, block.Notes), Changed: true}, nil
}

func orNever(date string) string {
	if date == "" {
		return "never"
	}
	return date
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
