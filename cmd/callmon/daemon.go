package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"callmon/ari"
	"callmon/audit"
	"callmon/auth"
	"callmon/callback/leader"
	"callmon/callback/presence"
	"callmon/callback/retention"
	"callmon/callback/store"
	"callmon/callback/tasks"
	"callmon/callback/voicemails"
	cbweb "callmon/callback/web"
	"callmon/cmd/callmon/accesslog"
	"callmon/cmd/callmon/config"
	"callmon/lookup"
	"callmon/metrics"
	"callmon/prompts"
	"callmon/ui"
	"callmon/wallboard"
)

// clock is the time source of the daemon: the wall clock in production, the
// simulated clock of the demo.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// daemon is callmon's running parts, built in dependency order:
// calendar → metrics → ARI app → HTTP.
type daemon struct {
	Reg     *prometheus.Registry
	Metrics *metrics.Metrics
	App     *ari.App
	Addr    net.Addr // where /metrics listens (exporter-toolkit: TLS, basic auth)
	APIAddr net.Addr // where the API and pages listen (TLS of the web config, callmon's own auth)

	srv     *http.Server
	apiSrv  *http.Server
	api     *apiMux
	serveCh chan error
	log     *slog.Logger
	store   *persistence  // nil without a database
	tasks   *cbweb.Server // agents' task API and pages; nil without a database

	autoDial *tasks.Dispatcher // dials callback tasks of auto_dial queues; nil if none or with ha
	staffing *staffingAdvisor  // staffing advice per queue; nil without PostgreSQL
	board    *wallboard.Server
	push     *pusher  // nil without --push.url
	ha       *standby // active/standby through PostgreSQL; nil without a database

	stopCheck context.CancelFunc // ends recheckARI; nil if the first check passed
	checking  sync.WaitGroup

	reloadMu sync.Mutex // one reload at a time
	auth     *auth.Authenticator
	cfg      *config.Config // the configuration in force; replaced by Reload
}

type daemonOptions struct {
	Config        *config.Config
	Password      string
	Clock         clock
	ListenAddress string
	// APIListenAddress is where the API and pages are served.
	APIListenAddress string
	// SessionKey signs session cookies; nil: random, sessions end with
	// the process.
	SessionKey []byte
	// Reload, if set, is served as POST /api/reload (supervisors).
	Reload        func(ctx context.Context, who string) error
	TelemetryPath string
	WebConfigFile string
	Log           *slog.Logger
	// ARIURL overrides the configuration's ARI URL (the demo's fake Asterisk).
	ARIURL string
	// DatabaseURL enables PostgreSQL (call records, today's counts after a
	// restart, reports); empty keeps everything in memory.
	DatabaseURL string
	SpoolFile   string
	Migrate     bool
	// Push, with a URL, also pushes the metrics to VictoriaMetrics.
	Push pushOptions
	// PresenceRetry and PresencePoll override ari's defaults (tests).
	PresenceRetry, PresencePoll time.Duration
	// Lease tunes active/standby (zero: leader's defaults).
	Lease leader.Options
	// HandOff: a graceful stop of the active process with no standby sends
	// waiting callers to the dialplan fallback.
	HandOff bool
	// AccessLog, if set, receives one line per HTTP request (accesslog).
	AccessLog io.Writer
}

func startDaemon(ctx context.Context, o daemonOptions) (*daemon, error) {
	cfg := o.Config
	cal, err := cfg.Calendar()
	if err != nil {
		return nil, err
	}
	var queues []metrics.Queue
	for _, q := range cfg.Queues {
		queues = append(queues, metrics.Queue{Name: q.Name, Threshold: q.Threshold, Target: q.Target, ShortAbandon: shortAbandon(q), Open: cal.IsOpen})
	}
	aq := ariQueues(cfg)
	// Direct dial is measured like a queue, under queue "direct".
	queues = append(queues, metrics.Queue{Name: ari.DirectQueue, Threshold: config.DefaultThreshold, Target: config.DefaultTarget, ShortAbandon: config.DefaultShortAbandon, Open: cal.IsOpen})
	var employees []ari.Employee
	for _, e := range cfg.Employees {
		employees = append(employees, ari.Employee{ID: e.ID, Name: e.Name, Numbers: e.Numbers, Endpoint: e.Endpoint,
			Greeting: e.Greeting, Mailbox: e.Mailbox, RingTimeout: e.DirectRingTimeout})
	}
	var agents []ari.Agent
	for _, a := range cfg.Agents {
		agents = append(agents, ari.Agent{ID: a.ID, Name: a.Name, Endpoint: a.Endpoint})
	}
	reg := metrics.NewRegistry()
	m, err := metrics.New(reg, o.Clock, cal.Location(), queues, version)
	if err != nil {
		return nil, err
	}
	var p *persistence
	var tasksWeb *cbweb.Server
	var record func(ari.CallRecord)
	var liveCalls func(context.Context) ([]ari.CallRecord, error)
	var journal func(ari.CallRecord)
	var cbs ari.Callbacks
	var vmTaker *voicemailTaker
	var vmDialplan *dialplanVoicemail
	var backoffice func(context.Context, time.Time) (wallboard.Backoffice, error) // nil without a database
	var pres ari.PresenceStore                                                    // nil: presence lives in this process only
	pagePres := &pagePresence{}                                                   // its Agents are set once the App exists
	principals, err := auth.NewPrincipals(cfg.Credentials())
	if err != nil {
		return nil, err
	}
	authn := auth.New(auth.Options{Principals: principals, SessionKey: o.SessionKey, Clock: o.Clock.Now, Log: o.Log,
		Audit: audit.New(o.Log, o.Clock.Now), Home: home,
		Authenticated: func(ctx context.Context, p auth.Principal) { accesslog.SetPrincipal(ctx, p.ID) }})
	if o.DatabaseURL != "" {
		if err = untilDatabase(ctx, o.Log, "open the database", func() (err error) {
			p, err = openPersistence(ctx, o.DatabaseURL, o.SpoolFile, o.Migrate, o.Log)
			return err
		}); err != nil {
			return nil, err
		}
		pres = presenceStore{presence.New(p.db.Pool(), o.Log)}
		ts := tasks.New(p.db.Pool())
		capacity := map[string]int{}
		var names []string
		for _, q := range cfg.Queues {
			capacity[q.Name] = q.CallbackCapacity
			names = append(names, q.Name)
		}
		cb := newCallbacks(cal, ts, p.rec, capacity, o.Log)
		cbs = cb
		vs := voicemails.New(p.db.Pool(), voicemails.WithWindow(voicemails.CalendarWindow(cal)))
		p.rec.Register(voicemails.SpoolKind, voicemails.SpoolWriter(vs))
		if cfg.Voicemail.Mode == config.VoicemailARI && len(cfg.Employees) > 0 {
			vmTaker = newVoicemailTaker(nil, vs, p.rec, cfg, m, o.Clock, o.Log)
		}
		if cfg.Voicemail.Mode == config.VoicemailDialplan && len(cfg.Employees) > 0 {
			vmDialplan = newDialplanVoicemail(ts, cfg, o.Clock, o.Log)
		}
		p.start(ctx, o.Log)
		var vmAPI cbweb.Voicemails
		if vmTaker != nil {
			vmAPI = vmTaker
		}
		if tasksWeb, err = newTasksWeb(ctx, cfg, ts, p.db, cal, cb, vmAPI, pagePres, authn, o); err != nil {
			p.Close()
			return nil, err
		}
		var employeeIDs []string
		for _, e := range cfg.Employees {
			employeeIDs = append(employeeIDs, e.ID)
		}
		if err := reg.Register(newVoicemailCollector(vs, o.Clock, employeeIDs)); err != nil {
			p.Close()
			return nil, err
		}
		if err := reg.Register(newTaskCollector(ts, o.Clock, names)); err != nil {
			p.Close()
			return nil, err
		}
		backoffice = wallboardBackoffice(ts, vs)
		// Today's figures are restored from the call records when this
		// process becomes the active one (standby.begin).
		m.SetSpoolRecords(p.rec.Backlog)
		record, journal, liveCalls = p.record, p.journal, p.liveCalls
	}
	url := cfg.ARI.URL
	if o.ARIURL != "" {
		url = o.ARIURL
	}
	var elector *leader.Elector
	var fence func() bool
	if p != nil {
		// With a database any number of callmons may run; the one holding
		// the lease drives calls.
		lo := o.Lease
		lo.Log = o.Log
		elector = leader.New(p.db.Pool(), cfg.ARI.Application, leader.InstanceID(), lo)
		fence = elector.Valid
		m.SetLeader(false)
	}
	tlsCfg, err := ariTLS(cfg.ARI.CAFile)
	if err != nil {
		if p != nil {
			p.Close()
		}
		return nil, err
	}
	app, err := ari.New(ari.Config{
		TLS:         tlsCfg,
		Standby:     elector != nil,
		Fence:       fence,
		URL:         url,
		User:        cfg.ARI.User,
		Password:    o.Password,
		Application: cfg.ARI.Application,
		Queues:      aq,
		Agents:      agents,
		Open:        cal.IsOpen,
		Location:    cal.Location(),
		Clock:       o.Clock,
		Log:         o.Log,
		Metrics:     m,
		Record:      record,
		Journal:     journal,
		LiveCalls:   liveCalls,
		Callbacks:   cbs,
		Employees:   employees,
		Voicemail:   voicemailOrNil(vmTaker, vmDialplan),

		OutboundEndpoint: cfg.ARI.OutboundEndpoint,
		Presence:         pres,
		PresenceRetry:    o.PresenceRetry,
		PresencePoll:     o.PresencePoll,
	})
	if err != nil {
		if p != nil {
			p.Close()
		}
		return nil, err
	}
	var autoDial *tasks.Dispatcher
	if elector == nil {
		autoDial, err = newAutoDialer(cfg, p, app, cbs, o) // nil unless a queue has auto_dial
		if err != nil {
			return nil, err
		}
	}

	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "callmon_presence_unsaved_changes",
		Help: "Agents whose latest presence change (login, pause) is not yet in PostgreSQL and is being retried; read at scrape time.",
	}, func() float64 { return float64(app.Agents().PresenceBacklog()) })); err != nil {
		if p != nil {
			p.Close()
		}
		return nil, err
	}
	pagePres.ag = app.Agents()
	if vmDialplan != nil {
		vmDialplan.rest = app.REST()
	}
	if vmTaker != nil {
		vmTaker.rest = app.REST()
		vmTaker.ariURL, vmTaker.ariUser, vmTaker.ariPassword = url, cfg.ARI.User, o.Password
		vmTaker.http = &http.Client{Timeout: 30 * time.Second}
		if tlsCfg != nil {
			vmTaker.http.Transport = &http.Transport{Proxy: nil, TLSClientConfig: tlsCfg}
		}
	}
	mux := http.NewServeMux()
	gather := standbyGatherer{g: reg, active: app.Active}
	// What gather serves, with the per-queue series written by metrics.
	keep := func(family string) bool { return app.Active() || metrics.StandbyFamily(family) }
	mux.Handle(o.TelemetryPath, reg.Handler(keep, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelError)}))
	var db *store.DB
	if p != nil {
		db = p.db
	}
	var apiPort atomic.Value // the API listener's port, once it listens
	apiPort.Store("")
	if o.TelemetryPath != "/" {
		// callmon's own front page, not the exporter toolkit's (whose pprof links lead
		// nowhere here): the wallboard and sign-in on the API listener, and the metrics.
		mux.Handle("/", landingPage(ui.Setting(cfg.UI.Language), func() string { return apiPort.Load().(string) }, o.TelemetryPath))
	}
	// Wrong credentials or a missing module stop callmon here; an Asterisk
	// not up yet is tried again in the background.
	checkCtx, checkCancel := context.WithTimeout(ctx, 5*time.Second)
	firstCheck := app.Check(checkCtx)
	checkCancel()
	if se := (*ari.StartupError)(nil); errors.As(firstCheck, &se) {
		if p != nil {
			p.Close()
		}
		return nil, se
	}
	var d *daemon
	reload := o.Reload
	if reload == nil {
		reload = func(ctx context.Context, who string) error { return d.Reload(ctx, who) }
	}
	var look *lookup.Server
	if p != nil {
		look = lookup.New(lookup.Config{Pool: p.db.Pool(), Auth: authn, Audit: audit.New(o.Log, o.Clock.Now),
			HashKey: lookupKey(o.SessionKey), Retention: cfg.Retention.CallRecords, Language: ui.Setting(cfg.UI.Language),
			Now: o.Clock.Now, Log: o.Log})
	}
	board := wallboard.New(wallboard.Config{Metrics: m, Auth: authn, Backoffice: backoffice,
		Language: ui.Setting(cfg.UI.Language), Now: o.Clock.Now, Log: o.Log})
	api := newAPIMux(apiParts{auth: authn, presence: app.APIHandler(), report: reportHandler(db, cal.Location()),
		tasks: tasksWeb, wallboard: board, lookup: look, language: ui.Setting(cfg.UI.Language),
		reload: reload, ready: func(ctx context.Context) bool { return ready(ctx, app, m, p) }})
	closeAll := func() {
		if p != nil {
			p.Close()
		}
	}
	checkSounds(cfg.Sounds, o.Log)
	ln, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("--web.listen-address: %w", err)
	}
	apiLn, err := listenAPI(o.APIListenAddress, o.WebConfigFile)
	if err != nil {
		ln.Close()
		closeAll()
		return nil, err
	}
	if _, port, err := net.SplitHostPort(apiLn.Addr().String()); err == nil {
		apiPort.Store(port)
	}
	// Before the API serves: stored presence is loaded first, so neither a
	// call nor a presence change meets the agents all logged out.
	if err := untilDatabase(ctx, o.Log, "load agent presence", func() error { return app.Start(ctx) }); err != nil {
		app.Stop()
		ln.Close()
		apiLn.Close()
		if tasksWeb != nil {
			tasksWeb.Stop()
		}
		if p != nil {
			p.Close()
		}
		return nil, err
	}
	d = &daemon{Reg: reg.Registry, Metrics: m, App: app, Addr: ln.Addr(), APIAddr: apiLn.Addr(), log: o.Log, cfg: cfg, serveCh: make(chan error, 2), store: p, tasks: tasksWeb,
		srv:    &http.Server{Handler: withAccessLog(o.AccessLog, mux), ReadHeaderTimeout: 10 * time.Second},
		apiSrv: &http.Server{Handler: withAccessLog(o.AccessLog, api.handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn)},
		api:    api, auth: authn}
	d.autoDial = autoDial
	d.board = board
	board.Start()
	if firstCheck != nil {
		o.Log.Warn("Asterisk cannot be reached yet; callmon keeps trying", "ari", url, "err", firstCheck)
		var cctx context.Context
		cctx, d.stopCheck = context.WithCancel(ctx)
		d.checking.Add(1)
		go func() { defer d.checking.Done(); d.recheckARI(cctx) }()
	}
	webCfg := o.WebConfigFile
	go func() {
		d.serveCh <- web.Serve(ln, d.srv, &web.FlagConfig{WebConfigFile: &webCfg}, o.Log)
	}()
	go func() {
		if err := d.apiSrv.Serve(apiLn); !errors.Is(err, http.ErrServerClosed) {
			d.serveCh <- fmt.Errorf("--api.listen-address: %w", err)
		}
	}()
	if d.autoDial != nil {
		d.autoDial.Start()
	}
	var retJob *retention.Job
	if p != nil {
		rm, err := newRetentionMetrics(reg, o.Clock)
		if err != nil {
			d.Stop()
			return nil, err
		}
		// Recordings are deleted in any voicemail mode: rows recorded
		// before a switch to mode dialplan still name Asterisk's files.
		retJob = retention.New(p.db.Pool(), retention.Options{Periods: cfg.Retention.Periods(),
			Now: o.Clock.Now, AfterFunc: o.Clock.AfterFunc, Active: elector.Valid,
			Recordings: storedRecordings{rest: app.REST}, Log: o.Log, Report: rm.report})
	}
	if elector != nil {
		d.ha = &standby{e: elector, app: app, m: m, log: o.Log, handOff: o.HandOff, gather: gather, retention: retJob,
			restore: func(ctx context.Context) error {
				return restoreToday(ctx, p.db, m, o.Clock.Now(), cal.Location())
			},
			autoDial: func() (*tasks.Dispatcher, error) { return newAutoDialer(cfg, p, app, cbs, o) },
			flush:    p.rec.Flush,
		}
		d.ha.start(ctx)
	}
	if p != nil {
		var sq []staffingQueue
		for _, q := range cfg.Queues {
			sq = append(sq, staffingQueue{name: q.Name, target: q.Target, threshold: q.Threshold, shortAbandon: shortAbandon(q)})
		}
		d.staffing = newStaffingAdvisor(p.db, app.Agents().Rates, m, sq, cal.Location(), o.Clock, o.Log)
		d.staffing.Start()
	}
	if d.push, err = startPush(o.Push, reg, gather, o.Log); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// shortAbandon converts the file's "short_abandon: 0s" (every abandon
// counts) to metrics' and ari's way of saying so: zero there means the
// default and negative means none.
func shortAbandon(q config.Queue) time.Duration {
	if q.ShortAbandon == 0 {
		return -1
	}
	return q.ShortAbandon
}

// ariQueues are the queues of cfg as package ari takes them.
func ariQueues(cfg *config.Config) []ari.Queue {
	var aq []ari.Queue
	for _, q := range cfg.Queues {
		offer := q.CallbackOfferAfter
		if offer == 0 {
			offer = -1 // ari: zero is the default, negative is never after a wait
		}
		aq = append(aq, ari.Queue{Name: q.Name, Numbers: q.Numbers, Threshold: q.Threshold, ShortAbandon: shortAbandon(q), CallbackOfferAfter: offer, Strategy: q.Strategy, RingTimeout: q.RingTimeout, MOHClass: q.MOHClass,
			WelcomePrompt: q.WelcomePrompt, ClosedPrompt: q.ClosedPrompt, Agents: q.Agents,
			AnnounceEvery: q.AnnounceEvery, AnnounceErrorLimit: q.AnnounceErrorLimit, CallbackOfferExpected: q.CallbackOfferExpected})
	}
	return aq
}

// recheckARI repeats the start-up check until Asterisk answers; a problem
// retrying cannot solve (ari.StartupError) stops callmon through Err.
func (d *daemon) recheckARI(ctx context.Context) {
	wait := time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.App.Check(cctx)
		cancel()
		var se *ari.StartupError
		switch {
		case err == nil:
			d.log.Info("Asterisk reached; ARI start-up check passed")
			return
		case errors.As(err, &se):
			d.serveCh <- se // buffered for this one and the HTTP server's
			return
		case ctx.Err() != nil:
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// withAccessLog wraps h in the access log when one is configured.
func withAccessLog(w io.Writer, h http.Handler) http.Handler {
	if w == nil {
		return h
	}
	return accesslog.New(w, h, accesslog.Options{})
}

// ariTLS is the TLS configuration for an https ARI URL: the system's
// certificate authorities, or only those in caFile (a private CA).
func ariTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ari.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ari.ca_file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Err reports the HTTP server's failure, if it stops on its own.
func (d *daemon) Err() <-chan error { return d.serveCh }

func (d *daemon) Stop() {
	if d.stopCheck != nil {
		d.stopCheck()
		d.checking.Wait()
	}
	if d.tasks != nil {
		d.tasks.Stop() // ends the agents' event streams, or Shutdown would wait for them
	}
	// Before the App: a presence change the API accepted is written by
	// the App's last save, not lost after it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.apiSrv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Warn("HTTP shutdown (API)", "err", err)
	}
	if err := d.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Warn("HTTP shutdown", "err", err)
	}
	if d.ha != nil {
		d.ha.stop() // stops acting, then resigns: a standby takes over at once
	}
	if d.autoDial != nil {
		d.autoDial.Stop() // before the App: dials in progress are hung up, their tasks released
	}
	if d.staffing != nil {
		d.staffing.Stop()
	}
	if d.board != nil {
		d.board.Stop() // ends the screens' event streams, or Shutdown would wait for them
	}
	d.App.Stop()
	if d.store != nil {
		// After the App: the last finished calls are recorded (or spooled).
		d.store.Close()
	}
	d.push.Stop() // last: the final counts go out
}

// voicemailOrNil keeps a nil *voicemailTaker from becoming a non-nil
// interface (ari then sends unanswered direct calls to the general queue).
func voicemailOrNil(v *voicemailTaker, d *dialplanVoicemail) ari.Voicemail {
	switch {
	case v != nil:
		return v
	case d != nil:
		return d
	}
	return nil
}

// checkSounds tells at start which of the prompts callmon plays are missing from the sounds
// directory in the callers' language: each would play as silence.
func checkSounds(s config.Sounds, log *slog.Logger) {
	if s.Dir == "" {
		return
	}
	if _, err := os.Stat(s.Dir); err != nil {
		log.Info("prompts not checked: the sounds directory cannot be read here (set sounds.dir, or \"\" when Asterisk runs elsewhere)", "dir", s.Dir, "err", err)
		return
	}
	missing := prompts.Missing(s.Dir, s.Language)
	if len(missing) == 0 {
		log.Info("every prompt callmon plays is present", "dir", s.Dir, "language", s.Language)
		return
	}
	log.Warn("prompts missing: callers hear silence where these should play; callmon prompts generate makes a placeholder set",
		"dir", s.Dir, "language", s.Language, "count", len(missing), "missing", strings.Join(missing, " "))
}

// lookupKey keys the look-up's hash of a number in the audit trail: derived from the session
// key, so every callmon of a site (one --web.session-key-file) hashes a number alike; random
// without one, and then alike only within this process.
func lookupKey(sessionKey []byte) []byte {
	if len(sessionKey) == 0 {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("callmon look-up audit"))
	return m.Sum(nil)
}
