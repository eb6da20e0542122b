package labtenant_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/store"
)

// BenchmarkExecute measures one lab remediation (a transaction that checks
// the key, reads and writes the device, records the operation).
//
//	go test -run - -bench . ./internal/labtenant/
func BenchmarkExecute(b *testing.B) {
	dsn := filepath.Join(b.TempDir(), "air.db")
	if u := os.Getenv("BENCH_DATABASE_URL"); u != "" {
		dsn = u
	}
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lab := &labtenant.Tenant{Store: s}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		typ := "device.isolate"
		if i%2 == 1 {
			typ = "device.release"
		}
		if _, err := lab.Execute(ctx, req(typ, fmt.Sprintf("device:bench-%d", i%50), `{}`, fmt.Sprintf("bench/%d/%d", os.Getpid(), i))); err != nil {
			b.Fatal(err)
		}
	}
}
