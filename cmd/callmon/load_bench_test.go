package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// BenchmarkEndToEndProcesses is BenchmarkEndToEnd (ari/bench_test.go) with callmon and the
// simulated Asterisk in separate processes, so that each one's CPU can be told apart: `callmon
// simulate --rate 0` places the calls when its control endpoint says so (POST /-/control/load)
// and `callmon run` serves them, writing its call records to a fresh PostgreSQL database. The
// shape is queue-answered: 100 agents whose phones answer at once, callers that hang up as soon
// as callmon has bridged them with one, CALLMON_LOAD_CONCURRENCY callers at a time (default
// 100), the next placed as one ends. One op is one call; the clock stops when the last call
// record is in PostgreSQL. Each b.N starts its own processes and database; run it with
// -benchtime Nx.
//
// Reported beside calls/s: events/s, dropped-events (callmon_ari_events_dropped_total, must be
// 0), and the user+system CPU per call of each process from /proc/<pid>/stat
// (cpu-ms/call-callmon, cpu-ms/call-simulator); PostgreSQL's own CPU is in neither.
// CALLMON_LOAD_PROFILES=dir writes each process's CPU profile there (run.prof, simulate.prof,
// for `go tool pprof`), set-up and shut-down included. The simulator runs with GOGC=400
// (CALLMON_LOAD_SIM_GOGC overrides), callmon with Go's default.
func BenchmarkEndToEndProcesses(b *testing.B) {
	concurrency := 100
	if v := os.Getenv("CALLMON_LOAD_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CALLMON_LOAD_CONCURRENCY=%q: want a number >= 1", v)
		}
		concurrency = n
	}
	r := startLoadRig(b, 100)
	b.ResetTimer()
	st := r.run(b.N, concurrency)
	b.StopTimer()
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/elapsed, "calls/s")
	b.ReportMetric(float64(b.N)/st.res.Seconds, "calls/s-simulator")
	b.ReportMetric(float64(st.res.Events)/elapsed, "events/s")
	b.ReportMetric(st.received/float64(b.N), "events/call")
	b.ReportMetric(st.dropped, "dropped-events")
	b.ReportMetric(1000*st.cpuRun.Seconds()/float64(b.N), "cpu-ms/call-callmon")
	b.ReportMetric(1000*st.cpuSim.Seconds()/float64(b.N), "cpu-ms/call-simulator")
	b.ReportMetric(1000*st.cpuPG.Seconds()/float64(b.N), "cpu-ms/call-postgres")
	r.stop()
}

// TestLoadRunProcesses runs the benchmark's rig for a few hundred calls: the load mode of
// callmon simulate works, loses nothing and answers every call.
func TestLoadRunProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds callmon and starts two processes")
	}
	t.Parallel()
	r := startLoadRig(t, 20)
	st := r.run(300, 20)
	t.Logf("300 calls in %.2f s, %.0f events each; CPU callmon %v, simulator %v", st.res.Seconds, st.received/300, st.cpuRun, st.cpuSim)
	// A bad request is refused, and so is a second run while one is in progress.
	for _, body := range []string{`{"calls":0,"concurrency":1}`, `{"calls":1}`, `{"calls":"x"}`, `{"rate":1}`} {
		resp, err := http.Post(r.ctl+"/load", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /load %s: %s, want 400", body, resp.Status)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "POST", r.ctl+"/load", strings.NewReader(`{"calls":1000000,"concurrency":1}`))
		if err == nil {
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		first <- err
	}()
	ctl := simCtl{t: t, url: r.ctl}
	if !poll(10*time.Second, func() bool { st, err := ctl.stats(); return err == nil && st.Calls > 300 }) {
		t.Fatal("the long run placed no call")
	}
	resp, err := http.Post(r.ctl+"/load", "application/json", strings.NewReader(`{"calls":1,"concurrency":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("POST /load during a run: %s, want 409", resp.Status)
	}
	cancel() // the client going away ends the run
	if err := <-first; err == nil {
		t.Error("the cancelled run answered")
	}
	r.stop()
}

// loadRig is callmon simulate (--rate 0, control endpoint) and callmon run with a fresh
// PostgreSQL database and its agents logged in.
type loadRig struct {
	tb       testing.TB
	sim, cm  *process
	ctl, web string
	dbURL    string
	agents   int
}

// loadStats is what one load run measured.
type loadStats struct {
	res            loadResult
	received       float64       // events callmon counted (callmon_ari_events_total)
	dropped        float64       // callmon_ari_events_dropped_total
	cpuRun, cpuSim time.Duration // user+system CPU of callmon and of the simulator during the run
	cpuPG          time.Duration // of every PostgreSQL process on the machine (other tests' too)
}

func startLoadRig(tb testing.TB, agents int) *loadRig {
	tb.Helper()
	bin := buildCallmon(tb)
	r := &loadRig{tb: tb, dbURL: pgtest.URL(tb, "loadbench"), agents: agents}
	dir := tb.TempDir()
	const password = "load-secret"

	simCfg := filepath.Join(dir, "simulate.yml")
	if err := os.WriteFile(simCfg, []byte(chaosConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "unused.jsonl"), agents)), 0o600); err != nil {
		tb.Fatal(err)
	}
	env := []string{config.PasswordEnv + "=" + password}
	profile := func(name string) []string {
		if d := os.Getenv("CALLMON_LOAD_PROFILES"); d != "" {
			return []string{profileEnv + "=" + filepath.Join(d, name+".prof")}
		}
		return nil
	}
	// The load generator trades memory for less GC (10–25 % of its CPU per call here);
	// CALLMON_LOAD_SIM_GOGC overrides. callmon runs as deployed.
	gogc := "400"
	if g := os.Getenv("CALLMON_LOAD_SIM_GOGC"); g != "" {
		gogc = g
	}
	simEnv := append(append([]string{"GOGC=" + gogc}, env...), profile("simulate")...)
	r.sim = startProcess(tb, "simulate", bin, simEnv, "simulate", "--config.file", simCfg, "--listen", "127.0.0.1:0",
		"--control", "127.0.0.1:0", "--rate", "0", "--summary-interval", "0", "--drain", "0s")
	ariURL := r.sim.await(r.sim.stdout, simAddrRE, 20*time.Second)[1]
	r.ctl = r.sim.await(r.sim.stdout, simControlRE, 10*time.Second)[1]

	runCfg := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(runCfg, []byte(chaosConfig(ariURL, filepath.Join(dir, "spool.jsonl"), agents)), 0o600); err != nil {
		tb.Fatal(err)
	}
	r.cm = startProcess(tb, "run", bin, append(append(env, "DATABASE_URL="+r.dbURL), profile("run")...), "run", "--config.file", runCfg,
		"--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	api := "http://" + r.cm.await(r.cm.stderr, runAPIRE, 20*time.Second)[1]
	r.web = "http://" + r.cm.await(r.cm.stderr, runListenRE, time.Second)[1]
	for i := 1; i <= agents; i++ {
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/agents/a%d/login", api, i), nil)
		if err != nil {
			tb.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("login a%d: %s", i, resp.Status)
		}
	}
	available := func() float64 { return scrapeValue(tb, r.web, "callmon_agents", `state="available"`) }
	if !poll(10*time.Second, func() bool { return available() == float64(agents) }) {
		tb.Fatalf("%v agents available, want %d", available(), agents)
	}
	return r
}

// run places calls, concurrency at a time, and returns once every call record is in
// PostgreSQL; it fails unless every call was answered and recorded with no event lost or
// dropped and no reconnect.
func (r *loadRig) run(calls, concurrency int) loadStats {
	tb := r.tb
	tb.Helper()
	events := scrapeValue(tb, r.web, "callmon_ari_events_total", "")
	answered := scrapeValue(tb, r.web, "callmon_calls_answered_total", "")
	records := countRecords(tb, r.dbURL)
	cpuRun, cpuSim, cpuPG := procCPU(tb, r.cm.cmd.Process.Pid), procCPU(tb, r.sim.cmd.Process.Pid), postgresCPU()

	var st loadStats
	st.res = postLoad(tb, r.ctl, loadRequest{Calls: calls, Concurrency: concurrency})
	recorded := poll(time.Minute, func() bool { return countRecords(tb, r.dbURL) >= records+calls })
	st.cpuRun, st.cpuSim = procCPU(tb, r.cm.cmd.Process.Pid)-cpuRun, procCPU(tb, r.sim.cmd.Process.Pid)-cpuSim
	st.cpuPG = postgresCPU() - cpuPG

	if !recorded {
		tb.Fatalf("%d call records in PostgreSQL a minute after the run, want %d", countRecords(tb, r.dbURL)-records, calls)
	}
	if st.res.Calls != calls || st.res.Refused != 0 || st.res.EventsLost != 0 {
		tb.Fatalf("load run: %+v, want %d calls, none refused, no event lost", st.res, calls)
	}
	if st.dropped = scrapeValue(tb, r.web, "callmon_ari_events_dropped_total", ""); st.dropped != 0 {
		tb.Fatalf("callmon dropped %v events", st.dropped)
	}
	if got := scrapeValue(tb, r.web, "callmon_ari_reconnects_total", ""); got != 0 {
		tb.Fatalf("callmon reconnected %v times during the run", got)
	}
	if got := scrapeValue(tb, r.web, "callmon_calls_answered_total", "") - answered; got != float64(calls) {
		tb.Fatalf("callmon counted %v calls answered, want %d", got, calls)
	}
	st.received = scrapeValue(tb, r.web, "callmon_ari_events_total", "") - events
	return st
}

// stop ends both processes and checks that they exit cleanly.
func (r *loadRig) stop() {
	r.tb.Helper()
	r.sim.stop(30 * time.Second)
	r.cm.stop(30 * time.Second)
}

// postLoad runs a load through the simulator's control endpoint and returns its result.
func postLoad(tb testing.TB, ctl string, req loadRequest) loadResult {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(ctl+"/load", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("POST /load: %s %s", resp.Status, data)
	}
	var res loadResult
	if err := json.Unmarshal(data, &res); err != nil {
		tb.Fatalf("POST /load: %v: %s", err, data)
	}
	return res
}

// countRecords is the number of call records in the database.
func countRecords(tb testing.TB, dbURL string) int {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM call_records").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// scrapeValue sums the samples of family name on base's /metrics whose label text contains
// labels ("" for every sample); it reads the text format line by line.
func scrapeValue(tb testing.TB, base, name, labels string) float64 {
	tb.Helper()
	resp, err := metricsClient.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for line := range strings.Lines(string(data)) {
		series, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) || !strings.Contains(series, labels) {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			tb.Fatalf("%s: %v", line, err)
		}
		sum += v
	}
	return sum
}

// postgresCPU is the user+system CPU of every process named postgres now running (the
// server's backends and its background writers; one that exited meanwhile is missed).
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var sum int64
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(data, []byte("(postgres)")) {
			continue
		}
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		sum += utime + stime
	}
	return time.Duration(sum) * 10 * time.Millisecond
}

// procCPU is the user+system CPU a process has used, from /proc/<pid>/stat (in clock ticks of
// 10 ms: USER_HZ is 100 on Linux).
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name (field 2) may hold spaces; the fields after its ')' start at field 3.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
