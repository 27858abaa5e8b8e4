package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Automatic dialling (DESIGN §4.3): for queues with auto_dial, a Dispatcher
// takes the tasks whose window has started and has a Dialer — callmon's ARI
// application, behind this small interface, as this package knows no
// telephony — ring an agent and then the customer. The outcome is recorded
// on the task like an agent's own attempt.

// Call is one task to call back, as a Dialer needs it.
type Call struct {
	TaskID     int64
	Kind       Kind
	Queue      string
	Number     string // E.164
	CallerName string
	// Assignee is the task's agent, to be rung first when available; ""
	// for the queue's pool.
	Assignee string
	Attempt  int // 1 for the first attempt
	// CustomerDialling must run right before the customer is dialled: it
	// notes the dial in the task, so that no dispatcher dials this attempt's
	// customer again if the dial is interrupted (a crash, a takeover). An
	// error means the customer must not be dialled.
	CustomerDialling func() error
}

// AgentUnavailable is the Outcome of a Dial in which no agent took the
// call (none answered, or the agent left before the customer answered):
// the customer was not called, so it is no Result of an attempt (Valid
// reports false) and the task goes back to Pending without one.
const AgentUnavailable Result = "agent_unavailable"

// Outcome is what became of a Dial.
type Outcome struct {
	// Result is Reached, NoAnswer or WrongNumber for an attempt at the
	// customer, recorded with Complete; AgentUnavailable (or "") when no
	// attempt was made.
	Result Result
	Agent  string // the agent who was rung
	Note   string // what happened, added to the task's notes with the result
}

// Dialer makes one automatic callback. Dial returns once the outcome is
// known (for Reached: once customer and agent are connected; their
// conversation may go on). An error means the customer was not reached and
// nothing is left ringing; the task goes back to Pending without an
// attempt. Dial must return when ctx ends, and well within the lease.
type Dialer interface {
	Dial(ctx context.Context, c Call) (Outcome, error)
}

// DialerFunc is a function used as a Dialer.
type DialerFunc func(ctx context.Context, c Call) (Outcome, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context, c Call) (Outcome, error) { return f(ctx, c) }

// Clock is the Dispatcher's time source.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f after d of this clock's time; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	Store  *Store
	Dialer Dialer
	// Owner is the lease owner and the actor in the tasks' history: this
	// callmon instance, unique among the instances sharing the database
	// (e.g. callmon@host/pid).
	Owner string
	// Queues are the queues whose tasks are dialled automatically.
	Queues []string
	// Idle reports how many agents of queue could take a call now; a tick
	// claims no more of the queue's due tasks than that, so tasks are not
	// claimed only to be released. nil: one task per queue and tick.
	Idle func(queue string) int
	// Next returns the next free slot of queue after a time, for a task
	// whose customer did not answer (Complete's next). nil or !ok: the
	// task keeps its window and shows as overdue.
	Next func(queue string, after time.Time) (start, end time.Time, ok bool)
	// Every is the safety poll, the longest time between two ticks (0:
	// DefaultDispatchEvery). Ticks come when a task falls due: a timer is
	// set on the next window start or lease end of the queues, and a task
	// that becomes pending (Changes) moves it earlier.
	Every time.Duration
	// Recheck is how soon the queues are looked at again while due tasks
	// wait for an idle agent, after a tick failed, and after a dial gave a
	// task back (0: DefaultRecheck).
	Recheck time.Duration
	// Changes delivers every change of a task to fn until ctx ends, like
	// Store.Listen (nil: Store.Listen on a connection of its own). Through
	// NOTIFY a task created, rescheduled or released by any instance wakes
	// the dispatchers of all.
	Changes func(ctx context.Context, fn func(Change)) error
	// Lease is how long a claimed task is held (0: DefaultDialLease); it
	// must outlast any Dial, or another instance may call the customer
	// again.
	Lease time.Duration
	// ErrorPause: after a Dial that failed (Asterisk unreachable, say), the
	// queue is not dispatched for this long (0: DefaultErrorPause), so a
	// failure does not claim and release tasks every tick.
	ErrorPause time.Duration
	Clock      Clock // nil: the wall clock
	Log        *slog.Logger
}

// Defaults of DispatcherConfig.
const (
	DefaultDispatchEvery = time.Minute
	DefaultRecheck       = 5 * time.Second
	DefaultDialLease     = 10 * time.Minute
	DefaultErrorPause    = time.Minute
)

// ActionReleased is the history action of Release.
const ActionReleased = "released"

// Dispatcher dials due tasks of the auto-dial queues: each tick it returns
// expired leases (ExpireLeases), and for each queue claims (ClaimDue, FOR
// UPDATE SKIP LOCKED with a lease, so two instances never take one task) as
// many due tasks as the queue has idle agents, marks each Dialing and dials
// it on a goroutine of its own. Then: Reached → Done; NoAnswer → Pending in
// the next slot (Failed after the task's last attempt); WrongNumber →
// Failed; AgentUnavailable or an error → Release: Pending again, no attempt
// counted, dialled again on a later tick.
//
// After a tick it sets one timer: on the next window start or lease end of
// its queues, sooner (Recheck) while due tasks wait for an agent, never
// later than the safety poll (Every). A task of its queues becoming
// pending, announced by NOTIFY, moves the timer earlier or ticks at once.
type Dispatcher struct {
	cfg    DispatcherConfig
	ctx    context.Context // ends with Stop: dials in progress are abandoned
	cancel context.CancelFunc
	wake   chan struct{} // a tick is wanted now

	mu        sync.Mutex
	started   bool
	stopped   bool
	paused    map[string]time.Time // queue → not dispatched before then
	stopTimer func() bool
	timerAt   time.Time // when the timer fires; zero: none set
	timerSeq  uint64
	// heard is the earliest due time announced since the running tick
	// began: its own look at the queues may have missed it.
	heard time.Time
	// quiet: tasks this dispatcher gave back, by when a notification of
	// them may wake it again — not at once, or a task nobody can take
	// would be claimed and released in a loop.
	quiet   map[int64]time.Time
	ticking sync.WaitGroup
	dials   sync.WaitGroup
}

// NewDispatcher checks cfg and returns a Dispatcher; Start makes it tick,
// RunOnce runs one tick.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Dialer == nil {
		return nil, invalidf("a dispatcher needs a store and a dialer")
	}
	if err := checkName("owner", cfg.Owner); err != nil {
		return nil, err
	}
	for _, q := range cfg.Queues {
		if err := checkName("queue", q); err != nil {
			return nil, err
		}
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultDispatchEvery
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultDialLease
	}
	if cfg.ErrorPause <= 0 {
		cfg.ErrorPause = DefaultErrorPause
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Changes == nil {
		store := cfg.Store
		cfg.Changes = func(ctx context.Context, fn func(Change)) error { return store.Listen(ctx, nil, fn) }
	}
	d := &Dispatcher{cfg: cfg, paused: map[string]time.Time{}, quiet: map[int64]time.Time{},
		wake: make(chan struct{}, 1)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Start runs a tick now and then whenever a task falls due, until Stop.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.stopped {
		return
	}
	d.started = true
	d.ticking.Add(2)
	go func() {
		defer d.ticking.Done()
		for {
			select {
			case <-d.ctx.Done():
				return
			case <-d.wake:
			}
			d.tick()
		}
	}()
	go func() {
		defer d.ticking.Done()
		// Listen reconnects by itself; it returns when the dispatcher stops.
		if err := d.cfg.Changes(d.ctx, d.changed); err != nil && d.ctx.Err() == nil {
			d.cfg.Log.Warn("automatic callbacks: task changes not followed; dialling on the timer only", "err", err)
		}
	}()
	d.poke()
}

// poke asks for a tick now.
func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default: // one is wanted already
	}
}

func (d *Dispatcher) tick() {
	d.mu.Lock()
	d.heard = time.Time{}
	d.mu.Unlock()
	_, next, err := d.run(d.ctx, d.cfg.Clock.Now())
	if err != nil && d.ctx.Err() == nil {
		d.cfg.Log.Warn("automatic callbacks: dispatching failed; trying again", "err", err, "retry_in", d.cfg.Recheck)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setTimer(earliest(next, d.heard))
}

// setTimer makes the next tick come at at. d.mu is held.
func (d *Dispatcher) setTimer(at time.Time) {
	if d.stopped {
		return
	}
	if d.stopTimer != nil {
		d.stopTimer()
	}
	d.timerSeq++
	seq := d.timerSeq
	d.timerAt = at
	d.stopTimer = d.cfg.Clock.AfterFunc(at.Sub(d.cfg.Clock.Now()), func() {
		d.mu.Lock()
		if seq == d.timerSeq {
			d.timerAt, d.stopTimer = time.Time{}, nil
		}
		d.mu.Unlock()
		d.poke()
	})
}

// changed follows a task change: a task of the queues that became pending
// is due at its window start, a held one at the end of its lease.
func (d *Dispatcher) changed(c Change) {
	if c.Resync { // changes may have been missed
		d.poke()
		return
	}
	if !slices.Contains(d.cfg.Queues, c.Queue) {
		return
	}
	var at time.Time
	switch {
	case c.Status == Pending:
		at = c.WindowStart
	case (c.Status == Claimed || c.Status == Dialing) && !c.LeaseExpires.IsZero():
		at = c.LeaseExpires.Add(time.Microsecond) // expired once it lies before now
	default:
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	now := d.cfg.Clock.Now()
	if until, ok := d.quiet[c.ID]; ok && c.Status == Pending {
		delete(d.quiet, c.ID)
		if now.Before(until) {
			at = latest(at, until)
		}
	}
	d.heard = earliest(d.heard, at)
	switch {
	case !at.After(now):
		d.poke()
	case d.timerAt.IsZero() || at.Before(d.timerAt):
		d.setTimer(at)
	}
}

// Stop ends the ticks, abandons the dials in progress (the Dialer hangs up;
// their tasks are released) and waits for them.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	d.stopped = true
	if d.stopTimer != nil {
		d.stopTimer()
	}
	d.mu.Unlock()
	d.cancel()
	d.ticking.Wait()
	d.dials.Wait()
}

// Wait waits for the dials started so far to be finished and recorded.
func (d *Dispatcher) Wait() { d.dials.Wait() }

// RunOnce is one tick at now: it returns expired leases, claims the due
// tasks its queues' idle agents can take and starts dialling them (Wait
// waits for those dials). It says how many dials it started.
func (d *Dispatcher) RunOnce(ctx context.Context, now time.Time) (int, error) {
	started, _, err := d.run(ctx, now)
	return started, err
}

// run is RunOnce, and says when the next tick is due.
func (d *Dispatcher) run(ctx context.Context, now time.Time) (started int, next time.Time, err error) {
	retry := now.Add(d.cfg.Recheck)
	if n, err := d.cfg.Store.ExpireLeases(ctx, now); err != nil {
		return 0, retry, fmt.Errorf("expire leases: %w", err)
	} else if n > 0 {
		d.cfg.Log.Info("expired task leases returned", "tasks", n)
	}
	var errs []error
	for _, q := range d.cfg.Queues {
		n := 1
		if d.cfg.Idle != nil {
			n = min(d.cfg.Idle(q), MaxClaimBatch)
		}
		if n <= 0 || d.pausedAt(q, now) {
			continue
		}
		claimed, err := d.cfg.Store.ClaimDue(ctx, q, d.cfg.Owner, n, d.cfg.Lease, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("queue %s: claim due tasks: %w", q, err))
			continue
		}
		for _, t := range claimed {
			if d.dial(t) {
				started++
			}
		}
	}
	if len(errs) > 0 {
		return started, retry, errors.Join(errs...)
	}
	due, next, err := d.cfg.Store.nextDue(ctx, d.cfg.Queues, now)
	if err != nil {
		return started, retry, fmt.Errorf("next due task: %w", err)
	}
	next = earliest(next, now.Add(d.cfg.Every))
	d.mu.Lock()
	defer d.mu.Unlock()
	for q := range due {
		// Due tasks left: no agent was idle, or the queue is paused.
		if until := d.paused[q]; now.Before(until) {
			next = earliest(next, until)
		} else {
			next = earliest(next, retry)
		}
	}
	for id, until := range d.quiet {
		if !now.Before(until) {
			delete(d.quiet, id)
		}
	}
	return started, next, nil
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (d *Dispatcher) pausedAt(queue string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return now.Before(d.paused[queue])
}

func (d *Dispatcher) pause(queue string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.paused[queue] = d.cfg.Clock.Now().Add(d.cfg.ErrorPause)
}

// dial starts the attempt at a claimed task; a stopping dispatcher
// releases it instead.
func (d *Dispatcher) dial(t Task) bool {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		d.release(t, "dispatcher stopped")
		return false
	}
	d.dials.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.dials.Done()
		d.attempt(t)
	}()
	return true
}

func (d *Dispatcher) attempt(t Task) {
	log := d.cfg.Log.With("task", t.ID, "queue", t.Queue)
	cur, err := d.cfg.Store.SetDialing(d.ctx, t.ID, d.cfg.Owner, t.Version, d.cfg.Clock.Now())
	if err != nil {
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) {
			log.Info("automatic callback: task changed before dialling; left alone", "err", err)
			return
		}
		log.Warn("automatic callback: cannot mark the task as dialling; releasing it", "err", err)
		d.release(t, "could not mark as dialling")
		return
	}
	out, err := d.cfg.Dialer.Dial(d.ctx, Call{
		TaskID: cur.ID, Kind: cur.Kind, Queue: cur.Queue, Number: cur.Number, CallerName: cur.CallerName,
		Assignee: cur.Assignee, Attempt: cur.Attempts + 1,
		CustomerDialling: func() error {
			// Bound by the dispatcher's life, unlike record: when it stops (this
			// callmon is no longer the active one) the customer is not dialled.
			ctx, cancel := context.WithTimeout(d.ctx, recordTimeout)
			defer cancel()
			return d.cfg.Store.NoteCustomerDialling(ctx, cur.ID, d.cfg.Owner, cur.Attempts+1, d.cfg.Clock.Now())
		},
	})
	switch {
	case err != nil:
		if d.ctx.Err() == nil {
			log.Warn("automatic callback failed; the task waits for the next try", "err", err, "pause", d.cfg.ErrorPause)
			d.pause(cur.Queue)
		}
		d.release(cur, "no call made: "+err.Error())
	case !out.Result.Valid():
		reason := out.Note
		if reason == "" {
			reason = "no agent took the call"
		}
		log.Info("automatic callback: no agent took the call; the task waits for the next try", "agent", out.Agent)
		d.release(cur, reason)
	default:
		d.complete(cur, out)
	}
}

// Recording an outcome is retried briefly: a lost Reached would have the
// customer called again once the lease expires.
const (
	recordTries   = 3
	recordTimeout = 10 * time.Second
	recordBackoff = time.Second
)

// record runs op until it succeeds, fails for good, or recordTries are
// used up. It does not stop with the dispatcher: the outcome of a call
// made must be kept.
func (d *Dispatcher) record(op func(ctx context.Context) error) error {
	var err error
	for i := range recordTries {
		if i > 0 {
			time.Sleep(recordBackoff << (i - 1))
		}
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		err = op(ctx)
		cancel()
		if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrForbidden) ||
			errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return err
		}
	}
	return err
}

// giveBack notes that a dial of task id ends, so that its task becoming
// pending again does not wake the dispatcher at once: it is dialled again
// after Recheck, like every task left due.
func (d *Dispatcher) giveBack(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quiet[id] = d.cfg.Clock.Now().Add(d.cfg.Recheck)
}

func (d *Dispatcher) complete(t Task, out Outcome) {
	d.giveBack(t.ID)
	next := func(after time.Time) (time.Time, time.Time, bool) {
		if d.cfg.Next == nil {
			return time.Time{}, time.Time{}, false
		}
		return d.cfg.Next(t.Queue, after)
	}
	var done Task
	err := d.record(func(ctx context.Context) (err error) {
		done, err = d.cfg.Store.Complete(ctx, t.ID, d.cfg.Owner, t.Version, out.Result, clip(out.Note), d.cfg.Clock.Now(), next)
		return err
	})
	log := d.cfg.Log.With("task", t.ID, "queue", t.Queue, "result", out.Result, "agent", out.Agent)
	if err != nil {
		log.Error("automatic callback: the result could not be recorded", "err", err)
		return
	}
	log.Info("automatic callback recorded", "status", done.Status, "attempts", done.Attempts)
}

func (d *Dispatcher) release(t Task, reason string) {
	d.giveBack(t.ID)
	err := d.record(func(ctx context.Context) error {
		_, err := d.cfg.Store.Release(ctx, t.ID, d.cfg.Owner, t.Version, clip(reason), d.cfg.Clock.Now())
		return err
	})
	if err != nil {
		d.cfg.Log.Warn("automatic callback: the task could not be released; it returns when its lease expires",
			"task", t.ID, "err", err)
	}
}

// clip makes a note storable: valid text of at most MaxNoteLen characters
// (a Dialer's words must not cost the record of a call).
func clip(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) > MaxNoteLen {
		s = string([]rune(s)[:MaxNoteLen])
	}
	return s
}

// Release gives up owner's hold on a task without a result: a task owner
// has claimed or is dialling becomes Pending again, with its lease cleared
// (a pool claim returns to the pool) and no attempt counted; reason goes
// to the history. A task held by someone else gives ErrForbidden, one not
// held ErrConflict.
// ActionCustomerDialling is the task event noting that an automatic attempt
// is about to dial the customer; detail.attempt is the attempt's number.
const ActionCustomerDialling = "customer_dialling"

// NoteCustomerDialling records, before the customer is dialled, that
// attempt of task id is dialling them, as owner (the dispatcher holding the
// task in status dialing). Until the attempt's result is recorded (which
// counts it), no dispatcher claims the task again: an attempt interrupted
// after this point may have reached the customer, and a person decides what
// next (the task shows as pending on the agents' pages).
func (s *Store) NoteCustomerDialling(ctx context.Context, id int64, owner string, attempt int, now time.Time) error {
	if err := checkName("owner", owner); err != nil {
		return err
	}
	if err := checkNow(now); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO task_events (task_id, at, actor, action, from_status, to_status, detail)
		SELECT id, @now, @owner, @action, status, status, jsonb_build_object('attempt', @attempt::int)
		  FROM tasks WHERE id = @id AND status = 'dialing' AND lease_owner = @owner`,
		pgx.NamedArgs{"id": id, "owner": owner, "now": now, "action": ActionCustomerDialling, "attempt": attempt})
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return textErr(ErrConflict, "task %d is not dialling under %s", id, owner)
	}
	return nil
}

func (s *Store) Release(ctx context.Context, id int64, owner string, version int64, reason string, now time.Time) (Task, error) {
	if err := checkName("owner", owner); err != nil {
		return Task{}, err
	}
	if err := checkText("reason", reason, MaxNoteLen); err != nil {
		return Task{}, err
	}
	if err := checkNow(now); err != nil {
		return Task{}, err
	}
	return s.change(ctx, id, version, owner, now, func(cur Task, _ time.Time) (step, error) {
		if cur.Status != Claimed && cur.Status != Dialing {
			return step{}, conflict(cur, "is %s, not claimed", cur.Status)
		}
		if cur.LeaseOwner != owner {
			return step{}, textErr(ErrForbidden, "task %d is held by %s, not by %s", cur.ID, cur.LeaseOwner, owner)
		}
		n := cur.release()
		n.Status = Pending
		return step{n, ActionReleased, map[string]any{"reason": strings.TrimSpace(reason)}}, nil
	})
}
