package decode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// aitFile returns a shared AIT scenario (AIR_AIT_DATA names their
// directory, by default ../shared/data/ait), or skips.
func aitFile(b *testing.B, name string) string {
	b.Helper()
	dir := os.Getenv("AIR_AIT_DATA")
	if dir == "" {
		dir = filepath.Join(sharedData, "ait")
	}
	path := filepath.Join(dir, name+".ndjson.gz")
	if _, err := os.Stat(path); err != nil {
		b.Skip("shared AIT data not found; set AIR_AIT_DATA to the directory of shaw.ndjson.gz")
	}
	return path
}

// aitLines returns the items of a scenario, unzipped (ReadItems).
func aitLines(b *testing.B, path string) [][]byte {
	b.Helper()
	lines, err := ReadItems(path)
	if err != nil {
		b.Fatal(err)
	}
	return lines
}

// BenchmarkItem decodes the shaw scenario's alerts one by one from memory:
// the decoder alone, no gzip, no reading.
//
//	AIR_AIT_DATA=../shared/data/ait go test ./internal/decode -run '^$' -bench . -benchmem -count 3
func BenchmarkItem(b *testing.B) {
	lines := aitLines(b, aitFile(b, "shaw"))
	var n int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := lines[i%len(lines)]
		if _, _, err := Item(raw); err != nil {
			b.Fatal(err)
		}
		n += len(raw)
	}
	b.SetBytes(int64(n / max(1, b.N)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkFileRaw reads the shaw scenario's items from the gzip file
// without decoding them: the reader's share of `starter correlate`.
func BenchmarkFileRaw(b *testing.B) {
	path := aitFile(b, "shaw")
	n := 0
	for i := 0; i < b.N; i++ {
		rd, err := OpenFile(path, 1)
		if err != nil {
			b.Fatal(err)
		}
		for {
			raw, err := rd.NextRaw()
			if err != nil {
				b.Fatal(err)
			}
			if raw == nil {
				break
			}
			n++
		}
		rd.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkFile reads and decodes the shaw scenario through File.Next on
// one goroutine: what `starter correlate` did before it decoded on
// several.
func BenchmarkFile(b *testing.B) {
	path := aitFile(b, "shaw")
	n := 0
	for i := 0; i < b.N; i++ {
		rd, err := OpenFile(path, 1)
		if err != nil {
			b.Fatal(err)
		}
		for {
			part, err := rd.Next(1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(part) == 0 {
				break
			}
			n += len(part)
		}
		rd.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkDecodeNDJSON decodes the shaw scenario as one NDJSON body with
// Decode, as the ingest API receives it: splitting and decoding, ns/alert.
func BenchmarkDecodeNDJSON(b *testing.B) {
	body := bytes.Join(aitLines(b, aitFile(b, "shaw")), []byte{'\n'})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		alerts, problems, err := Decode(bytes.NewReader(body))
		if err != nil || len(problems) > 0 {
			b.Fatal(err, problems)
		}
		n += len(alerts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/alert")
}
