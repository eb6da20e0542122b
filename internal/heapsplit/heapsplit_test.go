package heapsplit

import (
	"runtime"
	"testing"
)

var keep [][]byte

// TestReadCountsLiveAllocations: memory this package allocates and keeps
// counts as AIR's, and the parts add up to the heap in use.
func TestReadCountsLiveAllocations(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.GC() // the profile reports the heap as of the last GC
	s := Read()
	if s.AIR+s.Server != s.Total || s.Total == 0 {
		t.Fatalf("split %+v does not add up", s)
	}
	if s.AIR < 64<<20 {
		t.Errorf("AIR's share %d B, want at least the 64 MiB kept here", s.AIR)
	}
	if s.Server != 0 {
		t.Errorf("server share %d B in a process without the server", s.Server)
	}
}
