package ari_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/metrics"
)

// Memory per waiting caller is measured in callmon's process alone: the fake
// Asterisk runs in a child process (this test binary started again with
// fakeChildEnv set), so its channels and bridges are not counted.

const fakeChildEnv = "CALLMON_TEST_FAKE_CHILD"

// waitProfile names a file prefix: BenchmarkWaitingCallerMemory writes the
// heap (.heap) and goroutine (.goroutine) profiles while the callers wait.
// Use with -memprofilerate 1 for every allocation.
var waitProfile = flag.String("waitmem.profile", "", "write heap and goroutine profiles of the waiting callers to `prefix`.heap/.goroutine")

func TestMain(m *testing.M) {
	if os.Getenv(fakeChildEnv) != "" {
		os.Exit(serveFakeChild(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// serveFakeChild runs a fake Asterisk and obeys one command a line on in,
// answering one line each on out:
//
//	connected   → "ok" once an app's websocket is connected
//	call N      → "held T" once N more callers are in holding bridges with
//	              music on hold (T: all so far)
//
// It ends when in closes.
func serveFakeChild(in io.Reader, out io.Writer) int {
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "s3cret", Seed: 7, LogLimit: 100,
		KeepAlive: time.Hour, SessionLimit: 1000})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fake.Close()
	for i := 1; i <= 3; i++ {
		fake.AddEndpoint(fmt.Sprintf("PJSIP/%d", 1000+i), "online", aritest.Behaviour{})
	}
	fmt.Fprintln(out, "url", fake.URL())
	placed := 0
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "connected":
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := fake.Await(ctx, fake.Connected)
			cancel()
			if err != nil {
				fmt.Fprintln(out, "error", err)
				continue
			}
			fmt.Fprintln(out, "ok")
		case "call":
			n, err := strconv.Atoi(arg)
			if err == nil {
				err = placeHeld(fake, placed, n)
			}
			if err != nil {
				fmt.Fprintln(out, "error", err)
				continue
			}
			placed += n
			fmt.Fprintln(out, "held", placed)
		default:
			fmt.Fprintln(out, "error unknown command", cmd)
		}
	}
	return 0
}

// placeHeld places n callers in queue general, in batches, and returns once
// all from..from+n are on hold: a batch at a time keeps callmon's REST queue
// short enough for no request to time out on this 2-core machine.
func placeHeld(fake *aritest.Server, from, n int) error {
	const batch = 500
	for done := 0; done < n; {
		k := min(batch, n-done)
		for i := range k {
			_, err := fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"},
				CallerName: "Caller", CallerNumber: fmt.Sprintf("06%08d", from+done+i)})
			if err != nil {
				return err
			}
		}
		done += k
		if err := awaitHeld(fake, from+done); err != nil {
			return err
		}
	}
	return nil
}

// awaitHeld polls (the fake's Await would re-scan every bridge on each of
// thousands of changes) until want callers are alone in holding bridges with
// music on hold, or a minute has passed.
func awaitHeld(fake *aritest.Server, want int) error {
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		held := 0
		for _, b := range fake.Bridges() {
			if b.Type == "holding" && b.MOH != "" && len(b.Channels) == 1 {
				held++
			}
		}
		if held >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d callers on hold after a minute", held, want)
		}
		<-tick.C
	}
}

// fakeChild is the parent's handle on a fake Asterisk in a child process.
type fakeChild struct {
	t      testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr logBuffer // written by exec's copying goroutine
	url    string
}

func startFakeChild(t testing.TB) *fakeChild {
	t.Helper()
	f := &fakeChild{t: t}
	f.cmd = exec.Command(os.Args[0], "-test.run=^$")
	f.cmd.Env = append(os.Environ(), fakeChildEnv+"=1")
	f.cmd.Stderr = &f.stderr
	var err error
	if f.in, err = f.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.out = bufio.NewScanner(stdout)
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.in.Close() // the child ends when its stdin does, after its command
		exited := make(chan error, 1)
		go func() { exited <- f.cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("fake Asterisk child: %v\n%s", err, f.stderr.String())
			}
		case <-time.After(10 * time.Second):
			f.cmd.Process.Kill() //nolint:errcheck // it is being waited for
			<-exited
			t.Errorf("fake Asterisk child still running 10 s after its stdin closed; killed\n%s", f.stderr.String())
		}
	})
	f.url = strings.TrimPrefix(f.reply("url "), "url ")
	return f
}

// do sends one command and returns the child's answer, which must start with want.
func (f *fakeChild) do(cmd, want string) string {
	f.t.Helper()
	if _, err := fmt.Fprintln(f.in, cmd); err != nil {
		f.t.Fatalf("fake Asterisk child: %v\n%s", err, f.stderr.String())
	}
	return f.reply(want)
}

func (f *fakeChild) reply(want string) string {
	f.t.Helper()
	if !f.out.Scan() {
		f.t.Fatalf("fake Asterisk child ended: %v\n%s", f.out.Err(), f.stderr.String())
	}
	line := f.out.Text()
	if !strings.HasPrefix(line, want) {
		f.t.Fatalf("fake Asterisk child answered %q, want %q…\n%s", line, want, f.stderr.String())
	}
	return line
}

// waitingApp is callmon's App in this process against a fake in a child:
// queue general with three agents, none logged in, no callbacks offered, so
// a caller waits until they hang up.
type waitingApp struct {
	fake *fakeChild
	app  *ari.App
	m    *metrics.Metrics
}

func startWaitingApp(t testing.TB, maxConns int) *waitingApp {
	t.Helper()
	fake := startFakeChild(t)
	clk := aritest.RealClock()
	m, err := metrics.New(prometheus.NewRegistry(), clk, amsterdam, []metrics.Queue{{Name: "general"}, {Name: ari.DirectQueue}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var agents []ari.Agent
	var ids []string
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("a%d", i)
		agents = append(agents, ari.Agent{ID: id, Name: "Agent " + id, Endpoint: fmt.Sprintf("PJSIP/%d", 1000+i)})
		ids = append(ids, id)
	}
	app, err := ari.New(ari.Config{
		URL: fake.url, User: "callmon", Password: "s3cret", Application: "callmon",
		Queues:   []ari.Queue{{Name: "general", Numbers: []string{"0503164911"}, Agents: ids}},
		Agents:   agents,
		Open:     func(time.Time) bool { return true },
		Location: amsterdam,
		Clock:    clk,
		Log:      slog.New(slog.DiscardHandler),
		Metrics:  m,
		// Generous: a 2-core machine placing thousands of callers at once.
		RESTTimeout:     time.Minute,
		RESTIdleTimeout: time.Hour,
		MaxConns:        maxConns,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Stop)
	fake.do("connected", "ok")
	return &waitingApp{fake: fake, app: app, m: m}
}

// memSample is what one waiting caller is measured by.
type memSample struct {
	heap, stack uint64 // HeapInuse, StackInuse
	live        uint64 // HeapAlloc: the live objects alone, without the spans' free room
	goroutines  int
}

func sampleMem() memSample {
	runtime.GC()
	runtime.GC() // the second frees what the first's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapInuse, stack: ms.StackInuse, live: ms.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// waitCost is the cost of one waiting caller between two samples.
type waitCost struct {
	heap, stack, total float64 // bytes
	live               float64 // bytes of live objects
	goroutines         float64
}

func costPer(before, after memSample, n int) waitCost {
	d := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	c := waitCost{heap: d(after.heap, before.heap), stack: d(after.stack, before.stack), live: d(after.live, before.live),
		goroutines: float64(after.goroutines-before.goroutines) / float64(n)}
	c.total = c.heap + c.stack
	return c
}

// placeWaiting places n callers and returns once callmon counts them
// waiting, no call has a goroutine (every flow has done its REST work) and
// the goroutine count has settled.
func (w *waitingApp) placeWaiting(t testing.TB, n int) {
	t.Helper()
	want := w.m.Waiting("general") + n
	w.fake.do("call "+strconv.Itoa(n), "held ")
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, steady := -1, 0
	for steady < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("callmon counts %d waiting, want %d; %d calls have a goroutine; %d goroutines",
				w.m.Waiting("general"), want, w.app.DrainersRunning(), runtime.NumGoroutine())
		}
		<-tick.C
		g := runtime.NumGoroutine()
		if w.m.Waiting("general") == want && w.app.DrainersRunning() == 0 && g == last {
			steady++
		} else {
			steady = 0
		}
		last = g
	}
}

// measureWaiting is the cost per waiting caller of n more callers waiting
// at once, with warm callers waiting already. One warm caller sets up what
// every process has once (REST connections, buffers sized by their first
// use); more also pay for what a burst of callers leaves behind for the
// next (goroutines' descriptors and stacks the runtime keeps for reuse).
func measureWaiting(t testing.TB, warm, n, maxConns int) waitCost {
	w := startWaitingApp(t, maxConns)
	w.placeWaiting(t, warm)
	before := sampleMem()
	w.placeWaiting(t, n)
	after := sampleMem()
	if *waitProfile != "" {
		writeProfile(t, "heap", *waitProfile+".heap")
		writeProfile(t, "goroutine", *waitProfile+".goroutine")
	}
	if got := w.app.Calls(); got != warm+n {
		t.Fatalf("callmon tracks %d calls, want %d", got, warm+n)
	}
	return costPer(before, after, n)
}

// TestWaitingCallerMemory guards what a waiting caller costs: no goroutine
// of their own (what grows is the REST connections', bounded by MaxConns),
// at most 1 KiB of live objects, and under 4 KiB of heap and stack in all.
// At 1,000 callers the heap's free room and the stacks of the goroutines
// that did the callers' REST work move by up to ±1 KiB per caller from run
// to run, and the race detector makes stacks larger: the live objects are
// the sharp check, the whole is checked without the race detector only.
func TestWaitingCallerMemory(t *testing.T) {
	const warm, callers, maxConns = 500, 1000, 8
	c := measureWaiting(t, warm, callers, maxConns)
	t.Logf("per waiting caller: %.0f B heap + %.0f B stack = %.0f B; %.0f B live objects; %.4f goroutines",
		c.heap, c.stack, c.total, c.live, c.goroutines)
	// Each REST connection has two goroutines (read and write loops).
	if limit := float64(2*maxConns+10) / callers; c.goroutines > limit {
		t.Errorf("%.4f goroutines per waiting caller, want at most %.4f: a caller who only waits has none", c.goroutines, limit)
	}
	if c.live > 1024 {
		t.Errorf("a waiting caller keeps %.0f B of live objects, want at most 1 KiB", c.live)
	}
	if !raceDetector && c.total > 4096 {
		t.Errorf("a waiting caller costs %.0f B (%.0f B heap, %.0f B stack), want at most 4 KiB", c.total, c.heap, c.stack)
	}
}

// BenchmarkWaitingCallerMemory is what one waiting caller costs callmon's
// process at 10,000 waiting: Δ(HeapInuse + StackInuse) after GC between 0 and
// 10,000 callers waiting (no agent logged in), the fake Asterisk in a child
// process. One op is the whole measurement: run it with -benchtime 1x.
func BenchmarkWaitingCallerMemory(b *testing.B) {
	const callers = 10000
	var c waitCost
	for range b.N {
		c = measureWaiting(b, 1, callers, 0)
	}
	b.ReportMetric(c.heap, "heap-B/waiting")
	b.ReportMetric(c.stack, "stack-B/waiting")
	b.ReportMetric(c.total, "B/waiting")
	b.ReportMetric(c.live, "live-B/waiting")
	b.ReportMetric(c.goroutines, "goroutines/waiting")
}

func writeProfile(t testing.TB, name, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}
