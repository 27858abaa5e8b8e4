package retention_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"callmon/callback/calendar"
	"callmon/callback/retention"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
	"callmon/callback/voicemails"
)

const day = 24 * time.Hour

var ams = mustLoc("Europe/Amsterdam")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func newDB(t *testing.T) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, pgtest.URL(t, "retention"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// recordings is Asterisk's stored recordings as the job sees them.
type recordings struct {
	mu      sync.Mutex
	stored  map[string]bool
	deleted []string
	fail    error
}

func (r *recordings) DeleteRecording(_ context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if r.stored[name] {
		delete(r.stored, name)
		r.deleted = append(r.deleted, name)
	}
	return nil // gone already: fine
}

func (r *recordings) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored[name]
}

// clock is the injected clock of the job.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func call(id string, entry time.Time, waitMS int64, outcome string, number string) store.CallRecord {
	r := store.CallRecord{ChannelID: id, Queue: "general", Kind: store.KindQueue, CallerNumber: number,
		Entry: entry, Ended: entry.Add(time.Duration(waitMS)*time.Millisecond + time.Minute),
		WaitMS: waitMS, Outcome: outcome, ThresholdMS: 30000}
	if outcome == store.OutcomeAnswered {
		r.Answered = entry.Add(time.Duration(waitMS) * time.Millisecond)
		r.WithinThreshold = waitMS <= 30000
		r.Agent = "agent1"
	}
	return r
}

func numbers(t *testing.T, db *store.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s == nil {
			out = append(out, "<null>")
		} else {
			out = append(out, *s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The reports and today's restore read the same counts and waits after the
// callers' numbers are gone, while only records past the period lose theirs.
func TestCallRecordsMaskedAggregatesExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	old := time.Date(2025, 3, 10, 9, 0, 0, 0, ams)   // past a 366-day period
	recent := time.Date(2026, 3, 2, 9, 0, 0, 0, ams) // within it
	var recs []store.CallRecord
	outcomes := []string{store.OutcomeAnswered, store.OutcomeAbandoned, store.OutcomeShortAbandoned, store.OutcomeCallback}
	for i := range 23 { // more than a batch of 5, not a multiple of it
		for _, base := range []time.Time{old, recent} {
			recs = append(recs, call(fmt.Sprintf("%d-%d", base.Year(), i), base.Add(time.Duration(i)*7*time.Minute),
				int64(i)*3100, outcomes[i%len(outcomes)], fmt.Sprintf("06123456%02d", i)))
		}
	}
	recs = append(recs, call("withheld", old, 1000, store.OutcomeAnswered, ""))
	if _, err := db.InsertCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	report := func() ([]store.ReportRow, []store.QueueCounts, []store.QueueCounts) {
		rep, err := db.Report(ctx, calendar.DateOf(old), calendar.DateOf(recent), "", ams)
		if err != nil {
			t.Fatal(err)
		}
		var today [2][]store.QueueCounts
		for i, d := range []time.Time{old, recent} {
			start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, ams)
			if today[i], err = db.Counts(ctx, start, start.AddDate(0, 0, 1), ams); err != nil {
				t.Fatal(err)
			}
		}
		return rep, today[0], today[1]
	}
	rep0, oldDay0, recentDay0 := report()
	if len(rep0) == 0 || oldDay0[0].Offered != 24 || !rep0[len(rep0)-1].WaitOK {
		t.Fatalf("test data: report %+v, old day %+v", rep0, oldDay0)
	}

	clk := &clock{now: time.Date(2026, 3, 20, 12, 0, 0, 0, ams)}
	job := retention.New(db.Pool(), retention.Options{Now: clk.Now, Batch: 5,
		Periods: retention.Periods{CallRecords: 366 * day, Tasks: 90 * day, Voicemails: 30 * day}})
	r, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.CallRecords != 23 {
		t.Errorf("masked %d call records, want 23 (the old ones with a number)", r.CallRecords)
	}
	if got := numbers(t, db, `SELECT DISTINCT caller_number FROM call_records WHERE entry_at < $1`, recent.AddDate(0, 0, -1)); !reflect.DeepEqual(got, []string{"<null>"}) {
		t.Errorf("old records' numbers after masking: %v", got)
	}
	if got := numbers(t, db, `SELECT caller_number FROM call_records WHERE entry_at >= $1 AND caller_number IS NULL`, recent); len(got) != 0 {
		t.Errorf("recent records lost their number: %d of them", len(got))
	}
	rep1, oldDay1, recentDay1 := report()
	if !reflect.DeepEqual(rep0, rep1) {
		t.Errorf("report changed by masking:\nbefore %+v\nafter  %+v", rep0, rep1)
	}
	if !reflect.DeepEqual(oldDay0, oldDay1) || !reflect.DeepEqual(recentDay0, recentDay1) {
		t.Errorf("today's counts changed by masking")
	}

	// Idempotent: nothing more to do.
	if r, err := job.Run(ctx); err != nil || r != (retention.Result{}) {
		t.Errorf("second run: %+v, %v; want nothing done", r, err)
	}
}

// Finished tasks lose number, name, notes and the free text of their
// events after the period; active ones keep their number however old.
func TestTasksMasked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	ts := tasks.New(db.Pool())
	now := time.Now().UTC()
	mk := func(key string) tasks.Task {
		task, _, err := ts.Create(ctx, tasks.NewTask{Kind: tasks.KindQueueCallback, Queue: "general",
			Number: "+31612345678", CallerName: "J. Jansen", WindowStart: now.Add(-200 * day),
			WindowEnd: now.Add(-200*day + time.Hour), Notes: "belt over vergunning 0612345678",
			SourceKey: key, Actor: "caller"})
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	done := mk("done")
	done, err := ts.Complete(ctx, done.ID, "agent1", done.Version, tasks.Reached, "teruggebeld, adres Hoofdstraat 1", now.Add(-100*day), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := mk("cancelled")
	if cancelled, err = ts.Cancel(ctx, cancelled.ID, "agent1", cancelled.Version, "beller belde zelf terug"); err != nil {
		t.Fatal(err)
	}
	pending := mk("pending")

	clk := &clock{now: now.Add(89 * day)} // cancelled 89 days ago: kept
	job := retention.New(db.Pool(), retention.Options{Now: clk.Now})
	r, err := job.Run(ctx)
	if err != nil || r.Tasks != 1 {
		t.Fatalf("run: %+v, %v; want the task completed 100 days ago masked", r, err)
	}
	got, err := ts.Get(ctx, done.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != "" || got.CallerName != "" || got.Notes != "" || !got.MaskedAt.Equal(clk.Now().Truncate(time.Microsecond)) {
		t.Errorf("done task after masking: number %q name %q notes %q masked %v", got.Number, got.CallerName, got.Notes, got.MaskedAt)
	}
	if got.Status != tasks.Done || got.Result != string(tasks.Reached) || !got.CompletedAt.Equal(done.CompletedAt) || !got.WindowEnd.Equal(done.WindowEnd) {
		t.Errorf("masking changed what the callback metrics count: %+v", got)
	}
	hist, err := ts.History(ctx, done.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist {
		if s := string(e.Detail); containsAny(s, "Hoofdstraat", "vergunning", "notes") {
			t.Errorf("event %s keeps free text: %s", e.Action, s)
		}
	}
	if len(hist) < 2 {
		t.Errorf("history lost its events: %d", len(hist))
	}

	clk.set(now.Add(91 * day))
	if r, err := job.Run(ctx); err != nil || r.Tasks != 1 {
		t.Fatalf("run at 91 days: %+v, %v; want the cancelled task masked", r, err)
	}
	got, _ = ts.Get(ctx, cancelled.ID)
	hist, _ = ts.History(ctx, cancelled.ID)
	if got.Number != "" || got.MaskedAt.IsZero() || containsAny(fmt.Sprint(hist), "terug") {
		t.Errorf("cancelled task after masking: %+v, history %v", got, hist)
	}
	clk.set(now.Add(5000 * day))
	if _, err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := ts.Get(ctx, pending.ID); got.Number != "+31612345678" || !got.MaskedAt.IsZero() {
		t.Errorf("a pending callback lost its number: %+v", got)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

// Voicemails past the period: the recording is deleted in Asterisk, the
// caller removed, the finished task masked with it; an Asterisk that fails
// leaves the voicemail for the next run.
func TestVoicemailsRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	vs := voicemails.New(db.Pool())
	ts := tasks.New(db.Pool())
	now := time.Now().UTC()
	rec := &recordings{stored: map[string]bool{}}
	save := func(ch string, age time.Duration) voicemails.Voicemail {
		name := "vm-" + ch
		rec.stored[name] = true
		v, _, err := vs.Save(ctx, voicemails.NewVoicemail{Employee: "e1", CallerNumber: "0612345678",
			CallerName: "J. Jansen", ReceivedAt: now.Add(-age), Duration: 20 * time.Second, Recording: name, ChannelID: ch})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	heardDone := save("a", 40*day)
	task, _ := ts.Get(ctx, heardDone.TaskID)
	if _, err := ts.Complete(ctx, task.ID, "e1", task.Version, tasks.Reached, "", now.Add(-39*day), nil); err != nil {
		t.Fatal(err)
	}
	unheardOpen := save("b", 31*day)
	fresh := save("c", 2*day)

	clk := &clock{now: now}
	job := retention.New(db.Pool(), retention.Options{Now: clk.Now, Recordings: rec, Batch: 1})
	rec.fail = errors.New("asterisk: connection refused")
	if _, err := job.Run(ctx); err == nil {
		t.Fatal("a run whose recordings cannot be deleted succeeded")
	}
	if v, _ := vs.Get(ctx, heardDone.ID); v.Removed() || v.CallerNumber == "" {
		t.Errorf("voicemail marked removed while its recording is still in Asterisk: %+v", v)
	}
	rec.fail = nil
	r, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (retention.Result{Voicemails: 2, RecordingsDeleted: 2, Tasks: 1}); r != want {
		t.Errorf("run: %+v, want %+v", r, want)
	}
	for _, v := range []voicemails.Voicemail{heardDone, unheardOpen} {
		got, err := vs.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Removed() || got.CallerNumber != "" || got.CallerName != "" || rec.has(v.Recording) {
			t.Errorf("voicemail %s after the period: %+v, recording kept %v", v.ChannelID, got, rec.has(v.Recording))
		}
		if got.Duration != v.Duration || !got.ReceivedAt.Equal(v.ReceivedAt) {
			t.Errorf("voicemail %s lost what is counted: %+v", v.ChannelID, got)
		}
	}
	if got, _ := ts.Get(ctx, heardDone.TaskID); got.Number != "" || got.MaskedAt.IsZero() {
		t.Errorf("finished voicemail task kept its number: %+v", got)
	}
	if got, _ := ts.Get(ctx, unheardOpen.TaskID); got.Number != "+31612345678" {
		t.Errorf("open voicemail task lost its number before it was done: %+v", got)
	}
	if got, _ := vs.Get(ctx, fresh.ID); got.Removed() || !rec.has(fresh.Recording) {
		t.Errorf("a 2-day-old voicemail was removed")
	}
	list, err := vs.List(ctx, "e1", false)
	if err != nil || len(list) != 1 || list[0].ID != fresh.ID {
		t.Errorf("list after removal: %v, %v; want only the fresh one", list, err)
	}
	if n, o, err := vs.Counts(ctx, "e1"); err != nil || n != 1 || o != 0 {
		t.Errorf("mailbox counts after removal: new %d old %d, %v", n, o, err)
	}
	if _, err := vs.MarkHeard(ctx, unheardOpen.ID, now); !errors.Is(err, voicemails.ErrRemoved) {
		t.Errorf("marking a removed voicemail heard: %v, want ErrRemoved", err)
	}
	if r, err := job.Run(ctx); err != nil || r != (retention.Result{}) {
		t.Errorf("second run: %+v, %v", r, err)
	}
	// The open task is finished later: it goes the way of its voicemail
	// at the next run, not a task period later.
	open, _ := ts.Get(ctx, unheardOpen.TaskID)
	if _, err := ts.Cancel(ctx, open.ID, "e1", open.Version, "bericht was leeg"); err != nil {
		t.Fatal(err)
	}
	if r, err := job.Run(ctx); err != nil || r != (retention.Result{Tasks: 1}) {
		t.Errorf("run after the task was finished: %+v, %v; want it masked", r, err)
	}
	if got, _ := ts.Get(ctx, unheardOpen.TaskID); got.Number != "" || got.MaskedAt.IsZero() {
		t.Errorf("finished task of a removed voicemail kept its number: %+v", got)
	}
}

// A process that loses the lease stops before its next batch.
func TestStopsWhenNotActive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	old := time.Now().Add(-400 * day)
	var recs []store.CallRecord
	for i := range 10 {
		recs = append(recs, call(fmt.Sprint(i), old.Add(time.Duration(i)*time.Minute), 1000, store.OutcomeAnswered, "0612345678"))
	}
	if _, err := db.InsertCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	checks := 0
	active := func() bool {
		mu.Lock()
		defer mu.Unlock()
		checks++
		return checks <= 3 // voicemails, tasks, and one batch of call records
	}
	job := retention.New(db.Pool(), retention.Options{Batch: 4, Active: active})
	r, err := job.Run(ctx)
	if !errors.Is(err, retention.ErrNotActive) || r.CallRecords != 4 {
		t.Errorf("run: %+v, %v; want one batch of 4, then ErrNotActive", r, err)
	}
}

// The loop survives a PostgreSQL restart: the run that meets the stopped
// server reports a failure, a later one succeeds.
func TestLoopSurvivesPostgresRestart(t *testing.T) {
	c := pgtest.NewCluster(t)
	u := c.CreateDB("retention")
	ctx := context.Background()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{call("x", time.Now().Add(-400*day), 1000, store.OutcomeAnswered, "0612345678")}); err != nil {
		t.Fatal(err)
	}
	c.Stop("fast")
	type report struct {
		r   retention.Result
		err error
	}
	reports := make(chan report, 100)
	job := retention.New(db.Pool(), retention.Options{Retry: 20 * time.Millisecond, Delay: time.Nanosecond,
		Report: func(r retention.Result, err error) { reports <- report{r, err} }})
	job.Start(ctx)
	defer job.Stop()
	deadline := time.After(60 * time.Second)
	next := func() report {
		select {
		case rp := <-reports:
			return rp
		case <-deadline:
			t.Fatal("timed out waiting for a retention run")
		}
		return report{}
	}
	if rp := next(); rp.err == nil {
		t.Fatal("a run against a stopped PostgreSQL succeeded")
	}
	c.Start()
	for {
		if rp := next(); rp.err == nil {
			if rp.r.CallRecords != 1 {
				t.Errorf("first run after the restart: %+v, want 1 call record", rp.r)
			}
			break
		}
	}
	job.Stop()
	job.Stop() // idempotent
}
