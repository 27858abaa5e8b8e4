package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"callmon/callback/spool"
)

// KindCallRecord is the spool kind of a CallRecord (Data is its JSON, Key its
// channel id).
const KindCallRecord = "call_record"

// drainBatch is the most spooled entries written in one statement. The spool
// is rewritten once per drain, not per batch.
const drainBatch = 1000

// ErrBadEntry is wrapped by a SpoolWriter's error for entries that can never
// be written (undecodable data). Such entries are logged with their data and
// dropped so they do not hold up the entries behind them.
var ErrBadEntry = errors.New("spool entry cannot be written")

// ErrNoDatabase is returned by Flush while the Recorder has no database.
var ErrNoDatabase = errors.New("no database: records are kept in the spool")

// SpoolWriter writes spooled entries of one kind to PostgreSQL, in order.
// It must be idempotent on Entry.Key: after a crash between the write and the
// spool's Remove the same entries are written again.
type SpoolWriter func(ctx context.Context, db *DB, entries []spool.Entry) error

// RecorderOptions tune a Recorder; zero values take the defaults.
type RecorderOptions struct {
	BatchSize    int           // records per INSERT (default 100)
	FlushEvery   time.Duration // longest a record waits in memory while PostgreSQL is up (default 200ms)
	RetryEvery   time.Duration // how often PostgreSQL is tried while it is down (default 2s)
	WriteTimeout time.Duration // bound on one write to PostgreSQL (default 10s)
}

func (o RecorderOptions) withDefaults() RecorderOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 200 * time.Millisecond
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = 2 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	return o
}

// Recorder is the write path of call records. Record never blocks: it appends
// to an unbounded in-memory queue that a goroutine writes to PostgreSQL in
// batches. While PostgreSQL is unreachable the batches go to the durable
// spool instead (and so does everything after them, to keep the order); every
// RetryEvery the Recorder tries to write the spool to PostgreSQL and then
// empties it. A record is written exactly once because call_records.channel_id
// is unique and inserts skip a channel id already there, so a crash between
// the insert and the spool's Remove only replays harmless duplicates.
//
// The spool can hold other kinds of entries too (callbacks, voicemails):
// Register a SpoolWriter for the kind and put entries in with Spool.
type Recorder struct {
	sp   *spool.Spool // nil: records wait in memory while PostgreSQL is down
	log  *slog.Logger
	opts RecorderOptions
	db   atomic.Pointer[DB]
	wake chan struct{}

	mu       sync.Mutex
	queue    []CallRecord
	inflight int // taken from queue, not yet in PostgreSQL or the spool
	// Records leave the queue in order, so the first settled of all the
	// records ever queued (enqueued) are in PostgreSQL or the spool; settledCh
	// is closed and replaced whenever settled grows (Commit waits on it).
	enqueued, settled uint64
	settledCh         chan struct{}
	writers           map[string]SpoolWriter
	started           bool
	stopped           bool
	cancel            context.CancelFunc
	done              chan struct{}

	// handMu makes moving records from inflight to the spool atomic for
	// Backlog, which would otherwise count a batch twice. Record never takes it.
	handMu sync.RWMutex

	// ioMu serialises writing (the loop, Flush, Stop) so order is kept.
	ioMu      sync.Mutex
	down      bool      // PostgreSQL failed and has not worked since
	nextRetry time.Time // when to try it again while down
	stuck     error     // why the spool could not be drained, last logged

	stopOnce sync.Once
}

// NewRecorder returns a Recorder writing to db and sp. db may be nil: records
// then go to the spool until SetDB. sp may be nil (no durability while
// PostgreSQL is down: records wait in memory). Call Start, and Stop at the end.
func NewRecorder(db *DB, sp *spool.Spool, log *slog.Logger, opts RecorderOptions) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{sp: sp, log: log, opts: opts.withDefaults(), wake: make(chan struct{}, 1),
		writers: map[string]SpoolWriter{}, settledCh: make(chan struct{})}
	r.db.Store(db)
	r.Register(KindCallRecord, writeCallRecords)
	return r
}

// SetDB gives the Recorder its database (after PostgreSQL was unreachable at
// start); the spool is drained into it at once.
func (r *Recorder) SetDB(db *DB) {
	r.db.Store(db)
	r.ioMu.Lock()
	r.nextRetry = time.Time{}
	r.ioMu.Unlock()
	r.kick()
}

// Register sets the writer for spool entries of kind. Register before Start.
func (r *Recorder) Register(kind string, w SpoolWriter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writers[kind] = w
}

// Spool durably keeps an entry of a registered kind for writing to PostgreSQL
// as soon as it can be (for a record whose direct write just failed). It
// returns once the entry is on stable storage.
func (r *Recorder) Spool(kind, key string, data []byte) error {
	r.mu.Lock()
	_, ok := r.writers[kind]
	r.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("spool: no writer registered for kind %q", kind)
	case r.sp == nil:
		return errors.New("spool: callmon runs without a spool file")
	}
	if _, err := r.sp.Append(kind, key, data); err != nil {
		return err
	}
	r.kick()
	return nil
}

// Record queues a finished call for writing. It never blocks. A record that
// the table would reject is logged and dropped (retrying could not help).
func (r *Recorder) Record(rec CallRecord) {
	if _, full, _ := r.enqueue(rec); full {
		r.kick()
	}
}

// Commit queues rec and waits until it is in PostgreSQL or the spool, or ctx
// ends (the record then stays queued and is written later). It is a group
// commit: the writer takes everything queued meanwhile in the same
// transaction. The journal of calls in progress goes through it, so a
// process killed right after a call's entry or answer leaves it for the
// next.
func (r *Recorder) Commit(ctx context.Context, rec CallRecord) error {
	seq, _, err := r.enqueue(rec)
	if err != nil || seq == 0 {
		return err // invalid (logged), or written to the spool already (late)
	}
	r.kick()
	for {
		r.mu.Lock()
		done, ch := r.settled >= seq, r.settledCh
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// enqueue appends rec to the queue and returns its sequence number and
// whether the queue holds a full batch; seq is 0 when rec was invalid
// (logged, dropped) or arrived after Stop (straight to the spool).
func (r *Recorder) enqueue(rec CallRecord) (seq uint64, full bool, err error) {
	if err := rec.Validate(); err != nil {
		r.log.Error("call record dropped: it can never be stored", "err", err,
			"queue", rec.Queue, "outcome", rec.Outcome, "entry", rec.Entry)
		return 0, false, err
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		r.late(rec)
		return 0, false, nil
	}
	r.queue = append(r.queue, rec)
	r.enqueued++
	seq, full = r.enqueued, len(r.queue) >= r.opts.BatchSize
	r.mu.Unlock()
	return seq, full, nil
}

// late keeps a record that arrived after Stop: straight to the spool, since
// nothing will write the queue any more.
func (r *Recorder) late(rec CallRecord) {
	if r.sp != nil {
		r.handMu.Lock()
		err := r.toSpool([]CallRecord{rec})
		r.handMu.Unlock()
		if err == nil {
			r.log.Warn("call record arrived after the recorder stopped; kept in the spool", "channel", rec.ChannelID)
			return
		}
	}
	r.log.Error("call record lost: it arrived after the recorder stopped and cannot be spooled", "channel", rec.ChannelID)
}

// Backlog is the number of records not yet in PostgreSQL: queued in memory
// plus the entries in the spool.
func (r *Recorder) Backlog() int {
	r.handMu.RLock()
	defer r.handMu.RUnlock()
	r.mu.Lock()
	n := len(r.queue) + r.inflight
	r.mu.Unlock()
	if r.sp != nil {
		n += r.sp.Len()
	}
	return n
}

// Start drains what a previous run left in the spool and starts writing
// queued records. Cancelling ctx stops the writing goroutine as Stop does,
// but only Stop writes what is still queued.
func (r *Recorder) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go r.run(ctx, r.done)
}

func (r *Recorder) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(r.opts.FlushEvery)
	defer tick.Stop()
	// Writes run to completion (bounded by WriteTimeout) when ctx ends, so a
	// batch is never half-way between memory and the database.
	wctx := context.WithoutCancel(ctx)
	r.step(wctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
		r.step(wctx, false)
	}
}

// Stop stops the goroutine and writes what is queued: to PostgreSQL unless it
// failed less than RetryEvery ago, and to the spool otherwise. It waits for that and is idempotent.
// Records that arrive afterwards go straight to the spool.
func (r *Recorder) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopped = true
		cancel, done := r.cancel, r.done
		r.mu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
		// Not forced: a PostgreSQL that just failed is not waited for again;
		// the queue goes to the spool and the next start writes it.
		if err := r.step(context.Background(), false); err != nil {
			r.log.Warn("call records kept in the spool at stop", "err", err, "backlog", r.Backlog())
		}
	})
}

// Flush writes the queue and drains the spool now, trying PostgreSQL even if
// it failed less than RetryEvery ago. It returns nil when everything reached
// PostgreSQL; otherwise what could not be written is in the spool (or, without
// a spool, still queued) and the error says why.
func (r *Recorder) Flush(ctx context.Context) error {
	return r.step(ctx, true)
}

func (r *Recorder) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// step drains the spool when PostgreSQL is worth trying, then writes the
// queue: to PostgreSQL while it works and the spool is empty, else to the
// spool behind the older entries.
func (r *Recorder) step(ctx context.Context, force bool) error {
	r.ioMu.Lock()
	defer r.ioMu.Unlock()

	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	db := r.db.Load()
	try := db != nil && (force || !r.down || !time.Now().Before(r.nextRetry))
	if db == nil {
		keep(ErrNoDatabase)
	}
	// inOrder: the queue may go to PostgreSQL directly, because nothing older
	// waits in the spool, or what waits there cannot be written now anyway
	// (a kind this binary cannot write, a spool that cannot be rewritten).
	inOrder := true
	if r.sp != nil && r.sp.Len() > 0 {
		inOrder = r.stuck != nil
		if try && (force || r.stuck == nil || !time.Now().Before(r.nextRetry)) {
			err := r.drain(ctx, db)
			var se *spoolError
			switch {
			case err == nil:
				inOrder = r.sp.Len() == 0
			case errors.As(err, &se):
				// The spool cannot be emptied, but PostgreSQL works: write
				// the queue directly rather than pile it behind the spool.
				keep(err)
				inOrder = true
			default:
				keep(err)
				try = false
			}
		}
	}
	for {
		batch := r.take()
		if batch == nil {
			break
		}
		if try && inOrder {
			rest, err := r.insert(ctx, db, batch)
			if err == nil {
				r.settle(len(batch))
				continue
			}
			keep(err)
			try = false
			r.settle(len(batch) - len(rest))
			batch = rest
		}
		if r.sp == nil {
			r.putBack(batch)
			break
		}
		if err := r.spoolInflight(batch); err != nil {
			r.log.Error("cannot spool call records; keeping them in memory", "err", err, "records", len(batch))
			keep(err)
			r.putBack(batch)
			break
		}
	}
	return firstErr
}

// take moves up to BatchSize records from the queue to inflight.
func (r *Recorder) take() []CallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.queue), r.opts.BatchSize)
	if n == 0 {
		return nil
	}
	batch := make([]CallRecord, n)
	copy(batch, r.queue)
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go after a burst
	}
	r.inflight += n
	return batch
}

// settle marks n inflight records as written (to PostgreSQL or the spool).
func (r *Recorder) settle(n int) {
	r.mu.Lock()
	r.inflight -= n
	if n > 0 {
		r.settled += uint64(n)
		close(r.settledCh)
		r.settledCh = make(chan struct{})
	}
	r.mu.Unlock()
}

// putBack returns unwritten inflight records to the front of the queue.
func (r *Recorder) putBack(batch []CallRecord) {
	r.mu.Lock()
	r.inflight -= len(batch)
	r.queue = append(batch, r.queue...)
	r.mu.Unlock()
}

// insert writes batch and returns the records it could not write because
// PostgreSQL failed (with that error). A record PostgreSQL rejects as invalid
// is logged and dropped.
func (r *Recorder) insert(ctx context.Context, db *DB, batch []CallRecord) (rest []CallRecord, err error) {
	err = r.write(ctx, func(ctx context.Context) error {
		_, err := db.InsertCalls(ctx, batch)
		return err
	})
	if err == nil {
		r.up()
		return nil, nil
	}
	if !permanent(err) {
		r.fail(err)
		return batch, err
	}
	for i, rec := range batch {
		err := r.write(ctx, func(ctx context.Context) error {
			_, err := db.InsertCalls(ctx, []CallRecord{rec})
			return err
		})
		switch {
		case err == nil:
		case permanent(err):
			r.log.Error("call record dropped: PostgreSQL rejects it", "err", err, "channel", rec.ChannelID)
		default:
			r.fail(err)
			return batch[i:], err
		}
	}
	r.up()
	return nil, nil
}

func (r *Recorder) write(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.WriteTimeout)
	defer cancel()
	return f(ctx)
}

// spoolInflight moves inflight records to the spool.
func (r *Recorder) spoolInflight(batch []CallRecord) error {
	r.handMu.Lock()
	defer r.handMu.Unlock()
	if err := r.toSpool(batch); err != nil {
		return err
	}
	r.settle(len(batch))
	return nil
}

// toSpool appends records to the spool with one fsync.
func (r *Recorder) toSpool(batch []CallRecord) error {
	entries := make([]spool.Entry, len(batch))
	for i, rec := range batch {
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		entries[i] = spool.Entry{Kind: KindCallRecord, Key: rec.ChannelID, Data: data}
	}
	return r.sp.AppendBatch(entries)
}

// spoolError is a failure of the spool itself (not of PostgreSQL).
type spoolError struct{ err error }

func (e *spoolError) Error() string { return e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// drain writes the spool's entries to PostgreSQL in order, runs of one kind
// at a time, and removes what was written. It stops at the first failure.
func (r *Recorder) drain(ctx context.Context, db *DB) (err error) {
	entries := r.sp.Entries()
	var upTo uint64
	written := 0
	defer func() {
		if upTo == 0 {
			return
		}
		if rerr := r.sp.Remove(upTo); rerr != nil {
			rerr = &spoolError{fmt.Errorf("cannot remove written entries from the spool; "+
				"they will be written again (harmlessly): %w", rerr)}
			r.stuckOn(rerr)
			if err == nil {
				err = rerr
			}
			return
		}
		r.log.Info("wrote spooled entries to PostgreSQL", "entries", written, "left", r.sp.Len())
	}()
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && j-i < drainBatch && entries[j].Kind == entries[i].Kind {
			j++
		}
		group := entries[i:j]
		r.mu.Lock()
		w := r.writers[group[0].Kind]
		r.mu.Unlock()
		if w == nil {
			err := &spoolError{fmt.Errorf("spool entry %d (key %s) has kind %q, which this callmon cannot write; "+
				"it and the entries behind it stay in %s (written by a newer callmon?)",
				group[0].Seq, group[0].Key, group[0].Kind, r.sp.Path())}
			r.stuckOn(err)
			return err
		}
		if err := r.writeEntries(ctx, db, w, group); err != nil {
			r.fail(err)
			return err
		}
		upTo, written = group[len(group)-1].Seq, written+len(group)
		i = j
	}
	r.stuck = nil
	r.up()
	return nil
}

// writeEntries writes group with w; if PostgreSQL rejects the data, it writes
// the entries one by one and drops (logging their data) those it rejects.
func (r *Recorder) writeEntries(ctx context.Context, db *DB, w SpoolWriter, group []spool.Entry) error {
	err := r.write(ctx, func(ctx context.Context) error { return w(ctx, db, group) })
	if err == nil || !permanent(err) {
		return err
	}
	if len(group) == 1 {
		e := group[0]
		r.log.Error("spool entry dropped: it can never be written", "err", err,
			"kind", e.Kind, "key", e.Key, "seq", e.Seq, "data", string(e.Data))
		return nil
	}
	for i := range group {
		if err := r.writeEntries(ctx, db, w, group[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

// fail notes that PostgreSQL failed; it is tried again after RetryEvery.
func (r *Recorder) fail(err error) {
	if !r.down {
		r.log.Warn("PostgreSQL write failed; keeping records in the spool until it answers again",
			"err", err, "retry_every", r.opts.RetryEvery)
	} else {
		r.log.Debug("PostgreSQL still failing", "err", err)
	}
	r.down = true
	r.nextRetry = time.Now().Add(r.opts.RetryEvery)
}

func (r *Recorder) up() {
	if r.down {
		r.log.Info("PostgreSQL writes work again")
	}
	r.down = false
}

func (r *Recorder) stuckOn(err error) {
	if r.stuck == nil || r.stuck.Error() != err.Error() {
		r.log.Error("spool cannot be drained", "err", err)
	}
	r.stuck = err
	r.nextRetry = time.Now().Add(r.opts.RetryEvery)
}

// permanent reports whether err means the data can never be written (as
// opposed to PostgreSQL being unreachable, overloaded, or not migrated yet,
// which a later try can cure).
func permanent(err error) bool {
	if errors.Is(err, ErrBadEntry) || errors.Is(err, ErrInvalidRecord) {
		return true
	}
	code := pgCode(err)
	return len(code) == 5 && (code[:2] == classDataException || code[:2] == classIntegrityConstraint)
}

// writeCallRecords is the SpoolWriter of KindCallRecord.
func writeCallRecords(ctx context.Context, db *DB, entries []spool.Entry) error {
	recs := make([]CallRecord, len(entries))
	for i, e := range entries {
		if err := json.Unmarshal(e.Data, &recs[i]); err != nil {
			return fmt.Errorf("%w: entry %d (key %s) is not a call record: %v", ErrBadEntry, e.Seq, e.Key, err)
		}
	}
	_, err := db.InsertCalls(ctx, recs)
	return err
}
