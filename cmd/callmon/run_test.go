package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

const exampleConfig = "../../callmon.example.yml"

func TestCheckConfigExample(t *testing.T) {
	const secret = "pa55-w0rd-never-shown"
	t.Setenv("CALLMON_ARI_PASSWORD", secret)
	code, stdout, stderr := runMain(t, "check-config", "--config.file", exampleConfig)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0\nstderr:\n%s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr should be empty, got:\n%s", stderr)
	}
	for _, want := range []string{
		"Configuration " + exampleConfig,
		"http://127.0.0.1:8088/ari",
		"Queues (2;",
		"  general\n",
		"  permits\n",
		"90 % answered within 30s",
		"80 % answered within 1m",
		"ring-all",
		"Agents (3)",
		"Anna de Vries",
		"PJSIP/1003",
		"0503164911", // "050-316 49 11" normalised
		"0503164922", // "+31 50 316 49 22" normalised
		"set, ",      // the password is set (from the environment) ...
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary does not contain %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, secret) {
		t.Errorf("summary shows the ARI password:\n%s", stdout)
	}
}

// brokenConfig has an unknown (misspelt) key on line 6 and a bad duration
// on line 7.
const brokenConfig = `ari:
  url: http://127.0.0.1:8088/ari
  user: callmon
queues:
  - name: general
    treshold: 30s
    ring_timeout: 20 seconds
    agents: [anna]
agents:
  - id: anna
    endpoint: PJSIP/1001
`

func TestCheckConfigBroken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "callmon.yml")
	if err := os.WriteFile(file, []byte(brokenConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runMain(t, "check-config", "--config.file", file)
	if code != 1 {
		t.Errorf("exit code = %d, want 1\nstderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("a broken configuration printed a summary:\n%s", stdout)
	}
	for _, want := range []string{
		"callmon check-config: ",
		file + `:6: unknown key "treshold" in queue (hint: did you mean "threshold"?)`,
		file + `:7: ring_timeout: "20 seconds" is not a duration (hint: write 20s)`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	// Every problem names the file and line, and carries a hint.
	re := regexp.MustCompile(regexp.QuoteMeta(file) + `:\d+: .+ \(hint: .+\)$`)
	for _, line := range strings.Split(strings.TrimSpace(strings.TrimPrefix(stderr, "callmon check-config: ")), "\n") {
		if !re.MatchString(line) {
			t.Errorf("error line %q lacks file:line or hint", line)
		}
	}

	// run refuses the same file, with the same diagnosis, before listening.
	code, _, stderr = runMain(t, "run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	if code != 1 {
		t.Errorf("run: exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr, file+":7:") || !strings.Contains(stderr, "hint: write 20s") {
		t.Errorf("run: stderr lacks the diagnosis:\n%s", stderr)
	}
}

func TestCheckConfigSyntaxError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "callmon.yml")
	if err := os.WriteFile(file, []byte("ari:\n\turl: http://127.0.0.1:8088/ari\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "check-config", "--config.file", file)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if want := file + ":2: invalid YAML"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "hint: indent with spaces, not tabs") {
		t.Errorf("stderr does not contain %q and the tab hint:\n%s", want, stderr)
	}
}

// TestRun runs `callmon run` against the fake Asterisk (wall clock): it reads
// the password from a password_file relative to the configuration, connects,
// serves /metrics on the address it logs, and stops cleanly on Ctrl-C.
func TestRun(t *testing.T) {
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{})

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ari-password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "callmon.yml")
	cfg := "ari:\n  url: " + fake.URL() + "\n  user: callmon\n  password_file: ari-password\n" + `queues:
  - name: general
    agents: [anna]
agents:
  - id: anna
    endpoint: PJSIP/1001
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CALLMON_ARI_PASSWORD", "") // empty counts as unset: the file is used

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0", "--log.format", "json"}, &stdout, &stderr)
	}()
	awaitCtx, awaitCancel := context.WithTimeout(context.Background(), waitFor)
	defer awaitCancel()
	if err := fake.Await(awaitCtx, fake.Connected); err != nil {
		t.Fatalf("callmon run did not connect: %v\nstderr:\n%s", err, stderr.String())
	}
	listenRE := regexp.MustCompile(`"msg":"callmon running".*"listen":"(127\.0\.0\.1:\d+)","api":"(127\.0\.0\.1:\d+)"`)
	var addr, api string
	eventually(t, "the running line", func() bool {
		m := listenRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr, api = m[1], m[2]
		}
		return m != nil
	})
	// Health on the API listener: no credentials, no data.
	for _, path := range []string{"/-/healthy", "/-/ready"} {
		resp, err := (&http.Client{Timeout: waitFor}).Get("http://" + api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "OK\n" {
			t.Errorf("GET %s: %s %q, want 200 OK", path, resp.Status, body)
		}
	}
	resp, err := (&http.Client{Timeout: waitFor}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "callmon_ari_connected 1") {
		t.Errorf("GET /metrics: %s, want callmon_ari_connected 1", resp.Status)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code = %d, want 0\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(waitFor):
		t.Fatal("callmon run did not stop on Ctrl-C")
	}
	if !strings.Contains(stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown message:\n%s", stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("run wrote to stdout:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String(), "s3cret") {
		t.Errorf("the password appears in the log:\n%s", stderr.String())
	}
}

// TestRunWithoutPassword: run refuses to start without an ARI password and
// says how to give one; check-config shows the same gap in its summary.
func TestRunWithoutPassword(t *testing.T) {
	t.Setenv("CALLMON_ARI_PASSWORD", "")
	file := filepath.Join(t.TempDir(), "callmon.yml")
	cfg := "ari: {url: http://127.0.0.1:8088/ari, user: callmon}\n" + `queues:
  - name: general
    agents: [anna]
agents:
  - id: anna
    endpoint: PJSIP/1001
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "no ARI password: set the environment variable CALLMON_ARI_PASSWORD or ari.password_file in "+file) {
		t.Errorf("run: exit code %d, stderr:\n%s", code, stderr)
	}
	_, stdout, _ := runMain(t, "check-config", "--config.file", file)
	if !regexp.MustCompile(`password\s+NOT SET: no ARI password`).MatchString(stdout) {
		t.Errorf("check-config does not flag the missing password:\n%s", stdout)
	}
}

// failingWriter is a stdout that cannot be written, like a closed pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestCheckConfigUnwritableOutput: a summary that could not be written is a
// failure, not a silent success.
func TestCheckConfigUnwritableOutput(t *testing.T) {
	var stderr syncBuffer
	code := Main(context.Background(), []string{"check-config", "--config.file", exampleConfig}, failingWriter{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("exit code = %d, want 1 with the write error; stderr:\n%s", code, stderr.String())
	}
}
