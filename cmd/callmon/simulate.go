package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"callmon/ari/aritest"
	"callmon/cmd/callmon/config"
)

// simulateOptions are callmon simulate's flags besides the traffic.
type simulateOptions struct {
	listen    string
	user      string
	truthFile string
	duration  time.Duration // 0 = until interrupted or --calls
	drain     time.Duration
	every     time.Duration
	waitApp   bool
	control   string // address of the control endpoint; "" = none
}

// cmdSimulate runs the fake Asterisk alone, on a real address and the wall clock, so that real
// `callmon run` processes can be pointed at it, killed and restarted, while it keeps the ground
// truth of every caller. There is no speed factor: callmon in another process measures with
// Asterisk's timestamps against its own wall clock (timers, opening hours, "now"), so the
// simulation runs in real time and short durations are set with the flags instead.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: callmon simulate [flags]

Runs a simulated Asterisk (ARI REST and events websocket, as Asterisk 22) on --listen and
places calls into it, so that real "callmon run" processes can use it as their Asterisk. The
agents' and employees' phones are those of --config.file; log the agents in on callmon's side
(POST /api/agents/{id}/login). Calls while no callmon is connected are refused, as Asterisk's
Stasis() would. With --truth, every caller's fate is written as JSON lines (see README).
The ARI password comes from `+config.PasswordEnv+` (or ari.password_file of the configuration).

Flags:
`)
		fs.PrintDefaults()
	}
	var so simulateOptions
	var to trafficOptions
	var cfgFile, logLevel, logFormat string
	fs.StringVar(&cfgFile, "config.file", "callmon.yml", "callmon configuration whose agents, employees, queue and ARI user to simulate")
	fs.StringVar(&so.listen, "listen", "127.0.0.1:8088", "address for the simulated Asterisk's HTTP server (ARI under /ari)")
	fs.StringVar(&so.user, "ari.user", "", "ARI user to accept (default: ari.user of the configuration)")
	fs.StringVar(&so.truthFile, "truth", "", "write the ground truth of every caller to this file (JSON lines)")
	fs.DurationVar(&so.duration, "duration", 0, "stop placing calls after this long (0 = until --calls or Ctrl-C)")
	fs.IntVar(&to.calls, "calls", 0, "stop placing calls after this many (0 = no limit)")
	fs.DurationVar(&so.drain, "drain", time.Minute, "at the end, wait this long at most for calls in progress")
	fs.DurationVar(&so.every, "summary-interval", 10*time.Second, "time between status lines (0 = none)")
	fs.BoolVar(&so.waitApp, "wait-for-app", false, "place the first call only once callmon has connected")
	fs.StringVar(&so.control, "control", "", "serve a control endpoint on this loopback address (cut websockets, REST faults; see README); empty = none")
	fs.Float64Var(&to.rate, "rate", 6, "arriving calls per minute (0 = none: calls only through the control endpoint's load runs)")
	fs.DurationVar(&to.answerMin, "answer-min", 2*time.Second, "shortest time a phone rings before its user answers")
	fs.DurationVar(&to.answerMax, "answer-max", 9*time.Second, "longest time a phone rings before its user answers")
	fs.DurationVar(&to.handle, "handle-time", 90*time.Second, "mean conversation length")
	fs.DurationVar(&to.minTalk, "min-talk", 10*time.Second, "shortest conversation")
	fs.DurationVar(&to.patience, "patience", 75*time.Second, "mean time a caller waits for an agent before hanging up")
	fs.Float64Var(&to.direct, "direct", 0.1, "share of calls to the employees' direct numbers (0 to 1)")
	fs.StringVar(&to.arrivals, "arrivals", "flat", "arrival pattern: flat (Poisson at --rate) or morning-peak (--rate is the opening day's mean, peaking about 1.6× an hour and a half after opening)")
	fs.Float64Var(&to.talkCV, "talk-cv", 0, "conversations: 0 for exponential, else lognormal with this coefficient of variation (call centres: about 1)")
	fs.StringVar(&to.patienceDist, "patience-dist", "exponential", "callers' patience: exponential or lognormal (coefficient of variation 1)")
	fs.Uint64Var(&to.seed, "seed", uint64(time.Now().UnixNano()), "random seed for the traffic")
	fs.StringVar(&logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log.format", "logfmt", "log format: logfmt or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case to.rate < 0:
		return usageError{errors.New("--rate must not be negative")}
	case to.rate == 0 && so.control == "":
		return usageError{errors.New("--rate 0 places no calls: it needs --control, whose load runs place them")}
	case so.duration < 0 || so.drain < 0 || so.every < 0 || to.calls < 0:
		return usageError{errors.New("--duration, --drain, --summary-interval and --calls must not be negative")}
	case to.answerMin < 0 || to.answerMax < to.answerMin:
		return usageError{errors.New("want 0 <= --answer-min <= --answer-max")}
	case to.handle <= 0 || to.minTalk < 0 || to.patience <= 0:
		return usageError{errors.New("--handle-time and --patience must be > 0, --min-talk >= 0")}
	case to.direct < 0 || to.direct > 1:
		return usageError{errors.New("--direct is a share between 0 and 1")}
	}
	if err := checkTraffic(to); err != nil {
		return usageError{err}
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return err
	}
	password, err := cfg.ARIPassword()
	if err != nil {
		return err
	}
	if so.user == "" {
		so.user = cfg.ARI.User
	}

	var truthOut *os.File
	if so.truthFile != "" {
		if truthOut, err = os.Create(so.truthFile); err != nil {
			return err
		}
		defer truthOut.Close()
	}
	fake, err := aritest.New(aritest.Options{
		App: cfg.ARI.Application, User: so.user, Password: password, Listen: so.listen,
		Order: aritest.OrderRandom, Seed: int64(to.seed), LogLimit: 1, // the log is for tests; keep none
	})
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer fake.Close()
	// Without a file the truth still counts, for the summary.
	var truthW io.Writer = io.Discard
	if truthOut != nil {
		truthW = truthOut
	}
	endTruth := fake.RecordTruth(truthW)
	clk := aritest.RealClock()
	traffic := newTraffic(fake, clk, cfg, to, log)
	traffic.addEndpoints()

	truthName := "none"
	if so.truthFile != "" {
		truthName = so.truthFile
	}
	fmt.Fprintf(stdout, "callmon simulate: Asterisk ARI on %s (user %s, application %s), %d phones online, truth: %s\n",
		fake.URL(), so.user, cfg.ARI.Application, len(traffic.endpoints()), truthName)
	if so.control != "" {
		ctl, err := startSimControl(so.control, fake, traffic, log)
		if err != nil {
			return fmt.Errorf("--control: %w", err)
		}
		defer ctl.Close()
		fmt.Fprintf(stdout, "control endpoint on %s\n", ctl.URL())
	}
	fmt.Fprintf(stdout, "%.1f calls/min, %.0f%% direct, answer after %s-%s, mean talk %s (at least %s), mean patience %s\n",
		to.rate, 100*to.direct, to.answerMin, to.answerMax, to.handle, to.minTalk, to.patience)

	status := func(label string) {
		placed, refused := traffic.counts()
		app := "disconnected"
		if fake.Connected() {
			app = "connected"
		}
		fmt.Fprintf(stdout, "%s%s placed=%d refused=%d in_progress=%d callmon=%s\n",
			label, time.Now().Format("15:04:05"), placed, refused, traffic.inProgress(), app)
	}
	var tick <-chan time.Time
	if so.every > 0 {
		t := time.NewTicker(so.every)
		defer t.Stop()
		tick = t.C
	}
	if so.waitApp {
		fmt.Fprintln(stdout, "waiting for callmon to connect")
		if err := fake.Await(ctx, fake.Connected); err != nil {
			return endSimulation(stdout, fake, endTruth, truthOut)
		}
	}
	traffic.start()
	var deadline <-chan time.Time
	if so.duration > 0 {
		t := time.NewTimer(so.duration)
		defer t.Stop()
		deadline = t.C
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			break loop
		case <-traffic.Done():
			break loop
		case <-tick:
			status("")
		}
	}
	traffic.stop()
	drainCalls(ctx, stdout, fake, traffic, so.drain)
	status("end ")
	return endSimulation(stdout, fake, endTruth, truthOut)
}

// drainCalls waits for the calls in progress to end, at most d; a (second) interrupt ends the
// wait early.
func drainCalls(ctx context.Context, stdout io.Writer, fake *aritest.Server, t *traffic, d time.Duration) {
	n := t.inProgress()
	if n == 0 || d == 0 {
		return
	}
	fmt.Fprintf(stdout, "no more calls; waiting up to %s for %d in progress (interrupt to stop now)\n", d, n)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-wctx.Done():
		}
	}()
	_ = fake.Await(wctx, func() bool { return t.inProgress() == 0 })
}

// endSimulation lets the last events reach callmon, ends the truth (callers still up are
// written as open) and prints the summary.
func endSimulation(stdout io.Writer, fake *aritest.Server, endTruth func() (aritest.TruthSummary, error), f *os.File) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fake.Await(ctx, func() bool { return fake.Stats().Pending == 0 })
	sum, err := endTruth()
	if err == nil && f != nil {
		err = f.Sync()
	}
	fake.Close()
	if err != nil {
		return fmt.Errorf("writing the truth: %w", err)
	}
	st := fake.Stats()
	fmt.Fprintf(stdout, "final callers=%d refused=%d answered=%d unanswered=%d continued=%d still_up=%d stranded=%d max_originates_per_number=%d originates=%d events=%d events_lost=%d\n",
		sum.Callers, sum.Refused, sum.Answered, sum.Unanswered, sum.Continued, sum.Open, sum.Stranded, sum.MaxOriginated,
		st.Originates, st.EventsSent, st.EventsLost)
	return nil
}
