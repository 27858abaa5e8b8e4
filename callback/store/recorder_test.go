package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/callback/spool"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

var fastOpts = store.RecorderOptions{BatchSize: 10, FlushEvery: 5 * time.Millisecond,
	RetryEvery: 20 * time.Millisecond, WriteTimeout: 10 * time.Second}

func openSpool(t *testing.T, path string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// syncBuffer collects log output from the recorder's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stored returns how many of recs are in the table, failing on duplicates
// (impossible with the unique channel id, but that is what is promised).
func stored(t *testing.T, db *store.DB, recs []store.CallRecord) int {
	t.Helper()
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ChannelID
	}
	var rows, distinct int
	err := db.Pool().QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT channel_id) FROM call_records WHERE channel_id = ANY($1)", ids).Scan(&rows, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if rows != distinct {
		t.Fatalf("%d rows for %d channel ids", rows, distinct)
	}
	return rows
}

func TestRecorderSpoolsWhilePostgreSQLIsDown(t *testing.T) {
	t.Parallel()
	db, u := newDB(t)
	proxy := pgtest.NewProxy(t, hostPort(t, u))
	// Through the proxy, with a password that must never reach the log.
	viaProxy := strings.Replace(proxy.URL(u), "postgres@", "postgres:"+secret+"@", 1)
	pdb := open(t, viaProxy)
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	var logs syncBuffer
	r := store.NewRecorder(pdb, sp, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), fastOpts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	defer r.Stop()

	before := records("up", 25)
	for _, rec := range before {
		r.Record(rec)
	}
	eventually(t, "records written while PostgreSQL is up", func() bool {
		return stored(t, db, before) == len(before) && r.Backlog() == 0
	})

	proxy.Cut()
	during := records("down", 300)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, rec := range during {
			r.Record(rec)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked while PostgreSQL is down")
	}
	eventually(t, "every record in the durable spool", func() bool { return sp.Len() == len(during) })
	if b := r.Backlog(); b != len(during) {
		t.Errorf("Backlog %d while PostgreSQL is down, want %d", b, len(during))
	}
	if n := stored(t, db, during); n != 0 {
		t.Fatalf("%d records reached PostgreSQL through a cut proxy", n)
	}

	proxy.Restore()
	after := records("back", 15)
	for _, rec := range after {
		r.Record(rec)
	}
	all := append(append(append([]store.CallRecord{}, before...), during...), after...)
	eventually(t, "every record in PostgreSQL once PostgreSQL is back", func() bool {
		return stored(t, db, all) == len(all) && r.Backlog() == 0 && sp.Len() == 0
	})
	if n := count(t, db, "SELECT count(*) FROM call_records"); n != len(all) {
		t.Errorf("%d rows, want %d", n, len(all))
	}
	r.Stop()
	out := logs.String()
	if !strings.Contains(out, "keeping records in the spool") || !strings.Contains(out, "wrote spooled entries") {
		t.Errorf("log lacks the outage and the recovery:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("log shows the password:\n%s", out)
	}
}

// spoolRecords appends recs to sp as a Recorder would have.
func spoolRecords(t *testing.T, sp *spool.Spool, recs []store.CallRecord) {
	t.Helper()
	entries := make([]spool.Entry, len(recs))
	for i, rec := range recs {
		data, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = spool.Entry{Kind: store.KindCallRecord, Key: rec.ChannelID, Data: data}
	}
	if err := sp.AppendBatch(entries); err != nil {
		t.Fatal(err)
	}
}

func TestRecorderCrashBetweenInsertAndRemove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	path := filepath.Join(t.TempDir(), "spool.jsonl")

	// The previous run spooled 20 records, wrote the first 12 to PostgreSQL
	// and crashed before removing them from the spool.
	recs := records("crash", 20)
	prev, err := spool.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	spoolRecords(t, prev, recs)
	prev.Close()
	if _, err := db.InsertCalls(ctx, recs[:12]); err != nil {
		t.Fatal(err)
	}

	sp := openSpool(t, path)
	if sp.Len() != 20 {
		t.Fatalf("reopened spool has %d entries", sp.Len())
	}
	r := store.NewRecorder(db, sp, testLog(t), fastOpts)
	r.Start(ctx)
	defer r.Stop()
	eventually(t, "the spool drained at start", func() bool { return sp.Len() == 0 })
	if n := stored(t, db, recs); n != 20 {
		t.Errorf("%d of 20 records stored", n)
	}

	// The same entries once more (a crash after the drain's insert): no duplicates.
	spoolRecords(t, sp, recs)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if sp.Len() != 0 || r.Backlog() != 0 {
		t.Errorf("after Flush: spool %d, backlog %d", sp.Len(), r.Backlog())
	}
	if n := count(t, db, "SELECT count(*) FROM call_records"); n != 20 {
		t.Errorf("%d rows after replaying the spool, want 20", n)
	}
}

func TestRecorderWithoutDatabaseUntilSetDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	r := store.NewRecorder(nil, sp, testLog(t), fastOpts)
	recs := records("nodb", 5)
	for _, rec := range recs {
		r.Record(rec)
	}
	if err := r.Flush(ctx); !errors.Is(err, store.ErrNoDatabase) {
		t.Fatalf("Flush without a database: %v, want ErrNoDatabase", err)
	}
	if sp.Len() != 5 || r.Backlog() != 5 {
		t.Fatalf("spool %d, backlog %d; want 5 and 5", sp.Len(), r.Backlog())
	}
	r.Start(ctx)
	defer r.Stop()
	r.SetDB(db)
	eventually(t, "the spool drained after SetDB", func() bool { return sp.Len() == 0 && r.Backlog() == 0 })
	if n := stored(t, db, recs); n != 5 {
		t.Errorf("%d of 5 records stored", n)
	}
}

func TestRecorderStopSpoolsWhatIsQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, u := newDB(t)
	proxy := pgtest.NewProxy(t, hostPort(t, u))
	pdb := open(t, proxy.URL(u))
	path := filepath.Join(t.TempDir(), "spool.jsonl")
	sp := openSpool(t, path)
	// Long intervals: nothing is written before Stop.
	r := store.NewRecorder(pdb, sp, testLog(t), store.RecorderOptions{FlushEvery: time.Hour, RetryEvery: time.Hour})
	r.Start(ctx)
	proxy.Cut()
	recs := records("stop", 7)
	for _, rec := range recs[:6] {
		r.Record(rec)
	}
	r.Stop()
	r.Stop() // idempotent
	if sp.Len() != 6 {
		t.Fatalf("spool has %d entries after Stop with PostgreSQL down, want 6", sp.Len())
	}
	r.Record(recs[6]) // late: straight to the spool
	if sp.Len() != 7 {
		t.Fatalf("spool has %d entries after a late Record, want 7", sp.Len())
	}
	sp.Close()

	// The next run, with PostgreSQL back, writes them.
	proxy.Restore()
	sp2 := openSpool(t, path)
	r2 := store.NewRecorder(db, sp2, testLog(t), fastOpts)
	r2.Start(ctx)
	defer r2.Stop()
	eventually(t, "the next run drained the spool", func() bool { return sp2.Len() == 0 })
	if n := stored(t, db, recs); n != 7 {
		t.Errorf("%d of 7 records stored", n)
	}
}

func TestRecorderWithoutSpoolKeepsRecordsInMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, u := newDB(t)
	proxy := pgtest.NewProxy(t, hostPort(t, u))
	pdb := open(t, proxy.URL(u))
	r := store.NewRecorder(pdb, nil, testLog(t), fastOpts)
	proxy.Cut()
	recs := records("mem", 12)
	for _, rec := range recs {
		r.Record(rec)
	}
	if err := r.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with PostgreSQL down")
	}
	if b := r.Backlog(); b != 12 {
		t.Fatalf("Backlog %d, want 12", b)
	}
	proxy.Restore()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := stored(t, db, recs); n != 12 || r.Backlog() != 0 {
		t.Errorf("%d of 12 stored, backlog %d", n, r.Backlog())
	}
	r.Stop()
}

func TestRecorderOtherKindsAndBadEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	if _, err := db.Pool().Exec(ctx, "CREATE TABLE notes (key text PRIMARY KEY, body text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	r := store.NewRecorder(db, sp, testLog(t), fastOpts)
	r.Register("note", func(ctx context.Context, db *store.DB, entries []spool.Entry) error {
		for _, e := range entries {
			var n struct{ Body string }
			if err := json.Unmarshal(e.Data, &n); err != nil {
				return fmt.Errorf("%w: %v", store.ErrBadEntry, err)
			}
			if _, err := db.Pool().Exec(ctx, "INSERT INTO notes VALUES ($1, $2) ON CONFLICT DO NOTHING", e.Key, n.Body); err != nil {
				return err
			}
		}
		return nil
	})
	if err := r.Spool("voicemail", "v1", []byte(`{}`)); err == nil {
		t.Error("Spool of a kind without a writer succeeded")
	}

	// A call record that can never be stored, between good entries.
	good := records("kinds", 3)
	spoolRecords(t, sp, good[:1])
	if _, err := sp.Append(store.KindCallRecord, "broken", []byte(`{"channel_id":"broken","kind":"fax"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Append(store.KindCallRecord, "garbled", []byte(`["not","a","record"]`)); err != nil {
		t.Fatal(err)
	}
	if err := r.Spool("note", "n1", []byte(`{"Body":"call back after 14:00"}`)); err != nil {
		t.Fatal(err)
	}
	spoolRecords(t, sp, good[1:])
	// An invalid record given to Record is dropped at once, not queued.
	bad := good[0]
	bad.ChannelID, bad.Outcome = "invalid", "lost"
	r.Record(bad)
	if r.Backlog() != sp.Len() {
		t.Errorf("an invalid record was queued")
	}

	r.Start(ctx)
	defer r.Stop()
	eventually(t, "the spool drained", func() bool { return sp.Len() == 0 })
	if n := stored(t, db, good); n != 3 {
		t.Errorf("%d of 3 good records stored", n)
	}
	if n := count(t, db, "SELECT count(*) FROM notes WHERE key = 'n1'"); n != 1 {
		t.Error("the note was not written")
	}
	if n := count(t, db, "SELECT count(*) FROM call_records"); n != 3 {
		t.Errorf("%d call records, want 3", n)
	}
}

func TestRecorderUnknownKindDoesNotBlockNewRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	// Written by a newer callmon that knows a kind this one does not.
	if _, err := sp.Append("hologram", "h1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	r := store.NewRecorder(db, sp, testLog(t), fastOpts)
	r.Start(ctx)
	defer r.Stop()
	recs := records("unknown", 4)
	for _, rec := range recs {
		r.Record(rec)
	}
	eventually(t, "new records written despite the stuck spool", func() bool { return stored(t, db, recs) == 4 })
	if sp.Len() != 1 {
		t.Errorf("spool has %d entries, want the 1 it cannot write", sp.Len())
	}
	if err := r.Flush(ctx); err == nil || !strings.Contains(err.Error(), `kind "hologram"`) {
		t.Errorf("Flush: %v, want an error naming the kind", err)
	}
}

func TestRecorderConcurrentRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	r := store.NewRecorder(db, sp, testLog(t), fastOpts)
	r.Start(ctx)
	defer r.Stop()
	var all []store.CallRecord
	var wg sync.WaitGroup
	for g := range 8 {
		recs := records(fmt.Sprintf("conc%d", g), 150)
		all = append(all, recs...)
		wg.Go(func() {
			for i, rec := range recs {
				r.Record(rec)
				if i%50 == 0 {
					r.Backlog()
					if err := r.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "every record stored", func() bool { return stored(t, db, all) == len(all) && r.Backlog() == 0 })
}

// Commit is what makes the journal of calls in progress survive a SIGKILL: when it returns, the
// entry is in PostgreSQL, or in the spool while PostgreSQL is away, although the Recorder's own
// flush interval is an hour.
func TestRecorderCommitIsDurableWhenItReturns(t *testing.T) {
	t.Parallel()
	db, u := newDB(t)
	proxy := pgtest.NewProxy(t, hostPort(t, u))
	pdb := open(t, proxy.URL(u))
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.jsonl"))
	r := store.NewRecorder(pdb, sp, testLog(t), store.RecorderOptions{FlushEvery: time.Hour, RetryEvery: time.Hour, WriteTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	defer r.Stop()
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	entry := func(id string) store.CallRecord {
		return store.CallRecord{ChannelID: id, Queue: "general", Kind: store.KindQueue, Entry: t0,
			ThresholdMS: 30000, Stage: store.StageEntered}
	}
	live := func(id string) int {
		return count(t, db, "SELECT count(*) FROM live_calls WHERE channel_id = $1", id)
	}

	// Many at once, as calls arrive: each sees its own entry stored.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			id := fmt.Sprintf("up-%d", i)
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			defer ccancel()
			if err := r.Commit(cctx, entry(id)); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
				return
			}
			if n := live(id); n != 1 {
				errs <- fmt.Errorf("%s: Commit returned with %d journal rows", id, n)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// PostgreSQL away: Commit returns once the entry is in the spool.
	proxy.Cut()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := r.Commit(cctx, entry("down-1")); err != nil {
		t.Fatalf("Commit while PostgreSQL is down: %v", err)
	}
	if sp.Len() != 1 {
		t.Fatalf("spool holds %d entries after Commit, want 1", sp.Len())
	}
	if n := live("down-1"); n != 0 {
		t.Fatalf("entry reached PostgreSQL through a cut proxy")
	}
}

// Without a place to put it, Commit gives up when its context ends; the record stays queued.
func TestRecorderCommitGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	r := store.NewRecorder(nil, nil, testLog(t), store.RecorderOptions{FlushEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	defer r.Stop()
	cctx, ccancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer ccancel()
	rec := store.CallRecord{ChannelID: "c1", Queue: "general", Kind: store.KindQueue,
		Entry: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), ThresholdMS: 30000, Stage: store.StageEntered}
	if err := r.Commit(cctx, rec); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Commit without database or spool = %v, want the context's deadline", err)
	}
	if b := r.Backlog(); b != 1 {
		t.Fatalf("backlog %d after a Commit gave up, want the record still queued", b)
	}
}
