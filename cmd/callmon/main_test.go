package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for the concurrent writers of a running
// daemon (slog handlers, the demo's traffic goroutines) and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor is how long a test waits for a condition before failing.
const waitFor = 10 * time.Second

// eventually polls cond until it holds, failing the test after waitFor. It is
// for conditions on callmon's side (metrics, API) that nothing signals.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		case <-tick.C:
		}
	}
}

// runMain runs Main with a deadline and returns its exit code and output.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var out, errOut syncBuffer
	code = Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMainUsageAndVersion(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring expected on stdout, if not ""
		stderr   string // substring expected on stderr, if not ""
		noStdout bool
		noStderr bool
	}{
		{name: "no arguments", args: nil, code: 2, stderr: "Usage:", noStdout: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, noStdout: true},
		{name: "unknown command lists the commands", args: []string{"serve"}, code: 2, stderr: "callmon check-config", noStdout: true},
		{name: "version", args: []string{"version"}, code: 0, stdout: "callmon " + version + "\n", noStderr: true},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: "callmon " + version, noStderr: true},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Usage:", noStderr: true},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "callmon demo", noStderr: true},
		{name: "run -h", args: []string{"run", "-h"}, code: 0, stderr: "-web.listen-address", noStdout: true},
		{name: "check-config -h", args: []string{"check-config", "-h"}, code: 0, stderr: "-config.file", noStdout: true},
		{name: "demo -h", args: []string{"demo", "-h"}, code: 0, stderr: "-summary-interval", noStdout: true},
		{name: "run: unknown flag", args: []string{"run", "--no-such-flag"}, code: 2, stderr: "no-such-flag", noStdout: true},
		{name: "run: stray argument", args: []string{"run", "extra"}, code: 2, stderr: "unexpected arguments: extra", noStdout: true},
		{name: "run: bad --log.format", args: []string{"run", "--log.format", "xml"}, code: 2, stderr: `callmon run: --log.format "xml": want logfmt or json`, noStdout: true},
		{name: "run: bad --log.level", args: []string{"run", "--log.level", "loud"}, code: 2, stderr: `--log.level "loud"`, noStdout: true},
		{name: "demo: bad --log.format", args: []string{"demo", "--log.format", "yaml", "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0"}, code: 2, stderr: `callmon demo: --log.format "yaml"`, noStdout: true},
		{name: "demo: bad --rate", args: []string{"demo", "--rate", "0"}, code: 2, stderr: "--rate and --speed must be > 0", noStdout: true},
		{name: "demo: bad --agents", args: []string{"demo", "--agents", "0"}, code: 2, stderr: "--agents >= 1", noStdout: true},
		{name: "check-config: unknown flag", args: []string{"check-config", "--log.format", "json"}, code: 2, stderr: "log.format", noStdout: true},
		{name: "check-config: missing file", args: []string{"check-config", "--config.file", "/nonexistent/callmon.yml"}, code: 1, stderr: "/nonexistent/callmon.yml", noStdout: true},
		{name: "run: missing file", args: []string{"run", "--config.file", "/nonexistent/callmon.yml", "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0"}, code: 1, stderr: "/nonexistent/callmon.yml", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if tt.stdout != "" && !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, stdout)
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderr, stderr)
			}
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", stdout)
			}
			if tt.noStderr && stderr != "" {
				t.Errorf("stderr should be empty, got:\n%s", stderr)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	for _, format := range []string{"logfmt", "LOGFMT", "", "json"} {
		var b syncBuffer
		log, err := newLogger(&b, "debug", format)
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		log.Debug("hello", "k", "v")
		out := b.String()
		want := "level=DEBUG msg=hello k=v"
		if format == "json" {
			want = `"msg":"hello","k":"v"`
		}
		if !strings.Contains(out, want) {
			t.Errorf("format %q: output %q does not contain %q", format, out, want)
		}
	}
	var b syncBuffer
	log, err := newLogger(&b, "warn", "logfmt")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("quiet")
	if b.String() != "" {
		t.Errorf("--log.level warn logged an info record: %q", b.String())
	}
	for _, bad := range [][2]string{{"loud", "logfmt"}, {"info", "xml"}} {
		_, err := newLogger(&b, bad[0], bad[1])
		if _, ok := err.(usageError); !ok {
			t.Errorf("newLogger(%q, %q) error = %v, want a usageError (exit code 2)", bad[0], bad[1], err)
		}
	}
}
