package graph

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// aitLines returns the non-blank NDJSON lines of a shared AIT scenario
// (AIR_AIT_DATA names their directory, by default ../shared/data/ait), or
// skips.
func aitLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	dir := os.Getenv("AIR_AIT_DATA")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(samplesDir), "ait")
	}
	f, err := os.Open(filepath.Join(dir, name+".ndjson.gz"))
	if err != nil {
		tb.Skipf("shared AIT data not found (set AIR_AIT_DATA to the directory of %s.ndjson.gz): %v", name, err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(gz)
	if err != nil {
		tb.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, bytes.Clone(l))
		}
	}
	return lines
}

// aitCache keeps each scenario's lines across a benchmark's runs, which
// would otherwise unzip the file at every b.N and swamp its profile.
var aitCache = map[string][][]byte{}

// BenchmarkDecodeAIT decodes every alert of each AIT scenario from memory
// with DecodeAlert: the decoder alone, no gzip, no reading. ns/alert is
// the figure to compare.
//
//	AIR_AIT_DATA=/work/shared/data/ait go test ./internal/graph -run '^$' -bench DecodeAIT -benchmem -count 5
func BenchmarkDecodeAIT(b *testing.B) {
	for _, name := range []string{"shaw", "russellmitchell"} {
		b.Run(name, func(b *testing.B) {
			lines, ok := aitCache[name]
			if !ok {
				lines = aitLines(b, name)
				aitCache[name] = lines
			}
			size := 0
			for _, l := range lines {
				size += len(l)
			}
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := DecodeAlert(lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/alert")
		})
	}
}
