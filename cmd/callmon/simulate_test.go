package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// buildCallmon builds this command into a temporary directory: the binary the process tests
// run. Under -race the binary is built with the race detector too.
func buildCallmon(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "callmon")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// watchedBuffer is an output that can be waited on: every write wakes the waiters.
type watchedBuffer struct {
	syncBuffer
	mu      sync.Mutex
	changed chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	return n, err
}

func (w *watchedBuffer) changes() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// process is a callmon process the test started.
type process struct {
	t              testing.TB
	name           string
	cmd            *exec.Cmd
	stdout, stderr *watchedBuffer
	done           chan struct{} // closed when it has exited
	err            error         // its exit, once done
}

func startProcess(t testing.TB, name, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, stdout: newWatchedBuffer(), stderr: newWatchedBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill() // the test failed before stopping it
			<-p.done
		}
		if t.Failed() || os.Getenv("CALLMON_TEST_LOG") != "" {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p
}

// await waits until the process wrote a match of re on out, and returns the match.
func (p *process) await(out *watchedBuffer, re *regexp.Regexp, within time.Duration) []string {
	p.t.Helper()
	deadline := time.After(within)
	for {
		changed := out.changes()
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case <-changed:
		case <-p.done:
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before writing %q", p.name, p.err, re)
		case <-deadline:
			p.t.Fatalf("%s did not write %q within %v", p.name, re, within)
		}
	}
}

// wait waits for the process to exit by itself and checks that it succeeded.
func (p *process) wait(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("%s still running after %v", p.name, within)
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(within time.Duration) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.wait(within)
}

// simConfig is the configuration both processes read: open around the clock, so the test
// does not depend on the hour it runs at, with waits short enough for seconds of traffic.
func simConfig(ariURL, spool string) string {
	return `ari:
  url: ` + ariURL + `
  user: callmon
  application: callmon
database:
  spool_file: ` + spool + `
  migrate_on_start: true
opening_hours:
  timezone: Europe/Amsterdam
  days: [mon, tue, wed, thu, fri, sat, sun]
  open: "00:00"
  close: "24:00"
queues:
  - name: general
    numbers: ["0503164911"]
    threshold: 2s
    short_abandon: 1s
    ring_timeout: 3s
    callback_offer_after: 0s
    agents: [a1, a2, a3, a4, a5]
agents:
  - {id: a1, name: Agent 1, endpoint: PJSIP/1001}
  - {id: a2, name: Agent 2, endpoint: PJSIP/1002}
  - {id: a3, name: Agent 3, endpoint: PJSIP/1003}
  - {id: a4, name: Agent 4, endpoint: PJSIP/1004}
  - {id: a5, name: Agent 5, endpoint: PJSIP/1005}
employees:
  - {id: erik, name: Erik Mulder, numbers: ["0503161234"], endpoint: PJSIP/2001, direct_ring_timeout: 2s}
` + testConfigSupervisor()
}

var (
	simAddrRE    = regexp.MustCompile(`Asterisk ARI on (http://\S+/ari) `)
	simRefusedRE = regexp.MustCompile(`placed=\d+ refused=[1-9]`)
	simFinalRE   = regexp.MustCompile(`final callers=(\d+) refused=(\d+) answered=(\d+) unanswered=\d+ continued=\d+ still_up=(\d+)`)
	runListenRE  = regexp.MustCompile(`msg="callmon running".* listen=(\S+)`)
	runAPIRE     = regexp.MustCompile(`msg="callmon running".* api=(\S+)`)
)

// TestSimulateAgainstRunProcesses runs `callmon simulate` and `callmon run` as real processes,
// one the other's Asterisk, with PostgreSQL, and checks every call record against the
// simulator's truth.
func TestSimulateAgainstRunProcesses(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	bin := buildCallmon(t)
	t.Logf("go build: %v", time.Since(begin).Round(time.Millisecond))
	dir := t.TempDir()
	dbURL := pgtest.URL(t, "simulate")
	const password = "sim-secret"
	env := []string{config.PasswordEnv + "=" + password, "DATABASE_URL=" + dbURL}

	simCfg := filepath.Join(dir, "simulate.yml")
	if err := os.WriteFile(simCfg, []byte(simConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "unused.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	truthFile := filepath.Join(dir, "truth.jsonl")
	const calls = 80
	// Five agents answering in 0.1-1 s and talking about 0.8 s, against 5 calls a second with
	// a patience of 1.5 s: most calls are answered, some abandoned, some of them short.
	sim := startProcess(t, "simulate", bin, env, "simulate", "--config.file", simCfg, "--listen", "127.0.0.1:0",
		"--truth", truthFile, "--calls", strconv.Itoa(calls), "--rate", "300", "--seed", "7",
		"--answer-min", "100ms", "--answer-max", "1s", "--handle-time", "800ms", "--min-talk", "200ms",
		"--patience", "1500ms", "--direct", "0.1", "--summary-interval", "50ms", "--drain", "20s")
	ariURL := sim.await(sim.stdout, simAddrRE, 10*time.Second)[1]
	// Before callmon runs, calls are refused, as Stasis() refuses them for an absent app.
	sim.await(sim.stdout, simRefusedRE, 10*time.Second)

	runCfg := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(runCfg, []byte(simConfig(ariURL, filepath.Join(dir, "spool.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	run := startProcess(t, "run", bin, env, "run", "--config.file", runCfg, "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	base := "http://" + run.await(run.stderr, runAPIRE, 20*time.Second)[1]
	cfg, err := config.Load(runCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Agents {
		req, err := http.NewRequest("POST", base+"/api/agents/"+a.ID+"/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login %s: %s", a.ID, resp.Status)
		}
	}

	// simulate stops by itself after its calls and their drain.
	final := sim.await(sim.stdout, simFinalRE, 45*time.Second)
	sim.wait(5 * time.Second)
	callers, _ := strconv.Atoi(final[1])
	refused, _ := strconv.Atoi(final[2])
	if callers+refused != calls || final[4] != "0" {
		t.Fatalf("simulate placed %d and refused %d of %d calls, %s still up:\n%s", callers, refused, calls, final[4], sim.stdout)
	}
	// Every caller has ended; the last records may still be on their way to PostgreSQL.
	want := 0
	for _, tr := range readTruthFile(t, truthFile) {
		if tr.Kind == "caller" && tr.Args[0] == "queue" {
			want++
		}
	}
	awaitRecords(t, dbURL, want, 10*time.Second)
	run.stop(10 * time.Second)

	rep := compareWithTruth(t, truthFile, dbURL, cfg)
	t.Logf("truth vs call records: %s", rep)
	if len(rep.Problems) > 0 {
		t.Errorf("call records disagree with the truth:\n%s", rep)
	}
	if rep.Queue != want || rep.Records != want || len(rep.Refused) != refused {
		t.Errorf("report counts %d queue callers, %d records, %d refused; truth has %d queue callers, simulate refused %d",
			rep.Queue, rep.Records, len(rep.Refused), want, refused)
	}
	if len(rep.Refused) == 0 || rep.Outcomes["answered"] == 0 || rep.Outcomes["abandoned"]+rep.Outcomes["short_abandoned"] == 0 {
		t.Errorf("the traffic should have refused, answered and abandoned calls: %s", rep)
	}
	if rep.Direct == 0 {
		t.Errorf("no direct-dial caller in the truth: %s", rep)
	}
	if len(rep.Stranded) > 0 || len(rep.Open) > 0 {
		t.Errorf("stranded %v, still up %v", rep.Stranded, rep.Open)
	}
	if d := time.Since(begin); d > 60*time.Second {
		t.Errorf("took %v; keep it under a minute", d.Round(time.Second))
	}
}

// awaitRecords waits until the database holds n queue call records.
func awaitRecords(t *testing.T, dbURL string, n int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got int
	for {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM call_records WHERE kind = 'queue'`).Scan(&got); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d queue call records after %v, want %d", got, within, n)
		case <-tick.C:
		}
	}
}

// The README's configuration for trying simulate on one machine stays valid.
func TestSimulateDocConfig(t *testing.T) {
	cfg, err := config.Load("../../docs/simulate.yml")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	// Open around the clock on a working day, so calls are offered whenever one tries it.
	for _, h := range []int{0, 3, 12, 23} {
		if at := time.Date(2026, 12, 3, h, 30, 0, 0, cal.Location()); !cal.IsOpen(at) {
			t.Errorf("closed at %s", at)
		}
	}
	if len(cfg.Agents) != 4 || len(cfg.Employees) != 1 {
		t.Errorf("%d agents, %d employees; the README logs in anna, bram, chris and dirk", len(cfg.Agents), len(cfg.Employees))
	}
}

// Without any callmon, every call is refused and the truth says so; the run ends by itself
// after --calls.
func TestSimulateWithoutCallmon(t *testing.T) {
	t.Setenv(config.PasswordEnv, "sim-secret")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(cfgFile, []byte(simConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "spool.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	truthFile := filepath.Join(dir, "truth.jsonl")
	code, stdout, stderr := runMain(t, "simulate", "--config.file", cfgFile, "--listen", "127.0.0.1:0", "--truth", truthFile,
		"--calls", "6", "--rate", "6000", "--direct", "0.5", "--seed", "1", "--summary-interval", "0")
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !simAddrRE.MatchString(stdout) || !strings.Contains(stdout, "final callers=0 refused=6 ") {
		t.Errorf("stdout lacks the address or the summary of 6 refused calls:\n%s", stdout)
	}
	truth := readTruthFile(t, truthFile)
	numbers := map[string]bool{}
	for _, tr := range truth {
		if tr.Kind != "refused" || tr.Stasis || tr.StasisStatus != "FAILED" || tr.CallerNumber == "" || tr.At == "" {
			t.Errorf("truth line %+v, want a refused call", tr)
		}
		numbers[tr.Args[0]+" "+tr.Exten] = true
	}
	if len(truth) != 6 || !numbers["queue 0503164911"] || !numbers["direct 0503161234"] {
		t.Errorf("truth has %d lines to %v, want 6 to the queue and the employee", len(truth), numbers)
	}
	if strings.Contains(stderr, "sim-secret") || strings.Contains(stdout, "sim-secret") {
		t.Error("the ARI password shows in the output")
	}
}

func TestSimulateFlags(t *testing.T) {
	t.Setenv(config.PasswordEnv, "")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(cfgFile, []byte(simConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "spool.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-h"}, 0, "--truth"},
		{[]string{"--rate", "-1"}, 2, "--rate must not be negative"},
		{[]string{"--rate", "0"}, 2, "--rate 0 places no calls: it needs --control"},
		{[]string{"--answer-min", "3s", "--answer-max", "1s"}, 2, "--answer-min <= --answer-max"},
		{[]string{"--direct", "1.5"}, 2, "--direct is a share"},
		{[]string{"--arrivals", "evening"}, 2, `--arrivals "evening": give flat or morning-peak`},
		{[]string{"--patience-dist", "weibull"}, 2, `--patience-dist "weibull": give exponential or lognormal`},
		{[]string{"--talk-cv", "-1"}, 2, "--talk-cv -1: give 0 (exponential)"},
		{[]string{"--config.file", cfgFile, "--listen", "127.0.0.1:0"}, 1, "no ARI password: set the environment variable " + config.PasswordEnv},
	} {
		code, _, stderr := runMain(t, append([]string{"simulate"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("simulate %v: exit %d, want %d; stderr lacks %q:\n%s", tc.args, code, tc.code, tc.stderr, stderr)
		}
	}
}

// An interrupt (main cancels the context on SIGINT and SIGTERM) stops the calls, flushes the
// truth and prints the summary.
func TestSimulateStopsOnInterrupt(t *testing.T) {
	t.Setenv(config.PasswordEnv, "sim-secret")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(cfgFile, []byte(simConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "spool.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	truthFile := filepath.Join(dir, "truth.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newWatchedBuffer(), newWatchedBuffer()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"simulate", "--config.file", cfgFile, "--listen", "127.0.0.1:0", "--truth", truthFile,
			"--rate", "600", "--summary-interval", "10ms"}, stdout, stderr)
	}()
	deadline := time.After(waitFor)
	for {
		changed := stdout.changes()
		if simRefusedRE.MatchString(stdout.String()) {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no refused call reported:\n%s\n%s", stdout, stderr)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, stderr)
		}
	case <-time.After(waitFor):
		t.Fatal("simulate did not stop after the interrupt")
	}
	m := simFinalRE.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no summary:\n%s", stdout)
	}
	if n := len(readTruthFile(t, truthFile)); strconv.Itoa(n) != m[2] || n == 0 {
		t.Errorf("truth has %d lines, the summary says %s refused", n, m[2])
	}
}
