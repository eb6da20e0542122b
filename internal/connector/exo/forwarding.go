package exo

import (
	"context"
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// Mailbox is the part of Get-Mailbox's output AIR reads.
type Mailbox struct {
	Identity           string `json:"Identity"`
	PrimarySMTPAddress string `json:"PrimarySmtpAddress"`
	// ForwardingSMTPAddress forwards to any address, inside or outside
	// ("smtp:eve@evil.example"); ForwardingAddress to a recipient in the
	// directory (a mail contact can point outside).
	ForwardingSMTPAddress string `json:"ForwardingSmtpAddress"`
	ForwardingAddress     string `json:"ForwardingAddress"`
	// DeliverToMailboxAndForward keeps a copy in the mailbox when true.
	DeliverToMailboxAndForward bool `json:"DeliverToMailboxAndForward"`
}

// forwards reports whether the mailbox forwards anywhere.
func (m *Mailbox) forwards() bool {
	return m.ForwardingSMTPAddress != "" || m.ForwardingAddress != ""
}

// was says what the forwarding was, for an analyst who must restore it
// (Set-Mailbox with these values).
func (m *Mailbox) was() string {
	return fmt.Sprintf("ForwardingSmtpAddress %s, ForwardingAddress %s, DeliverToMailboxAndForward %t",
		orNone(m.ForwardingSMTPAddress), orNone(m.ForwardingAddress), m.DeliverToMailboxAndForward)
}

// stopForwarding clears a mailbox's forwarding with Set-Mailbox
// -ForwardingSmtpAddress $null -ForwardingAddress $null
// -DeliverToMailboxAndForward $false, after reading it with Get-Mailbox: a
// mailbox that forwards nowhere is left alone (changed false). The result
// records what the forwarding was.
//
// Set-Mailbox outputs nothing; its success answer (no error) is the
// confirmation. Before calling it AIR records the previous values in the
// activity's heartbeat: an attempt that finds no forwarding after an
// earlier attempt's heartbeat says it was this action, and what it was.
func (c *Client) stopForwarding(ctx context.Context, req remediation.Request, id string) (remediation.Result, error) {
	boxes, err := invoke[Mailbox](ctx, c, "Get-Mailbox", id, map[string]any{"Identity": id})
	if err != nil {
		return remediation.Result{}, err
	}
	if len(boxes) == 0 {
		return remediation.Result{}, domain.Errorf(domain.KindNotFound, "exchange online Get-Mailbox %s: no such mailbox", id)
	}
	m := boxes[0]
	name := orStr(m.PrimarySMTPAddress, id)
	beat := req.Type + ":" + strings.ToLower(name) + ": "
	if !m.forwards() {
		if prev, ok := remediation.Resumed(ctx); ok && strings.HasPrefix(prev, beat) {
			return remediation.Result{Summary: fmt.Sprintf("forwarding of %s stopped by this action before a retry (was %s)",
				name, strings.TrimPrefix(prev, beat)), Changed: true}, nil
		}
		return remediation.Result{Summary: "mailbox " + name + " forwards nowhere, nothing to stop"}, nil
	}
	remediation.Heartbeat(ctx, beat+m.was())
	_, err = invoke[Mailbox](ctx, c, "Set-Mailbox", id, map[string]any{"Identity": id,
		"ForwardingSmtpAddress": nil, "ForwardingAddress": nil, "DeliverToMailboxAndForward": false})
	if err != nil {
		return remediation.Result{}, err
	}
	return remediation.Result{Summary: fmt.Sprintf("forwarding of %s stopped (was %s)", name, m.was()), Changed: true}, nil
}

func orNone(s string) string { return orStr(s, "none") }

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
