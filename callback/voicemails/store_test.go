package voicemails_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/callback/spool"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
	"callmon/callback/voicemails"
)

// t0 is the tests' "now": Monday 23 November 2026, 09:00 UTC.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// newDB returns a freshly migrated database of the test's own, and its URL.
func newDB(t *testing.T) (*store.DB, string) {
	t.Helper()
	u := pgtest.URL(t, "voicemails")
	db := open(t, u)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, u
}

func open(t *testing.T, u string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func count(t *testing.T, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// message is a valid voicemail for erik on channel ch, received at.
func message(ch string, at time.Time) voicemails.NewVoicemail {
	return voicemails.NewVoicemail{
		Employee: "erik", CallerNumber: "06-12345678", CallerName: "J. de Vries",
		ReceivedAt: at, Duration: 42*time.Second + 300*time.Millisecond,
		Recording: "callmon/vm-" + ch, ChannelID: ch,
	}
}

func save(t *testing.T, s *voicemails.Store, v voicemails.NewVoicemail) voicemails.Voicemail {
	t.Helper()
	vm, created, err := s.Save(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("Save(%+v): not created", v)
	}
	return vm
}

func ids(vs []voicemails.Voicemail) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

func TestSaveCreatesVoicemailAndTask(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	windowEnd := t0.Add(32 * time.Hour)
	var windowOf time.Time
	s := voicemails.New(db.Pool(), voicemails.WithWindow(func(at time.Time) (time.Time, time.Time) {
		windowOf = at
		return at, windowEnd
	}))
	ts := tasks.New(db.Pool())

	v := message("1700000000.17", t0.Add(1234567*time.Microsecond).In(time.FixedZone("CET", 3600)))
	v.Assignee = "agent-erik"
	got := save(t, s, v)
	received := t0.Add(1235 * time.Millisecond) // to the millisecond, in UTC
	want := voicemails.Voicemail{
		ID: got.ID, Employee: "erik", CallerNumber: "06-12345678", CallerName: "J. de Vries",
		ReceivedAt: received, Duration: 42300 * time.Millisecond, Recording: "callmon/vm-1700000000.17",
		ChannelID: "1700000000.17", TaskID: got.TaskID,
	}
	if got != want {
		t.Errorf("Save =\n %+v\nwant\n %+v", got, want)
	}
	if got.ID == 0 || got.TaskID == 0 || got.Heard() || got.ReceivedAt.Location() != time.UTC {
		t.Errorf("Save = %+v", got)
	}
	if !windowOf.Equal(received) {
		t.Errorf("window asked for %v, want the time received %v", windowOf, received)
	}
	if g, err := s.Get(ctx, got.ID); err != nil || g != got {
		t.Errorf("Get = %+v, %v", g, err)
	}
	if g, err := s.ByTask(ctx, got.TaskID); err != nil || g != got {
		t.Errorf("ByTask = %+v, %v", g, err)
	}

	task, err := ts.Get(ctx, got.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.Kind != tasks.KindVoicemail || task.Queue != "direct" || task.Number != "+31612345678" ||
		task.CallerName != "J. de Vries" || task.Assignee != "agent-erik" || task.Status != tasks.Pending ||
		!task.WindowStart.Equal(received) || !task.WindowEnd.Equal(windowEnd) ||
		task.SourceKey != "voicemail:1700000000.17" || task.Version != 1 {
		t.Errorf("task = %+v", task)
	}
	if wantNotes := fmt.Sprintf("Voicemail %d: a message of 42s for erik.", got.ID); task.Notes != wantNotes {
		t.Errorf("task notes %q, want %q", task.Notes, wantNotes)
	}
	events, err := ts.History(ctx, task.ID)
	if err != nil || len(events) != 1 || events[0].Action != tasks.ActionCreated || events[0].Actor != "caller" {
		t.Errorf("task history = %+v, %v", events, err)
	}
	// The employee sees it among their tasks like any other.
	mine, err := ts.List(ctx, tasks.Filter{Assignee: "agent-erik"})
	if err != nil || len(mine) != 1 || mine[0].ID != task.ID {
		t.Errorf("the assignee's tasks: %+v, %v", mine, err)
	}

	if _, err := s.Get(ctx, got.ID+1000); !errors.Is(err, voicemails.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.ByTask(ctx, got.TaskID+1000); !errors.Is(err, voicemails.ErrNotFound) {
		t.Errorf("ByTask(unknown) = %v, want ErrNotFound", err)
	}
}

func TestSaveCallers(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	s := voicemails.New(db.Pool()) // the default window: a day
	ts := tasks.New(db.Pool())

	for _, tt := range []struct {
		caller, number, notes string
	}{
		{"+44 20 7946 0000", "+442079460000", ""},
		{"", "", " The caller withheld their number."},
		{"anonymous", "", ` The caller's number "anonymous" cannot be called back.`},
		{"2001", "", ` The caller's number "2001" cannot be called back.`},
	} {
		v := message("ch-"+tt.caller, t0)
		v.CallerNumber, v.CallerName, v.Duration = tt.caller, "", 1499*time.Millisecond
		vm := save(t, s, v)
		if vm.CallerNumber != tt.caller || vm.CallerName != "" || vm.Duration != 1499*time.Millisecond {
			t.Errorf("caller %q: voicemail %+v", tt.caller, vm)
		}
		task, err := ts.Get(ctx, vm.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		// No assignee given: the task is the employee's.
		wantNotes := fmt.Sprintf("Voicemail %d: a message of 1s for erik.", vm.ID) + tt.notes
		if task.Number != tt.number || task.Assignee != "erik" || task.Notes != wantNotes ||
			!task.WindowEnd.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("caller %q: task %+v, want number %q and notes %q", tt.caller, task, tt.number, wantNotes)
		}
	}

	// A window function that returns nonsense never costs a message.
	bad := voicemails.New(db.Pool(), voicemails.WithWindow(func(at time.Time) (time.Time, time.Time) { return at, at }))
	vm := save(t, bad, message("ch-bad-window", t0))
	if task, err := ts.Get(ctx, vm.TaskID); err != nil || !task.WindowEnd.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("task with a bad window func: %+v, %v", task, err)
	}

	// What the caller sends is cleaned, never refused.
	v := message("ch-junk", t0)
	v.CallerName = "Jan\x00 de Vries \xff" + strings.Repeat("x", 300)
	v.CallerNumber = " 0612345678\u00a0"
	v.Duration = -time.Second
	vm = save(t, s, v)
	if !strings.HasPrefix(vm.CallerName, "Jan de Vries \uFFFD") || len([]rune(vm.CallerName)) != 200 ||
		vm.CallerNumber != "0612345678" || vm.Duration != 0 {
		t.Errorf("cleaned voicemail %+v", vm)
	}
}

func TestSaveInvalid(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	s := voicemails.New(db.Pool())
	for name, mod := range map[string]func(*voicemails.NewVoicemail){
		"no employee":       func(v *voicemails.NewVoicemail) { v.Employee = " " },
		"employee not text": func(v *voicemails.NewVoicemail) { v.Employee = "caf\xe9" },
		"long assignee":     func(v *voicemails.NewVoicemail) { v.Assignee = strings.Repeat("a", voicemails.MaxIDLen+1) },
		"no recording":      func(v *voicemails.NewVoicemail) { v.Recording = "" },
		"no channel":        func(v *voicemails.NewVoicemail) { v.ChannelID = "" },
		"long channel":      func(v *voicemails.NewVoicemail) { v.ChannelID = strings.Repeat("1", voicemails.MaxChannelIDLen+1) },
		"no time":           func(v *voicemails.NewVoicemail) { v.ReceivedAt = time.Time{} },
	} {
		v := message("ch-1", t0)
		mod(&v)
		if _, _, err := s.Save(context.Background(), v); !errors.Is(err, voicemails.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := count(t, db, "SELECT (SELECT count(*) FROM voicemails) + (SELECT count(*) FROM tasks)"); n != 0 {
		t.Errorf("invalid input stored %d rows", n)
	}
}

// TestSaveIsAtomic: when the voicemail cannot be stored, neither is its
// task, and saving it again later works.
func TestSaveIsAtomic(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	s := voicemails.New(db.Pool())
	if _, err := db.Pool().Exec(ctx, `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON voicemails FOR EACH ROW EXECUTE FUNCTION refuse();`); err != nil {
		t.Fatal(err)
	}
	v := message("ch-1", t0)
	_, _, err := s.Save(ctx, v)
	if err == nil || errors.Is(err, voicemails.ErrInvalid) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Save with a failing insert = %v; want the database's error, not ErrInvalid", err)
	}
	if n := count(t, db, "SELECT (SELECT count(*) FROM voicemails) + (SELECT count(*) FROM tasks) + (SELECT count(*) FROM task_events)"); n != 0 {
		t.Fatalf("a failed Save left %d rows", n)
	}

	if _, err := db.Pool().Exec(ctx, `DROP TRIGGER refuse ON voicemails`); err != nil {
		t.Fatal(err)
	}
	vm := save(t, s, v)
	if n := count(t, db, "SELECT count(*) FROM tasks WHERE id = $1", vm.TaskID); n != 1 {
		t.Errorf("task of the saved voicemail: %d rows", n)
	}
}

func TestSaveOncePerChannel(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	s := voicemails.New(db.Pool())
	first := save(t, s, message("ch-1", t0))

	// The same channel again, even with other data: the first voicemail.
	again := message("ch-1", t0.Add(time.Minute))
	again.Recording = "other"
	got, created, err := s.Save(ctx, again)
	if err != nil || created || got != first {
		t.Errorf("Save again = %+v, %v, %v; want %+v", got, created, err, first)
	}

	// Concurrent saves of one channel: one voicemail, one task.
	const n = 8
	var wg sync.WaitGroup
	results := make([]voicemails.Voicemail, n)
	createdBy := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], createdBy[i], errs[i] = s.Save(ctx, message("ch-2", t0))
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Save: %v", errs[i])
		}
		if createdBy[i] {
			creators++
		}
		if results[i] != results[0] {
			t.Errorf("concurrent Save %d = %+v, Save 0 = %+v", i, results[i], results[0])
		}
	}
	if creators != 1 {
		t.Errorf("%d concurrent Saves created the voicemail, want 1", creators)
	}
	if v, t2 := count(t, db, "SELECT count(*) FROM voicemails"), count(t, db, "SELECT count(*) FROM tasks"); v != 2 || t2 != 2 {
		t.Errorf("%d voicemails and %d tasks, want 2 and 2", v, t2)
	}
}

func TestListHeardAndCounts(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	s := voicemails.New(db.Pool())

	e1 := save(t, s, message("e1", t0))
	e2 := save(t, s, message("e2", t0.Add(2*time.Hour)))
	e3 := save(t, s, message("e3", t0.Add(time.Hour)))
	a := message("a1", t0.Add(30*time.Minute))
	a.Employee = "anna"
	a1 := save(t, s, a)

	list := func(employee string, unheard bool) []int64 {
		t.Helper()
		vs, err := s.List(ctx, employee, unheard)
		if err != nil {
			t.Fatal(err)
		}
		return ids(vs)
	}
	counts := func(employee string, wantNew, wantOld int) {
		t.Helper()
		n, o, err := s.Counts(ctx, employee)
		if err != nil || n != wantNew || o != wantOld {
			t.Errorf("Counts(%s) = %d new, %d old, %v; want %d, %d", employee, n, o, err, wantNew, wantOld)
		}
	}
	// A day after the last message: every message's default window (a day)
	// has ended but e2's.
	now := t0.Add(24*time.Hour + 90*time.Minute)
	waiting := func(want map[string]voicemails.Backlog) {
		t.Helper()
		got, err := s.Waiting(ctx, now)
		if err != nil || len(got) != len(want) {
			t.Errorf("Waiting = %v, %v; want %v", got, err, want)
			return
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("Waiting = %v, want %v", got, want)
			}
		}
	}

	// Newest first.
	if got, want := list("erik", false), []int64{e2.ID, e3.ID, e1.ID}; !slices.Equal(got, want) {
		t.Errorf("List(erik) = %v, want %v", got, want)
	}
	if got, want := list("", false), []int64{e2.ID, e3.ID, a1.ID, e1.ID}; !slices.Equal(got, want) {
		t.Errorf("List(everyone) = %v, want %v", got, want)
	}
	if got := list("nobody", false); len(got) != 0 {
		t.Errorf("List(nobody) = %v", got)
	}
	counts("erik", 3, 0)
	counts("nobody", 0, 0)
	waiting(map[string]voicemails.Backlog{"erik": {Unheard: 3, Overdue: 2}, "anna": {Unheard: 1, Overdue: 1}})

	heardAt := t0.Add(3 * time.Hour)
	h, err := s.MarkHeard(ctx, e3.ID, heardAt)
	if err != nil || !h.Heard() || !h.HeardAt.Equal(heardAt) || h.ID != e3.ID {
		t.Fatalf("MarkHeard = %+v, %v", h, err)
	}
	// Again, later: nothing changes; the first time it was heard stays.
	if h2, err := s.MarkHeard(ctx, e3.ID, heardAt.Add(time.Hour)); err != nil || h2 != h {
		t.Errorf("MarkHeard again = %+v, %v; want %+v", h2, err, h)
	}
	if g, err := s.Get(ctx, e3.ID); err != nil || g != h {
		t.Errorf("Get after MarkHeard = %+v, %v", g, err)
	}
	if _, err := s.MarkHeard(ctx, e3.ID+1000, heardAt); !errors.Is(err, voicemails.ErrNotFound) {
		t.Errorf("MarkHeard(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.MarkHeard(ctx, e1.ID, time.Time{}); !errors.Is(err, voicemails.ErrInvalid) {
		t.Errorf("MarkHeard(no time) = %v, want ErrInvalid", err)
	}

	if got, want := list("erik", true), []int64{e2.ID, e1.ID}; !slices.Equal(got, want) {
		t.Errorf("List(erik, unheard) = %v, want %v", got, want)
	}
	if got, want := list("erik", false), []int64{e2.ID, e3.ID, e1.ID}; !slices.Equal(got, want) {
		t.Errorf("List(erik) after one was heard = %v, want %v", got, want)
	}
	counts("erik", 2, 1)
	counts("anna", 1, 0)
	waiting(map[string]voicemails.Backlog{"erik": {Unheard: 2, Overdue: 1}, "anna": {Unheard: 1, Overdue: 1}})

	if _, err := s.MarkHeard(ctx, a1.ID, heardAt); err != nil {
		t.Fatal(err)
	}
	counts("anna", 0, 1)
	waiting(map[string]voicemails.Backlog{"erik": {Unheard: 2, Overdue: 1}})
	if got := list("anna", true); len(got) != 0 {
		t.Errorf("List(anna, unheard) = %v", got)
	}
	// Hearing a message does not settle its task: the caller may still
	// expect a call back.
	task, err := tasks.New(db.Pool()).Get(ctx, a1.TaskID)
	if err != nil || task.Status != tasks.Pending {
		t.Errorf("task after the message was heard: %+v, %v", task, err)
	}
}

func TestJSON(t *testing.T) {
	v := message("ch-1", t0)
	v.Assignee = "anna"
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"employee":"erik","assignee":"anna","caller_number":"06-12345678","caller_name":"J. de Vries",` +
		`"received_at":"2026-11-23T09:00:00Z","duration_ms":42300,"recording":"callmon/vm-ch-1","channel_id":"ch-1"}`
	if string(b) != want {
		t.Errorf("NewVoicemail JSON\n %s\nwant\n %s", b, want)
	}
	var back voicemails.NewVoicemail
	if err := json.Unmarshal(b, &back); err != nil || back != v {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, v)
	}

	vm := voicemails.Voicemail{ID: 7, Employee: "erik", ReceivedAt: t0, Duration: 1500 * time.Millisecond,
		Recording: "r", ChannelID: "c", TaskID: 9}
	b, err = json.Marshal(vm)
	if err != nil {
		t.Fatal(err)
	}
	const wantVM = `{"id":7,"employee":"erik","caller_number":"","caller_name":"","received_at":"2026-11-23T09:00:00Z",` +
		`"duration_ms":1500,"recording":"r","channel_id":"c","heard":false,"task_id":9}`
	if string(b) != wantVM {
		t.Errorf("Voicemail JSON\n %s\nwant\n %s", b, wantVM)
	}
	vm.HeardAt = t0.Add(time.Hour)
	b, _ = json.Marshal(vm)
	if !strings.Contains(string(b), `"heard":true,"heard_at":"2026-11-23T10:00:00Z"`) {
		t.Errorf("heard Voicemail JSON %s", b)
	}
	var backVM voicemails.Voicemail
	if err := json.Unmarshal(b, &backVM); err != nil || backVM != vm {
		t.Errorf("round trip = %+v, %v; want %+v", backVM, err, vm)
	}
}

func entry(t *testing.T, seq uint64, v voicemails.NewVoicemail) spool.Entry {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return spool.Entry{Seq: seq, Kind: voicemails.SpoolKind, Key: v.ChannelID, Data: data}
}

func TestSpoolWriter(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	s := voicemails.New(db.Pool())
	w := voicemails.SpoolWriter(s)

	a, b := message("ch-a", t0), message("ch-b", t0.Add(time.Minute))
	already := save(t, s, a) // written, then the spool's Remove was lost
	entries := []spool.Entry{entry(t, 1, a), entry(t, 2, b), entry(t, 3, b)}
	for range 2 { // the drain repeated after a crash
		if err := w(ctx, db, entries); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := s.List(ctx, "erik", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[1] != already || vs[0].ChannelID != "ch-b" || vs[0].Duration != b.Duration {
		t.Errorf("after the drains: %+v", vs)
	}
	if n := count(t, db, "SELECT count(*) FROM tasks"); n != 2 {
		t.Errorf("%d tasks, want 2", n)
	}

	// Entries that can never be written are marked so, for the Recorder to
	// drop them rather than hold up the spool.
	for name, e := range map[string]spool.Entry{
		"not JSON":   {Seq: 4, Kind: voicemails.SpoolKind, Key: "x", Data: json.RawMessage(`"rec-1"`)},
		"no channel": entry(t, 5, message("", t0)),
	} {
		if err := w(ctx, db, []spool.Entry{e}); !errors.Is(err, store.ErrBadEntry) {
			t.Errorf("%s: %v, want ErrBadEntry", name, err)
		}
	}
}

// TestSpooledWhilePostgreSQLIsDown: a voicemail recorded during an outage
// is kept in the spool and lands exactly once when PostgreSQL is back.
func TestSpooledWhilePostgreSQLIsDown(t *testing.T) {
	t.Parallel()
	db, u := newDB(t)
	ctx := context.Background()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t, p.Host)
	pdb := open(t, proxy.URL(u))
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	rec := store.NewRecorder(pdb, sp, nil, store.RecorderOptions{})
	t.Cleanup(rec.Stop)
	s := voicemails.New(pdb.Pool())
	rec.Register(voicemails.SpoolKind, voicemails.SpoolWriter(s))

	up, spooled, err := s.SaveOrSpool(ctx, rec, message("ch-up", t0))
	if err != nil || spooled || up.ID == 0 {
		t.Fatalf("SaveOrSpool while up = %+v, %v, %v", up, spooled, err)
	}

	proxy.Cut()
	down := message("ch-down", t0.Add(time.Minute))
	vm, spooled, err := s.SaveOrSpool(ctx, rec, down)
	if err != nil || !spooled || vm.ID != 0 {
		t.Fatalf("SaveOrSpool while down = %+v, %v, %v; want it spooled", vm, spooled, err)
	}
	if sp.Len() != 1 {
		t.Fatalf("spool holds %d entries, want 1", sp.Len())
	}
	// Invalid input is refused, not spooled.
	if _, _, err := s.SaveOrSpool(ctx, rec, message("", t0)); !errors.Is(err, voicemails.ErrInvalid) {
		t.Errorf("SaveOrSpool(invalid) = %v, want ErrInvalid", err)
	}
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded through a cut proxy")
	}
	if n := count(t, db, "SELECT count(*) FROM voicemails WHERE channel_id = 'ch-down'"); n != 0 {
		t.Fatalf("%d voicemails reached PostgreSQL through a cut proxy", n)
	}
	// The same message spooled twice (the flow retried): still one.
	if err := voicemails.Spool(rec, down); err != nil {
		t.Fatal(err)
	}

	proxy.Restore()
	if err := rec.Flush(ctx); err != nil {
		t.Fatalf("Flush after the outage: %v", err)
	}
	if sp.Len() != 0 {
		t.Errorf("spool holds %d entries after the flush", sp.Len())
	}
	got, err := s.List(ctx, "erik", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ChannelID != "ch-down" || !got[0].ReceivedAt.Equal(down.ReceivedAt) ||
		got[0].Duration != down.Duration || got[0].Recording != down.Recording || got[1] != up {
		t.Errorf("after the outage: %+v", got)
	}
	if n := count(t, db, "SELECT count(*) FROM tasks WHERE kind = 'voicemail'"); n != 2 {
		t.Errorf("%d voicemail tasks, want 2", n)
	}
	n, o, err := s.Counts(ctx, "erik")
	if err != nil || n != 2 || o != 0 {
		t.Errorf("Counts = %d, %d, %v", n, o, err)
	}
}
