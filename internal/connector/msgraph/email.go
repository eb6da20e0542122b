package msgraph

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// emailActions map AIR's email remediations onto Defender for Office 365's
// remediate action (POST /v1.0/security/collaboration/analyzedEmails/
// remediate): soft delete moves a delivered message to the recipient's
// Recoverable Items, move to inbox brings it back (the undo, and the
// answer to a false positive).
var emailActions = map[string]string{"email.soft_delete": "softDelete", "email.move_to_inbox": "moveToInbox"}

// remediateEmail asks Defender for Office 365 to remediate one message
// for one recipient. The API answers 202 Accepted: the purge runs in the
// service and is tracked in the Microsoft 365 Defender action center (its
// Location header links there); AIR records the acceptance, with the
// action's marker as the remediation's name so that it can be found
// there.
//
// There is no idempotency key and no way to list remediations through
// Graph, so a retried attempt posts again — which is safe: a message
// already soft-deleted (or already in the inbox) is left where it is, and
// the action center shows the repeat as a second entry with nothing to do.
func (c *Client) remediateEmail(ctx context.Context, req remediation.Request, p map[string]any) (remediation.Result, error) {
	kind, nmid, _ := strings.Cut(string(req.Target), ":")
	if domain.EntityKind(kind) != domain.KindMessage || nmid == "" {
		return remediation.Result{}, domain.Invalid("target", "%s needs a message target (message:<networkMessageId>), got %q", req.Type, req.Target)
	}
	recipient, _ := p["mailbox"].(string)
	if recipient == "" {
		return remediation.Result{}, domain.Invalid("params.mailbox",
			"%s through Microsoft Graph needs the recipient's address (mailbox: \"{{ item.recipientEmailAddress }}\"): the remediate API acts per recipient", req.Type)
	}
	if a, err := mail.ParseAddress(recipient); err != nil || a.Address != recipient {
		return remediation.Result{}, domain.Invalid("params.mailbox", "want one email address, got %q", recipient)
	}
	action := emailActions[req.Type]
	marker := remediation.Marker(req.IncidentID, req.ActionID)
	desc := marker + " (" + req.Type + ")"
	if s, _ := p["comment"].(string); s != "" {
		desc += ": " + s
	}
	body := map[string]any{
		"displayName": marker, "description": desc, "severity": "high", "action": action,
		"remediateSendersCopy": false,
		"analyzedEmails":       []map[string]string{{"networkMessageId": nmid, "recipientEmailAddress": recipient}},
	}
	if err := c.API.Do(ctx, http.MethodPost, "/v1.0/security/collaboration/analyzedEmails/remediate", body, nil); err != nil {
		return remediation.Result{}, err
	}
	return remediation.Result{Summary: fmt.Sprintf("%s of message %s for %s accepted by Defender for Office 365 (tracked in the action center as %q)",
		action, nmid, recipient, marker), Changed: true}, nil
}
