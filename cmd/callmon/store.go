package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"callmon/ari"
	"callmon/callback/calendar"
	"callmon/callback/spool"
	"callmon/callback/store"
	"callmon/cmd/callmon/config"
	"callmon/metrics"
)

// persistence is callmon's PostgreSQL side while the daemon runs: the
// database, the durable spool and the recorder that writes finished calls
// off the event path.
type persistence struct {
	db  *store.DB
	sp  *spool.Spool
	rec *store.Recorder
	log *slog.Logger
	// wait bounds how long a call waits for its entry to be durable
	// (journalWait; tests lengthen it).
	wait time.Duration
}

// openPersistence connects, checks (or applies) the schema and opens the
// spool. A wrong password, a missing database or a schema from another
// version stop callmon at start with a clear error (a server not reachable
// yet is waited for: untilDatabase); an outage later only fills the spool.
func openPersistence(ctx context.Context, url, spoolFile string, migrate bool, log *slog.Logger) (*persistence, error) {
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if migrate {
		err = db.Migrate(ctx)
	} else {
		err = db.CheckSchema(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	sp, err := spool.Open(spoolFile)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	if n := sp.Recovered(); n > 0 {
		log.Warn("spool: cut off a torn last line left by a crash", "file", sp.Path(), "bytes", n)
	}
	rec := store.NewRecorder(db, sp, log, store.RecorderOptions{})
	return &persistence{db: db, sp: sp, rec: rec, log: log, wait: journalWait}, nil
}

// untilDatabase runs f until it succeeds, fails for a reason waiting cannot mend (a wrong
// password, a missing database, a schema from another version), or ctx ends. A PostgreSQL
// that is starting or restarting (refused connections, "terminating connection due to
// administrator command", "the database system is starting up") is waited for, as Asterisk
// is: a standby restarted by systemd during a database restart would otherwise exit again.
func untilDatabase(ctx context.Context, log *slog.Logger, step string, f func() error) error {
	wait := 250 * time.Millisecond
	for {
		err := f()
		if err == nil || !transientDB(err) || ctx.Err() != nil {
			return err
		}
		log.Warn("PostgreSQL cannot be reached yet; callmon keeps trying", "step", step, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transientDB reports whether a database error is one that waiting mends: no connection
// (refused, reset, timed out), or a server shutting down or starting up (SQLSTATE class 08,
// 57P01-57P03). An error the server sent for the request itself (authentication, a missing
// database or table) is not.
func transientDB(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// start begins writing; spool writers of other kinds (callbacks) are
// registered before. Whatever a previous run left in the spool is written
// before today's counts are read, so they include it.
func (p *persistence) start(ctx context.Context, log *slog.Logger) {
	p.rec.Start(ctx)
	if err := p.rec.Flush(ctx); err != nil {
		log.Warn("spool: could not write the backlog to PostgreSQL yet; it stays in the spool", "records", p.rec.Backlog(), "err", err)
	}
}

func (p *persistence) Close() {
	p.rec.Stop()
	if err := p.sp.Close(); err != nil {
		slog.Default().Warn("closing spool", "err", err)
	}
	p.db.Close()
}

// record hands a finished call, or a journal entry of one in progress, to
// the recorder; it never blocks. Both go through one ordered queue, so a
// call's entry is written before its record.
func (p *persistence) record(r ari.CallRecord) {
	p.rec.Record(p.storeRecord(r))
}

func (p *persistence) storeRecord(r ari.CallRecord) store.CallRecord {
	var predicted *int64
	if r.Predicted && r.Stage == "" {
		ms := min(max(r.PredictedWait.Milliseconds(), 0), math.MaxInt32)
		predicted = &ms
	}
	return store.CallRecord{
		ChannelID: r.ChannelID, Queue: r.Queue, Kind: r.Kind, CallerNumber: r.CallerNumber,
		Entry: r.Entry, Answered: r.Answered, Ended: r.Ended, WaitMS: r.WaitMS, Outcome: r.Outcome,
		WithinThreshold: r.WithinThreshold, ThresholdMS: r.Threshold.Milliseconds(), Agent: r.Agent,
		Stage: r.Stage, Adopted: r.Adopted, EntryEstimated: r.EntryEstimated,
		AnswerEstimated: r.AnswerEstimated, EndUnobserved: r.EndUnobserved, PredictedWaitMS: predicted,
	}
}

// journalWait bounds how long a call waits for its journal entry to be
// durable. Normally that is one group commit (a millisecond or two); when
// PostgreSQL hangs, the call goes on after this and the entry is written when
// it can.
const journalWait = time.Second

// journal writes the entry of a call before the call goes on, so that a
// process killed right afterwards leaves it to the next one (in PostgreSQL, or
// in the spool that this node's next process drains). An answer is queued
// behind it, in order, and not waited for: the call must react to its next
// event at once (an agent hanging up: the caller is hung up then, not after a
// slow commit; the chaos test found a caller left 1.1 s in the bridge right
// after a PostgreSQL restart), and waiting would not make it more durable: a
// process killed before the commit lands loses it either way, and the next
// one finds the pair bridged and estimates the answer, flagged.
func (p *persistence) journal(r ari.CallRecord) {
	if r.Stage == ari.StageAnswered {
		p.rec.Record(p.storeRecord(r))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.wait)
	defer cancel()
	if err := p.rec.Commit(ctx, p.storeRecord(r)); err != nil {
		p.log.Warn("journal entry not yet durable; the call goes on", "call", r.ChannelID, "stage", r.Stage, "err", err)
	}
}

// liveCalls reads the journal of calls in progress for adoption. What a
// previous run left in the spool is written first (at start), so the
// journal read here includes it when PostgreSQL is up.
func (p *persistence) liveCalls(ctx context.Context) ([]ari.CallRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := p.db.LiveCalls(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ari.CallRecord, len(rows))
	for i, r := range rows {
		out[i] = ari.CallRecord{ChannelID: r.ChannelID, Queue: r.Queue, Kind: r.Kind, CallerNumber: r.CallerNumber,
			Entry: r.Entry, Answered: r.Answered, Agent: r.Agent, Threshold: time.Duration(r.ThresholdMS) * time.Millisecond,
			Stage: r.Stage, EntryEstimated: r.EntryEstimated, AnswerEstimated: r.AnswerEstimated}
	}
	return out, nil
}

// restoreToday loads today's counts from the call records into the live
// service level, so "today" survives a restart.
func restoreToday(ctx context.Context, db *store.DB, m *metrics.Metrics, now time.Time, loc *time.Location) error {
	n := now.In(loc)
	day := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	counts, err := db.Counts(ctx, day, day.AddDate(0, 0, 1), loc)
	if err != nil {
		return fmt.Errorf("reading today's call records: %w", err)
	}
	for _, q := range counts {
		dc := metrics.DayCounts{Offered: int(q.Offered), AnsweredWithin: int(q.AnsweredWithin), ShortAbandoned: int(q.ShortAbandoned)}
		for _, iv := range q.Intervals {
			dc.Intervals = append(dc.Intervals, metrics.IntervalCounts{Start: iv.Start,
				Offered: int(iv.Offered), AnsweredWithin: int(iv.AnsweredWithin), ShortAbandoned: int(iv.ShortAbandoned)})
		}
		m.Restore(q.Queue, day, dc)
	}
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callmon migrate [up|status]\n\nApplies (up, the default) or lists (status) the schema migrations of the database in %s.\n", config.DatabaseEnv)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	action := "up"
	switch fs.NArg() {
	case 0:
	case 1:
		action = fs.Arg(0)
	default:
		return usageError{fmt.Errorf("want one of up, status")}
	}
	if action != "up" && action != "status" {
		return usageError{fmt.Errorf("unknown action %q: want up or status", action)}
	}
	db, err := openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if action == "up" {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	st, err := db.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d of %d\n", st.Current, st.Latest)
	for _, m := range st.Migrations {
		state := "pending"
		if m.Applied {
			state = "applied"
		}
		fmt.Fprintf(stdout, "  %-32s %s\n", m.Name, state)
	}
	return nil
}

func openDB(ctx context.Context) (*store.DB, error) {
	url := (&config.Config{}).DatabaseURL()
	if url == "" {
		return nil, fmt.Errorf("%s is not set (e.g. postgres://callmon@127.0.0.1:5432/callmon)", config.DatabaseEnv)
	}
	return store.Open(ctx, url)
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD (required)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (required; inclusive)")
	queue := fs.String("queue", "", "only this queue (default: all)")
	format := fs.String("format", "table", "table or csv")
	tz := fs.String("timezone", calendar.DefaultTimezone, "time zone of the days")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q, err := parseReportQuery(*from, *to, *queue, *tz)
	if err != nil {
		return usageError{err}
	}
	if *format != "table" && *format != "csv" {
		return usageError{fmt.Errorf("--format %q: want table or csv", *format)}
	}
	db, err := openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Report(ctx, q.from, q.to, q.queue, q.loc)
	if err != nil {
		return err
	}
	if *format == "csv" {
		return writeReportCSV(stdout, rows)
	}
	return writeReportTable(stdout, rows)
}

type reportQuery struct {
	from, to calendar.Date
	queue    string
	loc      *time.Location
}

func parseReportQuery(from, to, queue, tz string) (reportQuery, error) {
	var q reportQuery
	var err error
	if from == "" || to == "" {
		return q, errors.New("from and to are required (YYYY-MM-DD)")
	}
	if q.from, err = calendar.ParseDate(from); err != nil {
		return q, fmt.Errorf("from: %w", err)
	}
	if q.to, err = calendar.ParseDate(to); err != nil {
		return q, fmt.Errorf("to: %w", err)
	}
	// PostgreSQL has no year 0 and refuses text that is not UTF-8 or holds
	// NUL: a client's typo must be a 400, not a failed query.
	for _, d := range []struct {
		name string
		date calendar.Date
	}{{"from", q.from}, {"to", q.to}} {
		if d.date.Year < 1 {
			return q, fmt.Errorf("%s: %s is not a date in the years 0001 to 9999", d.name, d.date)
		}
	}
	if q.to.Before(q.from) {
		return q, fmt.Errorf("to %s is before from %s", q.to, q.from)
	}
	if !utf8.ValidString(queue) || strings.ContainsRune(queue, 0) {
		return q, fmt.Errorf("queue %q is not a queue name (invalid UTF-8 or a NUL byte)", queue)
	}
	if q.loc, err = time.LoadLocation(tz); err != nil {
		return q, fmt.Errorf("timezone %q: %w", tz, err)
	}
	q.queue = queue
	return q, nil
}

var reportHeader = []string{"day", "queue", "offered", "answered", "within_threshold", "abandoned", "short_abandoned", "service_level_pct", "avg_wait_s", "p90_wait_s"}

func reportFields(r store.ReportRow) []string {
	day := r.Day.String()
	if r.Total {
		day = "total"
	}
	queue := r.Queue
	if queue == "" {
		queue = "all"
	}
	sl, avg, p90 := "", "", ""
	if r.ServiceLevelOK {
		sl = strconv.FormatFloat(100*r.ServiceLevel, 'f', 1, 64)
	}
	if r.WaitOK {
		avg = strconv.FormatFloat(r.AvgWaitMS/1000, 'f', 1, 64)
		p90 = strconv.FormatFloat(r.P90WaitMS/1000, 'f', 1, 64)
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{day, queue, i(r.Offered), i(r.Answered), i(r.AnsweredWithin), i(r.Abandoned), i(r.ShortAbandoned), sl, avg, p90}
}

func writeReportCSV(w io.Writer, rows []store.ReportRow) error {
	cw := csv.NewWriter(w)
	cw.Write(reportHeader)
	for _, r := range rows {
		cw.Write(reportFields(r))
	}
	cw.Flush()
	return cw.Error()
}

func writeReportTable(w io.Writer, rows []store.ReportRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for i, h := range reportHeader {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, h)
	}
	fmt.Fprint(tw, "\t\n")
	for _, r := range rows {
		for i, f := range reportFields(r) {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			if f == "" {
				f = "-"
			}
			fmt.Fprint(tw, f)
		}
		fmt.Fprint(tw, "\t\n")
	}
	return tw.Flush()
}

// reportJSON is one row of GET /api/report.
type reportJSON struct {
	Day            string   `json:"day"` // "total" on total rows
	Queue          string   `json:"queue"`
	Offered        int64    `json:"offered"`
	Answered       int64    `json:"answered"`
	AnsweredWithin int64    `json:"answered_within_threshold"`
	Abandoned      int64    `json:"abandoned"`
	ShortAbandoned int64    `json:"short_abandoned"`
	Closed         int64    `json:"closed"`
	ServiceLevel   *float64 `json:"service_level"` // null when nothing counts
	AvgWaitSeconds *float64 `json:"avg_wait_seconds"`
	P90WaitSeconds *float64 `json:"p90_wait_seconds"`
}

// reportHandler serves GET /api/report?from=&to=&queue=.
func reportHandler(db *store.DB, loc *time.Location) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		q, err := parseReportQuery(v.Get("from"), v.Get("to"), v.Get("queue"), loc.String())
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, err.Error())
			return
		}
		if db == nil {
			writeAPIError(w, http.StatusServiceUnavailable, "no database: set "+config.DatabaseEnv+" to keep call records and report on them")
			return
		}
		rows, err := db.Report(r.Context(), q.from, q.to, q.queue, q.loc)
		if err != nil {
			slog.Default().Error("report", "err", err)
			writeAPIError(w, http.StatusInternalServerError, "report failed; see callmon's log")
			return
		}
		out := make([]reportJSON, 0, len(rows))
		for _, row := range rows {
			j := reportJSON{Day: row.Day.String(), Queue: row.Queue, Offered: row.Offered, Answered: row.Answered,
				AnsweredWithin: row.AnsweredWithin, Abandoned: row.Abandoned, ShortAbandoned: row.ShortAbandoned, Closed: row.Closed}
			if row.Total {
				j.Day = "total"
			}
			if row.ServiceLevelOK {
				j.ServiceLevel = ptr(row.ServiceLevel)
			}
			if row.WaitOK {
				j.AvgWaitSeconds, j.P90WaitSeconds = ptr(row.AvgWaitMS/1000), ptr(row.P90WaitMS/1000)
			}
			out = append(out, j)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
}

func ptr[T any](v T) *T { return &v }

func writeAPIError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
