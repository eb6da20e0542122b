package profile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCPUWritesAProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := CPU(path)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 {
		x += i & 3
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || x == 0 {
		t.Fatalf("profile %s: %v, %v", path, fi, err)
	}
	if stop, err := CPU(""); err != nil || stop == nil {
		t.Errorf("no path: %v", err)
	} else {
		stop()
	}
	if _, err := CPU(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil {
		t.Error("a profile in a missing directory was accepted")
	}
}
