package decode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// chunksOf describes a read: each chunk's alerts as id@activity time.
func chunksOf(chunks [][]*domain.Alert) []string {
	var out []string
	for _, c := range chunks {
		var ids []string
		for _, a := range c {
			ids = append(ids, a.ID+"@"+a.ActivityTime().UTC().Format("2006-01-02"))
		}
		out = append(out, strings.Join(ids, " "))
	}
	return out
}

func writeNDJSON(t *testing.T, n, bad int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alerts.ndjson")
	var b strings.Builder
	for i := range n {
		if i == bad {
			b.WriteString(`{"id":"bad","severity":"dreadful","title":"t"}` + "\n")
			continue
		}
		fmt.Fprintf(&b, `{"@odata.type":"#microsoft.graph.security.alert","id":"p-%d","title":"t","severity":"low","createdDateTime":"2026-12-01T09:00:00Z","lastUpdateDateTime":"2026-12-01T09:00:00Z"}`+"\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readNext(t *testing.T, path string, repeat, n int) ([]string, error) {
	t.Helper()
	rd, err := OpenFile(path, repeat)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var chunks [][]*domain.Alert
	for {
		part, err := rd.Next(n)
		if err != nil {
			return chunksOf(chunks), err
		}
		if len(part) == 0 {
			return chunksOf(chunks), nil
		}
		chunks = append(chunks, part)
	}
}

func readEach(t *testing.T, path string, repeat, workers, n int) ([]string, error) {
	t.Helper()
	rd, err := OpenFile(path, repeat)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var chunks [][]*domain.Alert
	err = rd.Each(workers, n, func(part []*domain.Alert) error {
		chunks = append(chunks, part)
		return nil
	})
	return chunksOf(chunks), err
}

// TestEachIsNext: decoding on several goroutines gives the chunks, the
// alerts (renamed and moved in later passes) and the first error that
// Next gives.
func TestEachIsNext(t *testing.T) {
	t.Parallel()
	good := writeNDJSON(t, 37, -1)
	bad := writeNDJSON(t, 37, 25)
	for _, workers := range []int{0, 1, 2, 3} {
		for _, n := range []int{1, 4, 10, 37, 100} {
			for _, tc := range []struct {
				path   string
				repeat int
			}{{good, 1}, {good, 3}, {bad, 1}, {bad, 2}} {
				want, wantErr := readNext(t, tc.path, tc.repeat, n)
				got, err := readEach(t, tc.path, tc.repeat, workers, n)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) || !slices.Equal(got, want) {
					t.Errorf("workers %d, n %d, repeat %d, bad %t:\n got %q, %v\nwant %q, %v", workers, n, tc.repeat,
						tc.path == bad, got, err, want, wantErr)
				}
			}
		}
	}
	if _, err := readEach(t, bad, 1, 2, 10); err == nil || !strings.Contains(err.Error(), "alert 25: ") {
		t.Errorf("error %v, want one naming alert 25", err)
	}
}

// TestEachStopsAtFnError: fn's error ends the read at once (no more
// calls) and comes back as it is.
func TestEachStopsAtFnError(t *testing.T) {
	t.Parallel()
	path := writeNDJSON(t, 500, -1)
	rd, err := OpenFile(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	stop := errors.New("enough")
	calls := 0
	err = rd.Each(2, 7, func([]*domain.Alert) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("Each: %v after %d calls; want %v after 3", err, calls, stop)
	}
}
