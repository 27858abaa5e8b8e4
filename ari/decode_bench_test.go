package ari

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/CyCoreSystems/ari/v5"
)

// traceEvents returns every event frame of the recorded Asterisk traces
// (aritest/testdata/*.jsonl), byte for byte as Asterisk sent them, in file
// and line order: the intake's real diet, duplicates and unknown types
// included.
func traceEvents(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("aritest", "testdata", "*.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatal("no traces in aritest/testdata")
	}
	var frames [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var l struct {
				Dir string          `json:"dir"`
				Raw json.RawMessage `json:"raw"` // a verbatim copy of the frame
			}
			if err := json.Unmarshal(line, &l); err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			if l.Dir == "event" {
				frames = append(frames, l.Raw)
			}
		}
	}
	if len(frames) == 0 {
		tb.Fatal("the traces hold no event frames")
	}
	return frames
}

// BenchmarkDecodeEvent is ari/v5's DecodeEvent alone over the recorded
// frames, round robin; one op is one frame. Frames ari/v5 cannot decode
// (types newer than v5.3.1) stay in: the intake pays for them too.
func BenchmarkDecodeEvent(b *testing.B) {
	frames := traceEvents(b)
	bad := make([]bool, len(frames))
	nbad := 0
	for i, f := range frames {
		_, err := ari.DecodeEvent(f)
		bad[i] = err != nil
		if bad[i] {
			nbad++
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % len(frames)
		ev, err := ari.DecodeEvent(frames[j])
		if (err != nil) != bad[j] || (err == nil && ev == nil) {
			b.Fatalf("frame %d decoded differently the second time: %v", j, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(nbad)/float64(len(frames)), "undecodable-ratio")
}
