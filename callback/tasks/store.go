package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps the tasks in PostgreSQL. It is safe for concurrent use, also
// by several callmon instances on one database.
type Store struct {
	pool       *pgxpool.Pool
	log        *slog.Logger
	listenIdle time.Duration // Listen checks an idle connection after this long
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets where Listen reports lost connections (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// New returns a store on pool, whose database has migrations 002_tasks.sql
// to 008_task_claims.sql (store.DB.Migrate) applied.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, log: slog.New(slog.DiscardHandler), listenIdle: defaultListenIdle}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Actions recorded in the history (Event.Action).
const (
	ActionCreated      = "created"
	ActionClaimed      = "claimed"
	ActionDialing      = "dialing"
	ActionResult       = "result" // a result was recorded; To says whether the task ended
	ActionRescheduled  = "rescheduled"
	ActionCancelled    = "cancelled"
	ActionLeaseExpired = "lease_expired"
)

// Event is one entry of a task's history.
type Event struct {
	ID     int64           `json:"id"`
	TaskID int64           `json:"task_id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"` // agent id, dispatcher (lease owner), "caller" or "system"
	Action string          `json:"action"`
	From   Status          `json:"from_status,omitempty"` // "" for ActionCreated
	To     Status          `json:"to_status"`
	Detail json.RawMessage `json:"detail"` // a JSON object: what changed
}

// systemActor is the actor of changes nobody asked for (expired leases).
const systemActor = "system"

// columns selects a task for scanTask.
const columns = `id, kind, queue, coalesce(number, ''), coalesce(caller_name, ''), window_start, window_end,
	coalesce(assignee, ''), claimed_from_pool, status, attempts, max_attempts, coalesce(lease_owner, ''),
	lease_expires, notes, coalesce(result, ''), coalesce(source_key, ''), created_at, updated_at,
	completed_at, version, masked_at`

// scanTask reads a row selected with columns, followed by extra columns.
func scanTask(row pgx.Row, extra ...any) (Task, error) {
	var t Task
	var leaseExpires, completedAt, maskedAt pgtype.Timestamptz
	dest := []any{&t.ID, &t.Kind, &t.Queue, &t.Number, &t.CallerName, &t.WindowStart, &t.WindowEnd,
		&t.Assignee, &t.ClaimedFromPool, &t.Status, &t.Attempts, &t.MaxAttempts, &t.LeaseOwner,
		&leaseExpires, &t.Notes, &t.Result, &t.SourceKey, &t.CreatedAt, &t.UpdatedAt,
		&completedAt, &t.Version, &maskedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return Task{}, err
	}
	t.WindowStart, t.WindowEnd = t.WindowStart.UTC(), t.WindowEnd.UTC()
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	if leaseExpires.Valid {
		t.LeaseExpires = leaseExpires.Time.UTC()
	}
	if completedAt.Valid {
		t.CompletedAt = completedAt.Time.UTC()
	}
	if maskedAt.Valid {
		t.MaskedAt = maskedAt.Time.UTC()
	}
	return t, nil
}

func collectTasks(rows pgx.Rows) ([]Task, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanTask(r) })
}

// nullTime is NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// dbError turns errors of statements the table refuses into ErrInvalid; the
// input was validated, so this means a check the Go code does not repeat.
func dbError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		return fmt.Errorf("%w: %s", ErrInvalid, pgErr.Message)
	}
	return err
}

func marshalDetail(d map[string]any) string {
	if len(d) == 0 {
		return "{}"
	}
	b, err := json.Marshal(d)
	if err != nil { // only plain values go in
		panic(err)
	}
	return string(b)
}

func insertEvent(ctx context.Context, tx pgx.Tx, taskID int64, at time.Time, actor, action string, from, to Status, detail map[string]any) error {
	_, err := tx.Exec(ctx, `INSERT INTO task_events (task_id, at, actor, action, from_status, to_status, detail)
		VALUES (@task_id, @at, @actor, @action, NULLIF(@from, ''), @to, @detail)`, pgx.NamedArgs{
		"task_id": taskID, "at": at, "actor": actor, "action": action,
		"from": string(from), "to": string(to), "detail": marshalDetail(detail),
	})
	return err
}

// Create stores a new pending task. When t.SourceKey is set and a task with
// that key exists, it returns that task and created=false, and changes
// nothing. Invalid input gives ErrInvalid; any other error means the
// database could not be reached or failed, and retrying may succeed.
func (s *Store) Create(ctx context.Context, t NewTask) (task Task, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		task, created, err = s.CreateTx(ctx, tx, t)
		return err
	})
	if err != nil {
		return Task{}, false, dbError(err)
	}
	return task, created, nil
}

// CreateTx is Create inside the caller's transaction tx, for a task that
// must exist exactly when the caller's own rows do (a voicemail and its
// task). The task, its history row and its NOTIFY take effect when tx
// commits. After an error, roll tx back: it may be aborted.
func (s *Store) CreateTx(ctx context.Context, tx pgx.Tx, t NewTask) (task Task, created bool, err error) {
	t.CallerName = cleanName(t.CallerName)
	if err := t.validate(); err != nil {
		return Task{}, false, err
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	task, err = scanTask(tx.QueryRow(ctx, `
		INSERT INTO tasks (kind, queue, number, caller_name, window_start, window_end, assignee,
			max_attempts, notes, source_key)
		VALUES (@kind, @queue, NULLIF(@number, ''), NULLIF(@caller_name, ''), @window_start, @window_end,
			NULLIF(@assignee, ''), @max_attempts, @notes, NULLIF(@source_key, ''))
		ON CONFLICT (source_key) DO NOTHING
		RETURNING `+columns, pgx.NamedArgs{
		"kind": string(t.Kind), "queue": t.Queue, "number": t.Number, "caller_name": t.CallerName,
		"window_start": t.WindowStart, "window_end": t.WindowEnd, "assignee": t.Assignee,
		"max_attempts": t.MaxAttempts, "notes": strings.TrimSpace(t.Notes), "source_key": t.SourceKey,
	}))
	if errors.Is(err, pgx.ErrNoRows) {
		// The key exists (a concurrent Create with it has committed).
		task, err = scanTask(tx.QueryRow(ctx, `SELECT `+columns+` FROM tasks WHERE source_key = $1`, t.SourceKey))
		if err != nil {
			return Task{}, false, dbError(err)
		}
		return task, false, nil
	}
	if err != nil {
		return Task{}, false, dbError(err)
	}
	err = insertEvent(ctx, tx, task.ID, task.CreatedAt, t.Actor, ActionCreated, "", Pending, map[string]any{
		"kind": task.Kind, "queue": task.Queue, "assignee": task.Assignee,
		"window_start": task.WindowStart, "window_end": task.WindowEnd, "source_key": task.SourceKey,
	})
	if err != nil {
		return Task{}, false, dbError(err)
	}
	return task, true, nil
}

// Get returns the task with id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, textErr(ErrNotFound, "task %d", id)
	}
	return t, err
}

// Filter selects tasks for List. Empty fields select everything.
type Filter struct {
	// Assignee and Queues are ORed: the tasks assigned to Assignee, and the
	// pool tasks (no assignee) of Queues — "mine or my queues' pool". Both
	// empty: every task (a supervisor's view).
	Assignee string
	Queues   []string
	Statuses []Status // any of these; empty: all
	// OverdueAt, when set, selects only tasks still waiting (pending or
	// claimed) whose window ended before it.
	OverdueAt time.Time
	Limit     int // at most this many; <= 0: no limit
}

// List returns the tasks f selects, ordered by window start, then id.
func (s *Store) List(ctx context.Context, f Filter) ([]Task, error) {
	var where []string
	args := pgx.NamedArgs{}
	var who []string
	if f.Assignee != "" {
		who = append(who, "assignee = @assignee")
		args["assignee"] = f.Assignee
	}
	if len(f.Queues) > 0 {
		who = append(who, "(assignee IS NULL AND queue = ANY(@queues))")
		args["queues"] = f.Queues
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if len(f.Statuses) > 0 {
		statuses := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			if !st.Valid() {
				return nil, invalidf("status %q is not one of pending, claimed, dialing, done, failed, cancelled", st)
			}
			statuses[i] = string(st)
		}
		where = append(where, "status = ANY(@statuses)")
		args["statuses"] = statuses
	}
	if !f.OverdueAt.IsZero() {
		where = append(where, "status IN ('pending', 'claimed') AND window_end < @overdue_at")
		args["overdue_at"] = f.OverdueAt
	}
	q := `SELECT ` + columns + ` FROM tasks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY window_start, id`
	if f.Limit > 0 {
		q += ` LIMIT @limit`
		args["limit"] = f.Limit
	}
	rows, err := s.pool.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	return collectTasks(rows)
}

// step is one change of a task decided by a plan: the task as it is to be,
// and what the history says about it.
type step struct {
	next   Task
	action string
	detail map[string]any
}

// conflict returns ErrConflict saying why cur does not allow the change.
func conflict(cur Task, format string, a ...any) error {
	return textErr(ErrConflict, "task %d "+format, append([]any{cur.ID}, a...)...)
}

func notActive(cur Task) error {
	return conflict(cur, "is %s already", cur.Status)
}

// change applies plan to the task with id at the expected version, in one
// transaction with its history row. plan sees the current row, locked, and
// the time of the change: now, or the database's time when now is zero. On
// ErrConflict and ErrForbidden the current task is returned with the error.
func (s *Store) change(ctx context.Context, id, version int64, actor string, now time.Time,
	plan func(cur Task, at time.Time) (step, error)) (Task, error) {
	var out Task
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var dbNow time.Time
		cur, err := scanTask(tx.QueryRow(ctx, `SELECT `+columns+`, now() FROM tasks WHERE id = $1 FOR UPDATE`, id), &dbNow)
		if errors.Is(err, pgx.ErrNoRows) {
			return textErr(ErrNotFound, "task %d", id)
		}
		if err != nil {
			return err
		}
		out = cur
		if cur.Version != version {
			return conflict(cur, "was changed meanwhile: it is at version %d (%s), not %d", cur.Version, cur.Status, version)
		}
		at := now
		if at.IsZero() {
			at = dbNow
		}
		st, err := plan(cur, at)
		if err != nil {
			return err
		}
		n := st.next
		next, err := scanTask(tx.QueryRow(ctx, `
			UPDATE tasks SET status = @status, assignee = NULLIF(@assignee, ''), claimed_from_pool = @from_pool,
				attempts = @attempts, lease_owner = NULLIF(@lease_owner, ''), lease_expires = @lease_expires,
				notes = @notes, result = NULLIF(@result, ''), window_start = @window_start,
				window_end = @window_end, completed_at = @completed_at, updated_at = @at, version = version + 1
			WHERE id = @id AND version = @version AND status = @expected
			RETURNING `+columns, pgx.NamedArgs{
			"status": string(n.Status), "assignee": n.Assignee, "from_pool": n.ClaimedFromPool,
			"attempts": n.Attempts, "lease_owner": n.LeaseOwner, "lease_expires": nullTime(n.LeaseExpires),
			"notes": n.Notes, "result": n.Result, "window_start": n.WindowStart, "window_end": n.WindowEnd,
			"completed_at": nullTime(n.CompletedAt), "at": at,
			"id": id, "version": version, "expected": string(cur.Status),
		}))
		if errors.Is(err, pgx.ErrNoRows) { // cannot happen while the row is locked; never overwrite
			return conflict(cur, "was changed meanwhile")
		}
		if err != nil {
			return err
		}
		out = next
		return insertEvent(ctx, tx, id, at, actor, st.action, cur.Status, next.Status, st.detail)
	})
	if err != nil {
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrForbidden) {
			out = Task{}
		}
		return out, dbError(err)
	}
	return out, nil
}

// Claim gives the task to agent for lease: a pending task, a task whose
// lease has expired, or — to renew the lease — a task agent has claimed.
// The task becomes Claimed, assigned to agent, with agent as lease owner;
// claimed from the pool, it returns there when the claim ends without a
// result. Anything else gives ErrConflict.
func (s *Store) Claim(ctx context.Context, id int64, agent string, version int64, lease time.Duration, now time.Time) (Task, error) {
	if err := checkName("agent", agent); err != nil {
		return Task{}, err
	}
	if lease <= 0 {
		return Task{}, invalidf("the lease must be positive, not %s", lease)
	}
	if err := checkNow(now); err != nil {
		return Task{}, err
	}
	return s.change(ctx, id, version, agent, now, func(cur Task, at time.Time) (step, error) {
		base := cur
		switch {
		case cur.Status == Pending:
		case cur.leaseExpired(at):
			base = cur.release() // the previous holder's claim has ended
		case cur.Status == Claimed && cur.LeaseOwner == agent:
		default:
			if cur.Status.Active() {
				return step{}, conflict(cur, "is %s by %s until %s", cur.Status, cur.LeaseOwner, cur.LeaseExpires.Format(time.RFC3339))
			}
			return step{}, notActive(cur)
		}
		n := base
		n.ClaimedFromPool = base.Assignee == "" || base.ClaimedFromPool
		n.Assignee = agent
		n.Status = Claimed
		n.LeaseOwner, n.LeaseExpires = agent, at.Add(lease)
		return step{n, ActionClaimed, map[string]any{
			"lease_owner": agent, "lease_expires": n.LeaseExpires.UTC(), "previous_owner": cur.LeaseOwner,
		}}, nil
	})
}

// SetDialing marks a task the owner has claimed as being called. The lease
// is not extended: claim for longer than an attempt lasts. A task claimed by
// someone else gives ErrForbidden, one not claimed ErrConflict.
func (s *Store) SetDialing(ctx context.Context, id int64, owner string, version int64, now time.Time) (Task, error) {
	if err := checkName("owner", owner); err != nil {
		return Task{}, err
	}
	if err := checkNow(now); err != nil {
		return Task{}, err
	}
	return s.change(ctx, id, version, owner, now, func(cur Task, at time.Time) (step, error) {
		if cur.Status != Claimed {
			return step{}, conflict(cur, "is %s, not claimed", cur.Status)
		}
		if cur.LeaseOwner != owner {
			return step{}, textErr(ErrForbidden, "task %d is claimed by %s, not by %s", cur.ID, cur.LeaseOwner, owner)
		}
		n := cur
		n.Status = Dialing
		return step{n, ActionDialing, nil}, nil
	})
}

// Complete records the result of an attempt on an active task, by actor at
// now, and adds notes (if any) to the task's notes on a line of their own.
// Every result counts as an attempt. Reached: Done. WrongNumber: Failed.
// NoAnswer: Failed when the attempts reach MaxAttempts, else Pending again,
// with the lease cleared (a pool claim returns to the pool), in the window
// next(now) returns; when next is nil or finds no slot the window stays as
// it was, so the task shows as overdue rather than being lost.
func (s *Store) Complete(ctx context.Context, id int64, actor string, version int64, r Result, notes string, now time.Time,
	next func(after time.Time) (start, end time.Time, ok bool)) (Task, error) {
	if !r.Valid() {
		return Task{}, invalidf("result %q is not one of reached, no_answer, wrong_number", r)
	}
	if err := checkName("actor", actor); err != nil {
		return Task{}, err
	}
	if err := checkText("notes", notes, MaxNoteLen); err != nil {
		return Task{}, err
	}
	if err := checkNow(now); err != nil {
		return Task{}, err
	}
	// Ask for the slot before locking the row: next may read the database.
	var slotStart, slotEnd time.Time
	slot := false
	if r == NoAnswer && next != nil {
		slotStart, slotEnd, slot = next(now)
		if slot {
			if err := checkWindow(slotStart, slotEnd); err != nil {
				return Task{}, fmt.Errorf("next slot: %w", err)
			}
		}
	}
	return s.change(ctx, id, version, actor, now, func(cur Task, at time.Time) (step, error) {
		if !cur.Status.Active() {
			return step{}, notActive(cur)
		}
		n := cur
		n.Attempts++
		n.Result = string(r)
		n.Notes = appendNote(cur.Notes, notes)
		detail := map[string]any{"result": r, "attempt": n.Attempts}
		if strings.TrimSpace(notes) != "" {
			detail["notes"] = strings.TrimSpace(notes)
		}
		switch {
		case r == Reached:
			// The assignee stays: it says who did it.
			n.LeaseOwner, n.LeaseExpires = "", time.Time{}
			n.Status, n.CompletedAt = Done, at
		case r == WrongNumber || n.Attempts >= n.MaxAttempts:
			n.LeaseOwner, n.LeaseExpires = "", time.Time{}
			n.Status, n.CompletedAt = Failed, at
		default: // no answer, attempts left
			n = n.release()
			n.Status = Pending
			if slot {
				n.WindowStart, n.WindowEnd = slotStart, slotEnd
				detail["window_start"], detail["window_end"] = slotStart.UTC(), slotEnd.UTC()
			} else {
				detail["no_slot"] = true
			}
		}
		return step{n, ActionResult, detail}, nil
	})
}

// Reschedule moves an active task to the window [start, end) and makes it
// Pending again (the lease is cleared; a pool claim returns to the pool),
// adding notes to the task's notes. Whether the window lies inside opening
// hours is the caller's to check.
func (s *Store) Reschedule(ctx context.Context, id int64, actor string, version int64, start, end time.Time, notes string) (Task, error) {
	if err := checkName("actor", actor); err != nil {
		return Task{}, err
	}
	if err := checkWindow(start, end); err != nil {
		return Task{}, err
	}
	if err := checkText("notes", notes, MaxNoteLen); err != nil {
		return Task{}, err
	}
	return s.change(ctx, id, version, actor, time.Time{}, func(cur Task, _ time.Time) (step, error) {
		if !cur.Status.Active() {
			return step{}, notActive(cur)
		}
		n := cur.release()
		n.Status = Pending
		n.WindowStart, n.WindowEnd = start, end
		n.Notes = appendNote(cur.Notes, notes)
		detail := map[string]any{
			"window_start": start.UTC(), "window_end": end.UTC(),
			"previous_window_start": cur.WindowStart, "previous_window_end": cur.WindowEnd,
		}
		if strings.TrimSpace(notes) != "" {
			detail["notes"] = strings.TrimSpace(notes)
		}
		return step{n, ActionRescheduled, detail}, nil
	})
}

// Cancel ends an active task: nobody is to call. The reason is added to the
// task's notes.
func (s *Store) Cancel(ctx context.Context, id int64, actor string, version int64, reason string) (Task, error) {
	if err := checkName("actor", actor); err != nil {
		return Task{}, err
	}
	if err := checkText("reason", reason, MaxNoteLen); err != nil {
		return Task{}, err
	}
	return s.change(ctx, id, version, actor, time.Time{}, func(cur Task, at time.Time) (step, error) {
		if !cur.Status.Active() {
			return step{}, notActive(cur)
		}
		n := cur
		n.LeaseOwner, n.LeaseExpires = "", time.Time{}
		n.Status, n.CompletedAt = Cancelled, at
		n.Notes = appendNote(cur.Notes, reason)
		return step{n, ActionCancelled, map[string]any{"reason": strings.TrimSpace(reason)}}, nil
	})
}

// History returns the task's events, oldest first, or ErrNotFound.
func (s *Store) History(ctx context.Context, id int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, task_id, at, actor, action, coalesce(from_status, ''), to_status, detail
		FROM task_events WHERE task_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var detail []byte
		err := r.Scan(&e.ID, &e.TaskID, &e.At, &e.Actor, &e.Action, &e.From, &e.To, &detail)
		e.At, e.Detail = e.At.UTC(), detail
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if len(events) == 0 { // every task has its creation event
		if _, err := s.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	return events, nil
}
