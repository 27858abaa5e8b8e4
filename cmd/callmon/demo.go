package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/auth"
	"callmon/cmd/callmon/config"
)

// demoOptions shape the simulated day.
type demoOptions struct {
	traffic  trafficOptions // on the simulated clock
	agents   int            // agents logged in
	speed    float64        // simulated seconds per real second
	duration time.Duration  // real time; 0 = until interrupted
	every    time.Duration  // real time between summary lines
	// databaseURL is --demo.database-url: simulated calls go only into a
	// database named for them, never into DATABASE_URL (the production one).
	databaseURL string
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs, "")
	o := demoOptions{traffic: trafficOptions{minTalk: 10 * time.Second, answerMin: 2 * time.Second, answerMax: 9 * time.Second}}
	fs.Float64Var(&o.traffic.rate, "rate", 4, "arriving calls per simulated minute")
	fs.IntVar(&o.agents, "agents", 8, "number of agents, all logged in")
	fs.Float64Var(&o.speed, "speed", 10, "simulated seconds per real second")
	fs.DurationVar(&o.duration, "duration", 0, "how long to run in real time (0 = until Ctrl-C)")
	fs.DurationVar(&o.traffic.handle, "handle-time", 90*time.Second, "mean conversation length (simulated)")
	fs.DurationVar(&o.traffic.patience, "patience", 75*time.Second, "mean time a caller waits before hanging up (simulated)")
	fs.StringVar(&o.traffic.arrivals, "arrivals", "flat", "arrival pattern: flat (Poisson at --rate) or morning-peak (--rate is the opening day's mean, peaking about 1.6× an hour and a half after opening)")
	fs.Float64Var(&o.traffic.talkCV, "talk-cv", 0, "conversations: 0 for exponential, else lognormal with this coefficient of variation (call centres: about 1)")
	fs.StringVar(&o.traffic.patienceDist, "patience-dist", "exponential", "callers' patience: exponential or lognormal (coefficient of variation 1)")
	fs.Uint64Var(&o.traffic.seed, "seed", uint64(time.Now().UnixNano()), "random seed for the traffic")
	fs.DurationVar(&o.every, "summary-interval", 3*time.Second, "real time between summary lines")
	fs.StringVar(&o.databaseURL, "demo.database-url", "", "PostgreSQL URL of a database for the demo's simulated calls (it creates the schema); empty keeps them in memory. DATABASE_URL is ignored")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.traffic.rate <= 0 || o.agents < 1 || o.speed <= 0 || o.duration < 0 {
		return usageError{fmt.Errorf("--rate and --speed must be > 0, --agents >= 1, --duration >= 0")}
	}
	if err := checkTraffic(o.traffic); err != nil {
		return usageError{err}
	}
	log, err := newLogger(stderr, cf.logLevel, cf.logFormat)
	if err != nil {
		return err
	}
	push, err := cf.push()
	if err != nil {
		return err
	}
	cfg := config.Demo(o.agents)
	if cf.configFile != "" {
		if cfg, err = config.Load(cf.configFile); err != nil {
			return err
		}
	}
	signIn, err := demoTokens(cfg)
	if err != nil {
		return err
	}
	cal, err := cfg.Calendar()
	if err != nil {
		return err
	}
	accessLog, closeAccessLog, err := cf.openAccessLog(stderr)
	if err != nil {
		return err
	}
	defer closeAccessLog()
	start := demoStart(time.Now(), cal)
	clk := aritest.NewScaledClock(start, o.speed)
	const password = "demo"
	fake, err := aritest.New(aritest.Options{App: cfg.ARI.Application, User: cfg.ARI.User, Password: password, Clock: clk})
	if err != nil {
		return err
	}
	defer fake.Close()
	traffic := newTraffic(fake, clk, cfg, o.traffic, log)
	traffic.addEndpoints()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := daemonOptions{
		Config: cfg, Password: password, Clock: clk, ARIURL: fake.URL(),
		ListenAddress: cf.listenAddress, APIListenAddress: cf.apiListenAddress,
		TelemetryPath: cf.telemetryPath, WebConfigFile: cf.webConfigFile, Log: log,
		Push: push, AccessLog: accessLog,
	}
	if os.Getenv(config.DatabaseEnv) != "" {
		log.Warn("DATABASE_URL is set and ignored by the demo: its simulated calls go only into --demo.database-url")
	}
	storeName := "memory (no --demo.database-url)"
	if opts.DatabaseURL = o.databaseURL; opts.DatabaseURL != "" {
		dir, err := os.MkdirTemp("", "callmon-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		opts.SpoolFile, opts.Migrate = filepath.Join(dir, "spool.jsonl"), true
		storeName = "PostgreSQL " + dbLocation(opts.DatabaseURL) + " (--demo.database-url)"
	}
	d, err := startDaemon(ctx, opts)
	if err != nil {
		return err
	}
	defer d.Stop()
	fmt.Fprintf(stdout, "callmon demo: simulated Asterisk on %s, store: %s, metrics on http://%s%s\n",
		fake.URL(), storeName, d.Addr, cf.telemetryPath)
	fmt.Fprintf(stdout, "simulated day %s, %.0fx speed, %.1f calls/min, %d agents, mean talk %s, mean patience %s\n",
		start.In(cal.Location()).Format("Mon 2006-01-02 15:04"), o.speed, o.traffic.rate, o.agents, o.traffic.handle, o.traffic.patience)
	scheme := "http"
	if cf.webConfigFile != "" {
		scheme = "https" // if the web config has TLS
	}
	for _, s := range signIn {
		if s.role == "wallboard" {
			fmt.Fprintf(stdout, "wallboard (Dutch; English on the page) at %s://%s/wallboard?token=%s\n", scheme, d.APIAddr, s.token)
			continue
		}
		fmt.Fprintf(stdout, "sign in as %s %s at %s://%s/signin with token %s\n", s.role, s.id, scheme, d.APIAddr, s.token)
	}

	if err := fake.Await(ctx, fake.Connected); err != nil {
		return nil // interrupted during start-up (Await fails only when ctx ends): a normal stop
	}
	for _, a := range cfg.Agents {
		if _, err := d.App.Agents().Set(ari.PresenceChange{Agent: a.ID, Action: ari.ActionLogin, By: a.ID}); err != nil {
			return err
		}
	}
	traffic.start()
	defer traffic.stop()

	var deadline <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			printSummary(stdout, d, clk, cal.Location(), cfg.Queues[0].Name, "final")
			return nil
		case <-deadline:
			printSummary(stdout, d, clk, cal.Location(), cfg.Queues[0].Name, "final")
			return nil
		case err := <-d.Err():
			return err
		case <-tick.C:
			printSummary(stdout, d, clk, cal.Location(), cfg.Queues[0].Name, "")
		}
	}
}

type demoSignIn struct{ role, id, token string }

// demoTokens gives the demo's first agent and a supervisor "demo" tokens
// of this run, printed at start. Their hashes use bcrypt's minimum cost:
// the tokens are on the screen anyway, and the demo starts at once.
func demoTokens(cfg *config.Config) ([]demoSignIn, error) {
	var out []demoSignIn
	mint := func(role, id string) (string, error) {
		tok := auth.NewToken(id)
		h, err := auth.HashTokenCost(tok, bcrypt.MinCost)
		out = append(out, demoSignIn{role, id, tok})
		return h, err
	}
	if len(cfg.Agents) > 0 && cfg.Agents[0].TokenHash == "" {
		h, err := mint("agent", cfg.Agents[0].ID)
		if err != nil {
			return nil, err
		}
		cfg.Agents[0].TokenHash = h
	}
	if len(cfg.Supervisors) == 0 {
		h, err := mint("supervisor", "demo")
		if err != nil {
			return nil, err
		}
		cfg.Supervisors = append(cfg.Supervisors, config.Supervisor{ID: "demo", Name: "Demo supervisor", TokenHash: h})
	}
	if len(cfg.Wallboards) == 0 {
		h, err := mint("wallboard", "tv")
		if err != nil {
			return nil, err
		}
		cfg.Wallboards = append(cfg.Wallboards, config.Wallboard{ID: "tv", Name: "Demo TV", TokenHash: h})
	}
	return out, nil
}

// demoStart picks a simulated start inside opening hours: today at 09:00
// if today is a working day, else the next opening.
func demoStart(now time.Time, cal interface {
	Location() *time.Location
	IsOpen(time.Time) bool
	NextOpen(time.Time) time.Time
}) time.Time {
	loc := cal.Location()
	n := now.In(loc)
	nine := time.Date(n.Year(), n.Month(), n.Day(), 9, 0, 0, 0, loc)
	if cal.IsOpen(nine) {
		return nine
	}
	return cal.NextOpen(nine).Add(30 * time.Minute)
}

// dbLocation names a PostgreSQL URL's host and database, without secrets.
func dbLocation(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(from a connection string)"
	}
	return u.Host + u.Path
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// printSummary prints one line read back from callmon's own exposition, so
// the demo shows what Prometheus would scrape.
func printSummary(w io.Writer, d *daemon, clk aritest.Clock, loc *time.Location, queue, label string) {
	mfs, err := d.Reg.Gather()
	if err != nil {
		fmt.Fprintf(w, "gather: %v\n", err)
		return
	}
	v := func(name string, labels ...string) float64 { return metricValue(mfs, name, labels...) }
	offered := v("callmon_calls_offered_total")
	within := v("callmon_calls_answered_within_threshold_total")
	answered := v("callmon_calls_answered_total")
	abandoned := v("callmon_calls_abandoned_total")
	short := v("callmon_calls_short_abandoned_total")
	// The demo's traffic is all in its first queue.
	sl := v("callmon_service_level_ratio", "queue", queue, "window", "today")
	slInt := v("callmon_service_level_ratio", "queue", queue, "window", "interval")
	prefix := clk.Now().In(loc).Format("15:04:05")
	if label != "" {
		prefix = label + " " + prefix
	}
	fmt.Fprintf(w, "%s offered=%.0f answered=%.0f answered<=threshold=%.0f abandoned=%.0f short_abandoned=%.0f SL today=%.1f%% SL 15min=%.1f%% waiting=%.0f oldest=%.0fs agents available=%.0f on_call=%.0f events=%.0f dropped=%.0f\n",
		prefix, offered, answered, within, abandoned, short, 100*sl, 100*slInt,
		v("callmon_calls_waiting"), v("callmon_oldest_waiting_call_seconds"),
		v("callmon_agents", "state", "available"), v("callmon_agents", "state", "on_call"),
		v("callmon_ari_events_total"), v("callmon_ari_events_dropped_total"))
}

// metricValue sums the samples of a metric whose labels match the given
// name/value pairs (counters, gauges and untyped values).
func metricValue(mfs []*dto.MetricFamily, name string, labels ...string) float64 {
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Untyped != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
	}
	return sum
}
