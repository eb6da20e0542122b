package store

import (
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// unifyHosts reads the device keys stored under the batch's host labels
// and lets correlate.UnifyHosts rewrite short names to their unique FQDN.
func (b *batch) unifyHosts(alerts []*domain.Alert) error {
	labels := correlate.HostLabels(alerts)
	if len(labels) == 0 {
		return nil
	}
	var list []string
	for l := range labels {
		list = append(list, l)
	}
	var known []domain.EntityKey
	err := inChunks(list, func(part []string) error {
		// The exact keys in one IN and a LIKE a label: SQLite refuses an
		// expression deeper than 1,000, which two ORed terms a label
		// reached with 500 labels.
		likes := make([]string, len(part))
		args := make([]any, 0, 2*len(part))
		for i, l := range part {
			likes[i] = `key LIKE ? ESCAPE '\'`
			args = append(args, "device:"+l)
		}
		for _, l := range part {
			args = append(args, "device:"+likeEscape(l)+".%")
		}
		var keys []string
		if err := b.tx.SelectContext(b.ctx, &keys, b.tx.Rebind(`SELECT key FROM entities WHERE kind = 'device' AND (key IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`) OR `+strings.Join(likes, " OR ")+`)`), args...); err != nil {
			return fmt.Errorf("find host names: %w", err)
		}
		for _, k := range keys {
			known = append(known, domain.EntityKey(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	correlate.UnifyHosts(alerts, known, b.st)
	return nil
}
