package prompts

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNumberFilesFollowAsterisksDutch(t *testing.T) {
	for n, want := range map[int][]string{
		0:     {"digits/0"},
		7:     {"digits/7"},
		19:    {"digits/19"},
		21:    {"digits/1", "digits/nl-en", "digits/20"},
		40:    {"digits/40"},
		100:   {"digits/hundred"},
		115:   {"digits/hundred", "digits/15"},
		256:   {"digits/2", "digits/hundred", "digits/6", "digits/nl-en", "digits/50"},
		1000:  {"digits/thousand"},
		1099:  {"digits/thousand", "digits/9", "digits/nl-en", "digits/90"},
		1234:  {"digits/12", "digits/hundred", "digits/4", "digits/nl-en", "digits/30"},
		25000: {"digits/5", "digits/nl-en", "digits/20", "digits/thousand"},
		-3:    {"digits/minus", "digits/3"},
	} {
		if got := NumberFiles(n); !slices.Equal(got, want) {
			t.Errorf("%d: %v, want %v", n, got, want)
		}
	}
}

// Every number a waiting caller or a callback time can be told has its files in the set.
func TestTheSetCoversEveryNumber(t *testing.T) {
	have := map[string]bool{}
	for _, p := range All() {
		if have[p.Name] {
			t.Errorf("%s listed twice", p.Name)
		}
		have[p.Name] = true
		if !p.Tone && (p.NL == "" || p.EN == "") || p.Use == "" {
			t.Errorf("%s: text or use missing: %+v", p.Name, p)
		}
	}
	for n := range 100000 {
		for _, f := range NumberFiles(n) {
			if !have[f] {
				t.Fatalf("number %d needs %s, which is not in the set", n, f)
			}
		}
	}
}

// wav reads a PCM WAV file's format and samples.
func wav(t *testing.T, path string) (rate, channels, bits int, samples []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(off+8+size, len(b))]
		switch id {
		case "fmt ":
			if binary.LittleEndian.Uint16(body) != 1 {
				t.Fatalf("%s: not PCM", path)
			}
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			for i := 0; i+1 < len(body); i += 2 {
				samples = append(samples, int16(binary.LittleEndian.Uint16(body[i:])))
			}
		}
		off += 8 + size + size%2
	}
	return rate, channels, bits, samples
}

// The generated Dutch set: every prompt, in the format Asterisk plays as "wav", with speech
// in it (a spoken prompt is longer than a word's beginning and louder than silence), and
// Missing finds a file taken away.
func TestGenerateTheDutchSet(t *testing.T) {
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's espeak-ng and sox (apt-get install espeak-ng sox)", tool)
		}
	}
	dir := t.TempDir()
	if got := Missing(dir, "nl"); len(got) != len(All()) {
		t.Fatalf("an empty directory misses %d of %d", len(got), len(All()))
	}
	n, err := Generate(context.Background(), dir, "nl", Exec)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(All()) {
		t.Fatalf("generated %d of %d", n, len(All()))
	}
	for _, p := range All() {
		rate, ch, bits, s := wav(t, filepath.Join(dir, "nl", p.Name+".wav"))
		secs := float64(len(s)) / float64(max(rate, 1))
		var sum float64
		for _, v := range s {
			sum += float64(v) * float64(v)
		}
		rms := math.Sqrt(sum / float64(max(len(s), 1)))
		if rate != 8000 || ch != 1 || bits != 16 || secs < 0.2 || secs > 10 || rms < 300 {
			t.Errorf("%s: %d Hz, %d channel(s), %d bit, %.2f s, RMS %.0f: want 8 kHz mono 16-bit speech", p.Name, rate, ch, bits, secs, rms)
		}
	}
	if got := Missing(dir, "nl"); len(got) != 0 {
		t.Errorf("missing after generating: %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "nl", "callmon", "expected-wait.wav")); err != nil {
		t.Fatal(err)
	}
	if got := Missing(dir, "nl"); !slices.Equal(got, []string{ExpectedWait}) {
		t.Errorf("missing %v, want only %s", got, ExpectedWait)
	}
	if _, err := Generate(context.Background(), dir, "fr", Exec); err == nil {
		t.Error("a language without a voice accepted")
	}
	fail := func(context.Context, string, ...string) error { return errors.New("espeak-ng: broken") }
	if _, err := Generate(context.Background(), dir, "nl", fail); err == nil || !strings.Contains(err.Error(), "callmon/callback-offer") {
		t.Errorf("a failing tool: %v, want an error naming the first prompt", err)
	}
}
