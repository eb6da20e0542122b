package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/store"
)

// recorder stands in for Temporal: it records the signals, and can fail.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (r *recorder) AlertsJoined(_ context.Context, id int64, alerts []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("temporal unavailable")
	}
	r.calls = append(r.calls, fmt.Sprintf("%d:%v", id, alerts))
	return nil
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func alert(id, host string, at time.Time) *domain.Alert {
	return &domain.Alert{ID: id, Title: "scan", DetectorID: "scanner", Status: domain.AlertNew, Severity: domain.SeverityLow,
		CreatedDateTime: at, LastUpdateDateTime: at, Evidence: []domain.Evidence{{Type: "deviceEvidence",
			Entity: &domain.Entity{Key: domain.EntityKey("device:" + host), Kind: domain.KindDevice, Name: host}}}}
}

func TestConcurrentCallersShareTransactions(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := &ingest.Pipeline{Store: openStore(t), Notifier: rec, Coalesce: 10} // a large batch: flushed on the caller's own context
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const callers = 40
	results := make([][]string, callers)
	incs := make([]int64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			id := fmt.Sprintf("a%02d", i)
			res, err := p.Ingest(context.Background(), []*domain.Alert{alert(id, "web1", t0.Add(time.Duration(i)*time.Second))})
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if len(res) != 1 || res[0].AlertID != id {
				t.Errorf("caller %d got %+v, want its own alert's result", i, res)
				return
			}
			results[i] = []string{res[0].AlertID}
			incs[i] = res[0].IncidentID
		})
	}
	wg.Wait()
	for i := range callers {
		if incs[i] != incs[0] {
			t.Errorf("caller %d in incident %d, caller 0 in %d", i, incs[i], incs[0])
		}
	}
	// One scanner on one host: only the first alert is a material change.
	if len(rec.calls) != 1 {
		t.Errorf("signals = %v, want one", rec.calls)
	}
}

func TestFailedSignalIsReportedAndRetried(t *testing.T) {
	t.Parallel()
	rec := &recorder{fail: true}
	st := openStore(t)
	p := &ingest.Pipeline{Store: st, Notifier: rec}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	res, err := p.Ingest(context.Background(), []*domain.Alert{alert("a1", "ws1", t0)})
	if err == nil || len(res) != 1 {
		t.Fatalf("got %+v, %v; want the stored result and an error about the signal", res, err)
	}
	rec.fail = false
	if _, err := p.Ingest(context.Background(), []*domain.Alert{alert("a2", "ws1", t0.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 {
		t.Errorf("signals after recovery = %v, want the retried one", rec.calls)
	}
	if _, err := p.Ingest(context.Background(), []*domain.Alert{alert("a3", "ws1", t0.Add(2*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 {
		t.Errorf("signals after acknowledgement = %v, want no more", rec.calls)
	}
}

// ctxRecorder fails a notification whose context has ended, as the
// Temporal client does, after taking some time.
type ctxRecorder struct {
	mu    sync.Mutex
	calls map[int64]bool
	leave context.CancelFunc // the client gives up as the first signal goes out
}

func (r *ctxRecorder) AlertsJoined(ctx context.Context, id int64, _ []string) error {
	r.leave()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id] = true
	return nil
}

// TestClientThatLeavesLosesNoSignal: the caller's context ends while a
// batch that opened many incidents is being signalled (a forwarder timing
// out); every incident is still signalled, because the alerts are stored.
func TestClientThatLeavesLosesNoSignal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &ctxRecorder{calls: map[int64]bool{}, leave: cancel}
	p := &ingest.Pipeline{Store: openStore(t), Notifier: rec, Coalesce: 10} // a large batch: flushed on the caller's own context
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var batch []*domain.Alert
	for i := range 40 {
		a := alert(fmt.Sprint("c", i), fmt.Sprint("host-", i), t0.Add(time.Duration(i)*2*time.Hour))
		a.DetectorID = fmt.Sprint("rule-", i)
		batch = append(batch, a)
	}
	res, err := p.Ingest(ctx, batch)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	incidents := map[int64]bool{}
	for _, r := range res {
		incidents[r.IncidentID] = true
	}
	if len(incidents) < 20 || len(rec.calls) != len(incidents) {
		t.Errorf("%d incidents, %d signalled; want many incidents, all signalled", len(incidents), len(rec.calls))
	}
}
