// Package profile writes the CPU profile of a benchmark command's run
// (`starter bench ingest -cpuprofile`, `worker bench e2e -cpuprofile`),
// for `go tool pprof`.
package profile

import (
	"os"
	"runtime/pprof"
)

// CPU starts profiling this process into the file at path and returns the
// function that stops and writes it; with an empty path it does nothing.
func CPU(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
