package store

import (
	"maps"
	"slices"
	"testing"

	"github.com/airsoc/air/internal/records"
)

// TestSortKeysMatchRecords: the sort keys the API offers
// (records.SortableIncidentColumns, records.SortableActionColumns) are
// exactly those the store maps to SQL, so that no offered key is refused
// and no mapped one is unreachable.
func TestSortKeysMatchRecords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		offered   []string
		mappedSQL map[string]string
	}{
		{"incidents", records.SortableIncidentColumns(), incidentSortSQL},
		{"actions", records.SortableActionColumns(), actionSortSQL},
	} {
		if got := slices.Sorted(maps.Keys(c.mappedSQL)); !slices.Equal(got, c.offered) {
			t.Errorf("%s: the store maps %v, records offers %v", c.name, got, c.offered)
		}
	}
}
