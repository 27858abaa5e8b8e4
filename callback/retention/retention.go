// Package retention removes callers' personal data from PostgreSQL, and
// voicemail recordings from Asterisk, once their retention period has passed
// (AVG/GDPR art. 5(1)(c) data minimisation and 5(1)(e) storage limitation):
//
//   - call records: the caller's number, a period after the call ended;
//   - finished tasks (done, failed, cancelled): number, caller name, notes
//     and the free text of their events, a period after completion; an
//     active task keeps its number until it is finished;
//   - voicemails: the recording (in Asterisk) and the caller's number and
//     name, a period after the message was left, together with the
//     voicemail's task once that is finished (at once, or when it is).
//
// Rows are never deleted: the reports' counts and waits stay exact. The work
// is done in batches, each in its own transaction, and is idempotent: a run
// cut short by a database restart is finished by the next one. The package
// owns no table (migration 007_retention.sql of callmon/callback/store adds
// the masked_at columns) and knows no telephony: recordings are deleted
// through the small Recordings interface the caller hands it.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Periods, chosen in the README ("Retention (AVG)").
const (
	// DefaultCallRecords covers the year in which a complaint about how a
	// call was handled must be dealt with (Awb art. 9:8(1)(b)).
	DefaultCallRecords = 366 * 24 * time.Hour
	// DefaultTasks: a quarter after a callback was finished.
	DefaultTasks = 90 * 24 * time.Hour
	// DefaultVoicemails: a message is to be dealt with on the next working
	// day; a month covers holidays.
	DefaultVoicemails = 30 * 24 * time.Hour

	// DefaultInterval is how often the job runs; DefaultRetry how soon it
	// tries again after a failure (PostgreSQL or Asterisk away).
	DefaultInterval = time.Hour
	DefaultRetry    = time.Minute
	// DefaultDelay is the wait before the first run after Start: a process
	// that just became the active one adopts calls and restores today's
	// figures first; housekeeping can wait a minute.
	DefaultDelay = time.Minute
	// DefaultBatch is the rows changed per transaction: short locks, and a
	// first run over years of records does not hold one huge transaction.
	DefaultBatch = 500
)

// Periods are how long personal data is kept.
type Periods struct {
	CallRecords time.Duration // after the call ended
	Tasks       time.Duration // after the task was finished
	Voicemails  time.Duration // after the message was left
}

// DefaultPeriods returns the defaults.
func DefaultPeriods() Periods {
	return Periods{CallRecords: DefaultCallRecords, Tasks: DefaultTasks, Voicemails: DefaultVoicemails}
}

// Recordings deletes a stored recording in Asterisk (ARI DELETE
// /recordings/stored/{name}). A recording that does not exist (any more)
// must give nil: deleting is idempotent.
type Recordings interface {
	DeleteRecording(ctx context.Context, name string) error
}

// Result is what one run did.
type Result struct {
	CallRecords       int64 // call records whose caller number was removed
	Tasks             int64 // tasks masked
	Voicemails        int64 // voicemails masked
	RecordingsDeleted int64 // recordings deleted in Asterisk
}

func (r *Result) add(o Result) {
	r.CallRecords += o.CallRecords
	r.Tasks += o.Tasks
	r.Voicemails += o.Voicemails
	r.RecordingsDeleted += o.RecordingsDeleted
}

// Options configure a Job; zero values take the defaults.
type Options struct {
	Periods    Periods
	Recordings Recordings // nil: callmon keeps no recordings (voicemail mode dialplan)
	Now        func() time.Time
	// AfterFunc schedules the loop's runs (the daemon's clock, so tests
	// control it); default time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Active reports whether this process may act (holds the lease); it is
	// checked before every batch. nil: always.
	Active   func() bool
	Delay    time.Duration // before the first run after Start
	Interval time.Duration
	Retry    time.Duration
	Batch    int
	Log      *slog.Logger
	// Report receives the outcome of every run (metrics).
	Report func(Result, error)
}

// Job masks what has passed its retention period.
type Job struct {
	pool *pgxpool.Pool
	o    Options

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a job on pool, whose database has migration 007 applied.
func New(pool *pgxpool.Pool, o Options) *Job {
	if o.Periods == (Periods{}) {
		o.Periods = DefaultPeriods()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Active == nil {
		o.Active = func() bool { return true }
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Job{pool: pool, o: o}
}

// ErrNotActive: the process lost the lease during a run; the run stopped.
var ErrNotActive = errors.New("retention: this process is no longer the active one")

// Run masks everything past its period, batch by batch, until nothing is
// left or an error occurs. What was done before an error stays done.
func (j *Job) Run(ctx context.Context) (Result, error) {
	now := j.o.Now()
	var total Result
	steps := []struct {
		name string
		f    func(context.Context, time.Time) (Result, bool, error)
	}{
		{"voicemails", j.voicemails},
		{"tasks", j.tasks},
		{"call records", j.callRecords},
	}
	for _, s := range steps {
		for {
			if !j.o.Active() {
				return total, ErrNotActive
			}
			r, more, err := s.f(ctx, now)
			total.add(r)
			if err != nil {
				return total, fmt.Errorf("retention of %s: %w", s.name, err)
			}
			if !more {
				break
			}
		}
	}
	return total, nil
}

// callRecords removes the caller's number of one batch of call records.
func (j *Job) callRecords(ctx context.Context, now time.Time) (Result, bool, error) {
	tag, err := j.pool.Exec(ctx, `
		WITH b AS (
		    SELECT id FROM call_records
		     WHERE caller_number IS NOT NULL AND ended_at < @cutoff
		     ORDER BY ended_at LIMIT @n FOR UPDATE SKIP LOCKED
		)
		UPDATE call_records c SET caller_number = NULL FROM b WHERE c.id = b.id`,
		pgx.NamedArgs{"cutoff": now.Add(-j.o.Periods.CallRecords), "n": j.o.Batch})
	if err != nil {
		return Result{}, false, err
	}
	n := tag.RowsAffected()
	return Result{CallRecords: n}, n == int64(j.o.Batch), nil
}

// maskTasksSQL masks the tasks of CTE b (ids of finished tasks), and the
// free text (notes, cancel reasons) of their events; the rest of the
// history (who, what, when) stays.
const maskTasksSQL = `
		e AS (
		    UPDATE task_events SET detail = detail - 'notes' - 'reason'
		     WHERE task_id IN (SELECT id FROM b) AND detail ?| array['notes', 'reason']
		)
		UPDATE tasks t SET number = NULL, caller_name = NULL, notes = '', masked_at = @now,
		       updated_at = @now, version = t.version + 1
		  FROM b WHERE t.id = b.id AND t.masked_at IS NULL AND t.status IN ('done', 'failed', 'cancelled')`

// tasks masks one batch of tasks finished before the period, and of
// voicemail tasks finished after their voicemail was removed.
func (j *Job) tasks(ctx context.Context, now time.Time) (Result, bool, error) {
	tag, err := j.pool.Exec(ctx, `
		WITH b AS (
		    SELECT id FROM tasks
		     WHERE masked_at IS NULL AND status IN ('done', 'failed', 'cancelled')
		       AND (completed_at < @cutoff
		            OR (kind = 'voicemail' AND EXISTS (SELECT 1 FROM voicemails v
		                                                WHERE v.task_id = tasks.id AND v.masked_at IS NOT NULL)))
		     ORDER BY completed_at LIMIT @n FOR UPDATE SKIP LOCKED
		), `+maskTasksSQL,
		pgx.NamedArgs{"cutoff": now.Add(-j.o.Periods.Tasks), "n": j.o.Batch, "now": now})
	if err != nil {
		return Result{}, false, err
	}
	n := tag.RowsAffected()
	return Result{Tasks: n}, n == int64(j.o.Batch), nil
}

// voicemails deletes the recordings of one batch of voicemails left before
// the period, then masks each voicemail and, when it is finished, its task.
// A recording is deleted before its row is marked: when marking fails, the
// next run deletes again, which Recordings answers with nil.
func (j *Job) voicemails(ctx context.Context, now time.Time) (Result, bool, error) {
	rows, err := j.pool.Query(ctx, `
		SELECT id, recording FROM voicemails
		 WHERE masked_at IS NULL AND received_at < @cutoff
		 ORDER BY received_at, id LIMIT @n`,
		pgx.NamedArgs{"cutoff": now.Add(-j.o.Periods.Voicemails), "n": j.o.Batch})
	if err != nil {
		return Result{}, false, err
	}
	type vm struct {
		ID        int64  `db:"id"`
		Recording string `db:"recording"`
	}
	batch, err := pgx.CollectRows(rows, pgx.RowToStructByName[vm])
	if err != nil {
		return Result{}, false, err
	}
	var r Result
	for _, v := range batch {
		if !j.o.Active() {
			return r, false, ErrNotActive
		}
		if j.o.Recordings != nil {
			if err := j.o.Recordings.DeleteRecording(ctx, v.Recording); err != nil {
				return r, false, fmt.Errorf("deleting recording of voicemail %d: %w", v.ID, err)
			}
			r.RecordingsDeleted++
		}
		err := pgx.BeginFunc(ctx, j.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `
				UPDATE voicemails SET caller_number = NULL, caller_name = '', masked_at = @now
				 WHERE id = @id AND masked_at IS NULL`, pgx.NamedArgs{"id": v.ID, "now": now})
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			r.Voicemails++
			tag, err = tx.Exec(ctx, `
				WITH b AS (SELECT task_id AS id FROM voicemails WHERE id = @id), `+maskTasksSQL,
				pgx.NamedArgs{"id": v.ID, "now": now})
			r.Tasks += tag.RowsAffected()
			return err
		})
		if err != nil {
			return r, false, fmt.Errorf("masking voicemail %d: %w", v.ID, err)
		}
	}
	return r, len(batch) == j.o.Batch, nil
}

// Start runs the job after Delay and then every Interval (Retry after a
// failure) until Stop or ctx ends. Call Start again after Stop to resume.
func (j *Job) Start(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancel != nil {
		return
	}
	ctx, j.cancel = context.WithCancel(ctx)
	j.done = make(chan struct{})
	go j.loop(ctx, j.done)
}

// Stop ends the loop and waits for a run in progress to stop. It is
// idempotent.
func (j *Job) Stop() {
	j.mu.Lock()
	cancel, done := j.cancel, j.done
	j.cancel, j.done = nil, nil
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// sleep waits d on the job's clock; false when ctx ended first.
func (j *Job) sleep(ctx context.Context, d time.Duration) bool {
	fired := make(chan struct{})
	stop := j.o.AfterFunc(d, func() { close(fired) })
	select {
	case <-ctx.Done():
		stop()
		return false
	case <-fired:
		return true
	}
}

func (j *Job) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	if !j.sleep(ctx, j.o.Delay) {
		return
	}
	for {
		r, err := j.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := j.o.Interval
		switch {
		case errors.Is(err, ErrNotActive):
			j.o.Log.Info("retention stopped: this process is no longer the active one")
		case err != nil:
			wait = j.o.Retry
			j.o.Log.Warn("retention run failed; retrying later", "retry_in", wait, "err", err,
				"call_records", r.CallRecords, "tasks", r.Tasks, "voicemails", r.Voicemails)
		case r != (Result{}):
			j.o.Log.Info("retention: personal data past its period removed",
				"call_records", r.CallRecords, "tasks", r.Tasks, "voicemails", r.Voicemails,
				"recordings_deleted", r.RecordingsDeleted)
		}
		if j.o.Report != nil && !errors.Is(err, ErrNotActive) {
			j.o.Report(r, err)
		}
		if !j.sleep(ctx, wait) {
			return
		}
	}
}
