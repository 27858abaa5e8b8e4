package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// summaryRE matches a summary line of the demo and captures its label
// ("final " or ""), offered, answered and dropped.
var summaryRE = regexp.MustCompile(`^(final )?\d\d:\d\d:\d\d offered=(\d+) answered=(\d+) answered<=threshold=\d+ abandoned=\d+ short_abandoned=\d+ ` +
	`SL today=\d+\.\d% SL 15min=\d+\.\d% waiting=\d+ oldest=\d+s agents available=\d+ on_call=\d+ events=\d+ dropped=(\d+)$`)

func TestDemo(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	code, stdout, stderr := runMain(t, "demo", "--duration", "3s", "--speed", "60", "--rate", "20",
		"--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0", "--summary-interval", "500ms", "--seed", "1")
	elapsed := time.Since(begin)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if elapsed > 8*time.Second {
		t.Errorf("a 3s demo took %v", elapsed)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) < 4 {
		t.Fatalf("want a header, summaries and a final line; stdout:\n%s", stdout)
	}
	if !strings.Contains(lines[0], "store: memory") {
		t.Errorf("first line does not say which store the demo uses: %q", lines[0])
	}
	if !regexp.MustCompile(`metrics on http://127\.0\.0\.1:\d+/metrics`).MatchString(lines[0]) {
		t.Errorf("first line does not give the metrics address actually listened on: %q", lines[0])
	}
	if !strings.Contains(lines[1], "60x speed") || !strings.Contains(lines[1], "20.0 calls/min") || !strings.Contains(lines[1], "8 agents") {
		t.Errorf("second line does not describe the traffic: %q", lines[1])
	}

	// Then how to sign in: a supervisor and an agent, with tokens that
	// work on the API listener.
	signInRE := regexp.MustCompile(`^sign in as (agent|supervisor) (\S+) at http://(127\.0\.0\.1:\d+)/signin with token (\S+)$`)
	var signIns int
	for len(lines) > 2 {
		m := signInRE.FindStringSubmatch(lines[2])
		if m == nil {
			break
		}
		if !strings.HasPrefix(m[4], m[2]+".") {
			t.Errorf("token %q is not of the form %s.<secret>", m[4], m[2])
		}
		signIns++
		lines = append(lines[:2], lines[3:]...)
	}
	if signIns != 2 {
		t.Errorf("%d sign-in lines, want 2 (supervisor and agent); stdout:\n%s", signIns, stdout)
	}
	// And the wallboard, for a TV: its token in the address, exchanged for a cookie there.
	if len(lines) < 3 || !regexp.MustCompile(`^wallboard \(Dutch; English on the page\) at http://127\.0\.0\.1:\d+/wallboard\?token=tv\.\S+$`).MatchString(lines[2]) {
		t.Errorf("no wallboard line after the sign-ins; stdout:\n%s", stdout)
	} else {
		lines = append(lines[:2], lines[3:]...)
	}
	var summaries int
	var lastOffered, lastAnswered int
	for i, line := range lines[2:] {
		m := summaryRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d is not a summary line: %q", i+3, line)
			continue
		}
		final := m[1] != ""
		if final != (i == len(lines)-3) {
			t.Errorf("line %d: only the last line is the final summary: %q", i+3, line)
		}
		offered, _ := strconv.Atoi(m[2])
		answered, _ := strconv.Atoi(m[3])
		if offered < lastOffered || answered < lastAnswered {
			t.Errorf("line %d: counters went back (offered %d→%d, answered %d→%d)", i+3, lastOffered, offered, lastAnswered, answered)
		}
		if answered > offered {
			t.Errorf("line %d: answered %d > offered %d", i+3, answered, offered)
		}
		lastOffered, lastAnswered = offered, answered
		if m[4] != "0" {
			t.Errorf("line %d: events dropped: %q", i+3, line)
		}
		if !final {
			summaries++
		}
	}
	// 3 s at one line per 500 ms: about 6 periodic lines; allow for a slow machine.
	if summaries < 2 {
		t.Errorf("got %d periodic summary lines, want at least 2:\n%s", summaries, stdout)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "final ") || !strings.HasSuffix(last, " dropped=0") {
		t.Errorf("final line = %q, want a final summary ending in dropped=0", last)
	}
	// 3 simulated minutes at 20 calls a minute: about 60 calls (seed 1).
	if lastOffered < 10 || lastAnswered < 1 {
		t.Errorf("the demo generated little traffic: offered=%d answered=%d\n%s", lastOffered, lastAnswered, stdout)
	}
	if strings.Contains(stderr, "level=ERROR") {
		t.Errorf("the demo logged errors:\n%s", stderr)
	}
}

// TestDemoStopsOnCancel: Ctrl-C (the context) ends a running, unbounded demo
// with a final summary and exit code 0.
func TestDemoStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0", "--summary-interval", "20ms", "--seed", "2"}, &stdout, &stderr)
	}()
	// Running means past start-up: it has printed a periodic summary.
	eventually(t, "the demo to run", func() bool { return strings.Contains(stdout.String(), " dropped=") })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code = %d, want 0\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(waitFor):
		t.Fatal("the demo did not stop when its context was cancelled")
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "final ") || !summaryRE.MatchString(last) {
		t.Errorf("last line = %q, want the final summary", last)
	}
}

// TestDemoStart: the simulated day starts inside opening hours.
func TestDemoStart(t *testing.T) {
	cfg, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	loc := cal.Location()
	for _, now := range []time.Time{
		time.Date(2026, 11, 23, 3, 0, 0, 0, loc),      // Monday night
		time.Date(2026, 11, 23, 20, 0, 0, 0, loc),     // Monday evening
		time.Date(2026, 11, 28, 12, 0, 0, 0, loc),     // Saturday
		time.Date(2026, 12, 24, 10, 0, 0, 0, loc),     // extra closed day
		time.Date(2026, 12, 25, 10, 0, 0, 0, loc),     // Christmas
		time.Date(2027, 4, 27, 10, 0, 0, 0, loc),      // King's Day
		time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), // another zone
	} {
		got := demoStart(now, cal)
		if !cal.IsOpen(got) {
			t.Errorf("demoStart(%v) = %v, which is closed", now, got)
		}
		if got.Before(now.Add(-24 * time.Hour)) {
			t.Errorf("demoStart(%v) = %v, long before now", now, got)
		}
	}
	// A working day starts at 09:00 local time.
	monday := time.Date(2026, 11, 23, 14, 0, 0, 0, loc)
	if got, want := demoStart(monday, cal), time.Date(2026, 11, 23, 9, 0, 0, 0, loc); !got.Equal(want) {
		t.Errorf("demoStart(%v) = %v, want %v", monday, got, want)
	}
	demo, err := config.Demo(1).Calendar()
	if err != nil {
		t.Fatal(err)
	}
	if got := demoStart(time.Date(2026, 12, 25, 3, 0, 0, 0, loc), demo); !demo.IsOpen(got) {
		t.Errorf("the demo calendar is closed at its own start %v", got)
	}
}

// TestDemoInterruptedDuringStartup: Ctrl-C before the demo is connected is
// a normal stop (exit 0), as it is for `callmon run`, not a failure.
func TestDemoInterruptedDuringStartup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr syncBuffer
	if code := Main(ctx, []string{"demo", "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code = %d, want 0\nstderr:\n%s", code, stderr.String())
	}
}

// TestDemoDatabase: the demo never writes into DATABASE_URL (an operator's
// production database); it says it ignores it, and keeps its simulated calls
// only in the database named by --demo.database-url.
func TestDemoDatabase(t *testing.T) {
	// Not parallel: DATABASE_URL is process environment.
	prod := pgtest.URL(t, "cmd_demo_prod")
	demo := pgtest.URL(t, "cmd_demo_own")
	// The production database exists with the schema, as it would on a site.
	t.Setenv(config.DatabaseEnv, prod)
	if code, _, stderr := runMain(t, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up on the production database: %d\n%s", code, stderr)
	}

	code, stdout, stderr := runMain(t, "demo", "--duration", "2s", "--speed", "60", "--rate", "30",
		"--web.listen-address", "127.0.0.1:0", "--summary-interval", "500ms", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit code = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "DATABASE_URL is set and ignored") {
		t.Errorf("the demo did not say it ignores DATABASE_URL:\n%s", stderr)
	}
	if !strings.Contains(stdout, "store: memory") {
		t.Errorf("without --demo.database-url the demo should keep its calls in memory:\n%s", stdout)
	}
	if n := countCallRecords(t, prod); n != 0 {
		t.Errorf("the demo wrote %d simulated calls into DATABASE_URL's database", n)
	}

	code, stdout, stderr = runMain(t, "demo", "--duration", "2s", "--speed", "60", "--rate", "30",
		"--web.listen-address", "127.0.0.1:0", "--summary-interval", "500ms", "--seed", "3",
		"--demo.database-url", demo)
	if code != 0 {
		t.Fatalf("with --demo.database-url: exit code = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "(--demo.database-url)") {
		t.Errorf("the demo does not name its store:\n%s", stdout)
	}
	if n := countCallRecords(t, demo); n == 0 {
		t.Errorf("no simulated calls in the database named by --demo.database-url\n%s", stdout)
	}
	if n := countCallRecords(t, prod); n != 0 {
		t.Errorf("the demo wrote %d simulated calls into DATABASE_URL's database", n)
	}
}

func countCallRecords(t *testing.T, dbURL string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM call_records").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
