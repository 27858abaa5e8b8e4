package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"callmon/cmd/callmon/config"
	"callmon/prompts"
)

// At start callmon names the prompts missing in the callers' language, and says so when it
// cannot look.
func TestStartupNamesMissingPrompts(t *testing.T) {
	dir := t.TempDir()
	for _, p := range prompts.All() {
		f := filepath.Join(dir, "nl", p.Name+".gsm") // any format Asterisk plays
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if p.Name != prompts.ExpectedWait && p.Name != "digits/nl-en" {
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(s config.Sounds) string {
		var buf bytes.Buffer
		checkSounds(s, slog.New(slog.NewTextHandler(&buf, nil)))
		return buf.String()
	}
	out := check(config.Sounds{Language: "nl", Dir: dir})
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `missing="callmon/expected-wait digits/nl-en"`) || !strings.Contains(out, "count=2") {
		t.Errorf("log: %s", out)
	}
	if out := check(config.Sounds{Language: "en", Dir: dir}); !strings.Contains(out, "count="+strconv.Itoa(len(prompts.All()))) {
		t.Errorf("English set absent: %s", out)
	}
	if out := check(config.Sounds{Language: "nl", Dir: filepath.Join(dir, "nowhere")}); !strings.Contains(out, "prompts not checked") {
		t.Errorf("unreadable directory: %s", out)
	}
	if out := check(config.Sounds{Language: "nl"}); out != "" {
		t.Errorf("no directory configured: %s", out)
	}
}
