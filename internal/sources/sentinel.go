package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/decode"
)

// sentinelPoller reads Microsoft Sentinel's SecurityAlert table through the
// Log Analytics query API: POST /v1/workspaces/{id}/query with a KQL query
// over TimeGenerated, in pages of PageSize rows numbered with
// row_number() (the API has no cursor). Permission: Data.Read on
// api.loganalytics.io (Log Analytics Reader on the workspace).
type sentinelPoller struct {
	v         *vendor
	workspace string
	filter    string
	overlap   time.Duration
	pageSize  int
}

type laAnswer struct {
	Tables []struct {
		Name    string `json:"name"`
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
		Rows [][]any `json:"rows"`
	} `json:"tables"`
}

func (s *sentinelPoller) query(cp Checkpoint, offset int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SecurityAlert | where TimeGenerated >= datetime(%s)", cp.Since.Add(-s.overlap).UTC().Format(time.RFC3339Nano))
	if s.filter != "" {
		fmt.Fprintf(&b, " | where %s", s.filter)
	}
	fmt.Fprintf(&b, " | order by TimeGenerated asc, SystemAlertId asc | serialize rn = row_number() | where rn > %d | take %d", offset, s.pageSize)
	return b.String()
}

func (s *sentinelPoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	offset := 0
	if cp.Cursor != "" {
		n, err := strconv.Atoi(cp.Cursor)
		if err != nil || n < 0 {
			return Page{}, &PermanentError{Body: fmt.Sprintf("checkpoint cursor %q is not a row offset", cp.Cursor)}
		}
		offset = n
	}
	body, _ := json.Marshal(map[string]string{"query": s.query(cp, offset)})
	b, _, err := s.v.do(ctx, http.MethodPost, s.v.url("/v1/workspaces/"+s.workspace+"/query", nil), bytes.NewReader(body), "application/json")
	if err != nil {
		return Page{}, err
	}
	var ans laAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return Page{}, fmt.Errorf("decode Log Analytics answer: %w", err)
	}
	var items []json.RawMessage
	for _, t := range ans.Tables {
		if t.Name != "PrimaryResult" && len(ans.Tables) > 1 {
			continue
		}
		for _, row := range t.Rows {
			obj := make(map[string]any, len(t.Columns))
			for i, c := range t.Columns {
				if i < len(row) && c.Name != "rn" {
					obj[c.Name] = row[i]
				}
			}
			raw, _ := json.Marshal(obj)
			items = append(items, raw)
		}
	}
	alerts, problems := decodeItems(items, decode.DecodeSentinel)
	cursor := ""
	if len(items) == s.pageSize {
		cursor = strconv.Itoa(offset + len(items))
	}
	return Page{Alerts: alerts, Problems: problems, Next: cp.Advance(newestUpdate(alerts), cursor), More: cursor != ""}, nil
}
