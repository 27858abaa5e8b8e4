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
func BenchmarkEndToEndProcesses(b *testing.B) {
	const agents = 100
	concurrency := 100
	if v := os.Getenv("CALLMON_LOAD_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CALLMON_LOAD_CONCURRENCY=%q: want a number >= 1", v)
		}
		concurrency = n
	}
	bin := buildCallmon(b)
	dbURL := pgtest.URL(b, "loadbench")
	dir := b.TempDir()
	const password = "load-secret"

	simCfg := filepath.Join(dir, "simulate.yml")
	if err := os.WriteFile(simCfg, []byte(chaosConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "unused.jsonl"), agents)), 0o600); err != nil {
		b.Fatal(err)
	}
	env := []string{config.PasswordEnv + "=" + password}
	sim := startProcess(b, "simulate", bin, env, "simulate", "--config.file", simCfg, "--listen", "127.0.0.1:0",
		"--control", "127.0.0.1:0", "--rate", "0", "--summary-interval", "0", "--drain", "0s")
	ariURL := sim.await(sim.stdout, simAddrRE, 20*time.Second)[1]
	ctl := sim.await(sim.stdout, simControlRE, 10*time.Second)[1]

	runCfg := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(runCfg, []byte(chaosConfig(ariURL, filepath.Join(dir, "spool.jsonl"), agents)), 0o600); err != nil {
		b.Fatal(err)
	}
	run := startProcess(b, "run", bin, append(env, "DATABASE_URL="+dbURL), "run", "--config.file", runCfg,
		"--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	api := "http://" + run.await(run.stderr, runAPIRE, 20*time.Second)[1]
	web := "http://" + run.await(run.stderr, runListenRE, time.Second)[1]
	for i := 1; i <= agents; i++ {
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/agents/a%d/login", api, i), nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("login a%d: %s", i, resp.Status)
		}
	}
	if !poll(10*time.Second, func() bool { return scrapeValue(b, web, "callmon_agents", `state="available"`) == agents }) {
		b.Fatalf("%d agents available, want %d", int(scrapeValue(b, web, "callmon_agents", `state="available"`)), agents)
	}
	events := scrapeValue(b, web, "callmon_ari_events_total", "")
	cpuRun, cpuSim := procCPU(b, run.cmd.Process.Pid), procCPU(b, sim.cmd.Process.Pid)

	b.ResetTimer()
	res := postLoad(b, ctl, loadRequest{Calls: b.N, Concurrency: concurrency})
	recorded := poll(time.Minute, func() bool { return countRecords(b, dbURL) >= b.N })
	b.StopTimer()
	elapsed := b.Elapsed().Seconds()
	cpuRun, cpuSim = procCPU(b, run.cmd.Process.Pid)-cpuRun, procCPU(b, sim.cmd.Process.Pid)-cpuSim

	if !recorded {
		b.Fatalf("%d call records in PostgreSQL a minute after the run, want %d", countRecords(b, dbURL), b.N)
	}
	if res.Calls != b.N || res.Refused != 0 || res.EventsLost != 0 {
		b.Fatalf("load run: %+v, want %d calls, none refused, no event lost", res, b.N)
	}
	dropped := scrapeValue(b, web, "callmon_ari_events_dropped_total", "")
	if dropped != 0 {
		b.Fatalf("callmon dropped %v events", dropped)
	}
	if got := scrapeValue(b, web, "callmon_ari_reconnects_total", ""); got != 0 {
		b.Fatalf("callmon reconnected %v times during the run", got)
	}
	if got := scrapeValue(b, web, "callmon_calls_answered_total", ""); got != float64(b.N) {
		b.Fatalf("callmon counted %v calls answered, want %d", got, b.N)
	}
	received := scrapeValue(b, web, "callmon_ari_events_total", "") - events
	b.ReportMetric(float64(b.N)/elapsed, "calls/s")
	b.ReportMetric(float64(b.N)/res.Seconds, "calls/s-simulator")
	b.ReportMetric(float64(res.Events)/elapsed, "events/s")
	b.ReportMetric(received/float64(b.N), "events/call")
	b.ReportMetric(dropped, "dropped-events")
	b.ReportMetric(1000*cpuRun.Seconds()/float64(b.N), "cpu-ms/call-callmon")
	b.ReportMetric(1000*cpuSim.Seconds()/float64(b.N), "cpu-ms/call-simulator")

	sim.stop(30 * time.Second)
	run.stop(30 * time.Second)
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
