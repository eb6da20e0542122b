// Package heapsplit tells apart, in one process, the heap that AIR holds
// from the heap of the Temporal server embedded in -dev mode: both live in
// one Go heap, so the split is read from the runtime's sampled heap profile
// by where each live allocation was made (a stack with a frame of
// go.temporal.io/server belongs to the server). It is an estimate — the
// profile samples about one allocation per 512 KiB — scaled to the heap's
// in-use bytes.
package heapsplit

import (
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Split is the live heap divided by owner.
type Split struct {
	// Server is the embedded Temporal server's share, in bytes.
	Server uint64
	// AIR is everything else: AIR, the Temporal SDK, the store's drivers.
	AIR uint64
	// Total is runtime.MemStats.HeapInuse when the split was read.
	Total uint64
}

// serverPrefix marks the frames of the embedded server.
const serverPrefix = "go.temporal.io/server/"

// Read samples the heap profile now. It costs a walk over the profile's
// records and their stacks (milliseconds), and stops no goroutine beyond
// runtime.ReadMemStats.
func Read() Split {
	var records []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		records = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		n, ok = runtime.MemProfile(records, false)
		if ok {
			records = records[:n]
			break
		}
	}
	var server, all int64
	for i := range records {
		in := records[i].InUseBytes()
		if in <= 0 {
			continue
		}
		all += in
		if fromServer(records[i].Stack()) {
			server += in
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Split{Total: ms.HeapInuse}
	if all > 0 {
		s.Server = uint64(float64(ms.HeapInuse) * float64(server) / float64(all))
	}
	s.AIR = s.Total - s.Server
	return s
}

func fromServer(stack []uintptr) bool {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, serverPrefix) {
			return true
		}
		if !more {
			return false
		}
	}
}

// Collector exports the split on /metrics as air_heap_inuse_bytes{part}:
// part="air" and part="temporal_server" (zero outside -dev).
type Collector struct{}

var heapDesc = prometheus.NewDesc("air_heap_inuse_bytes",
	"Go heap in use, split between AIR and the Temporal server embedded in -dev (estimated from the sampled heap profile).",
	[]string{"part"}, nil)

// Describe implements prometheus.Collector.
func (Collector) Describe(ch chan<- *prometheus.Desc) { ch <- heapDesc }

// Collect implements prometheus.Collector.
func (Collector) Collect(ch chan<- prometheus.Metric) {
	s := Read()
	ch <- prometheus.MustNewConstMetric(heapDesc, prometheus.GaugeValue, float64(s.AIR), "air")
	ch <- prometheus.MustNewConstMetric(heapDesc, prometheus.GaugeValue, float64(s.Server), "temporal_server")
}
