package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/callback/tasks"
)

func TestSchema(t *testing.T) {
	t.Parallel()
	_, db := newStore(t)
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename = 'tasks'
		AND indexname IN ('tasks_queue_status_window', 'tasks_assignee_status')`); n != 2 {
		t.Errorf("%d of the 2 task indexes", n)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_trigger WHERE tgname = 'tasks_notify'`); n != 1 {
		t.Error("no notify trigger")
	}
	// The table's own checks hold whoever writes to it.
	for _, q := range []string{
		`INSERT INTO tasks (kind, queue, number, window_start, window_end) VALUES ('queue_callback', 'q', '0612345678', now(), now() + interval '1 hour')`,
		`INSERT INTO tasks (kind, queue, number, window_start, window_end) VALUES ('queue_callback', 'q', '+31612345678', now(), now())`,
		`INSERT INTO tasks (kind, queue, number, window_start, window_end, status) VALUES ('queue_callback', 'q', '+31612345678', now(), now() + interval '1 hour', 'claimed')`,
		`INSERT INTO tasks (kind, queue, number, window_start, window_end, status) VALUES ('queue_callback', 'q', '+31612345678', now(), now() + interval '1 hour', 'done')`,
		`INSERT INTO tasks (kind, queue, number, window_start, window_end) VALUES ('other', 'q', '+31612345678', now(), now() + interval '1 hour')`,
	} {
		if _, err := db.Pool().Exec(context.Background(), q); err == nil {
			t.Errorf("accepted: %s", q)
		}
	}
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	n := callback(t0)
	n.Notes = "  asks about permit 2026-0042  "
	got := create(t, s, n)
	want := tasks.Task{
		ID: got.ID, Kind: tasks.KindQueueCallback, Queue: "general", Number: "+31612345678", CallerName: "J. de Vries",
		WindowStart: t0, WindowEnd: t0.Add(slot), Status: tasks.Pending, MaxAttempts: tasks.DefaultMaxAttempts,
		Notes: "asks about permit 2026-0042", CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt, Version: 1,
	}
	mustSame(t, "created", got, want)
	if got.ID == 0 || got.CreatedAt.IsZero() || got.CreatedAt.Location() != time.UTC || got.WindowStart.Location() != time.UTC {
		t.Errorf("created %+v", got)
	}
	mustSame(t, "Get", get(t, s, got.ID), got)

	if _, err := s.Get(ctx, got.ID+1000); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("Get(unknown): %v, want ErrNotFound", err)
	}

	// A personal task with its own limit of attempts.
	p := callback(t0.Add(time.Hour))
	p.Kind, p.Assignee, p.MaxAttempts, p.Actor = tasks.KindAgreedByAgent, "agent7", 5, "agent7"
	pt := create(t, s, p)
	if pt.Assignee != "agent7" || pt.MaxAttempts != 5 || pt.Kind != tasks.KindAgreedByAgent {
		t.Errorf("personal task %+v", pt)
	}

	// The JSON form has snake_case names and leaves unset times out.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "kind", "queue", "number", "caller_name", "window_start", "window_end", "assignee",
		"status", "attempts", "max_attempts", "lease_owner", "notes", "result", "source_key", "created_at", "updated_at", "version"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	for _, k := range []string{"lease_expires", "completed_at"} {
		if _, ok := m[k]; ok {
			t.Errorf("JSON has unset %q: %s", k, b)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM tasks"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	for name, mod := range map[string]func(*tasks.NewTask){
		"no kind":              func(n *tasks.NewTask) { n.Kind = "" },
		"unknown kind":         func(n *tasks.NewTask) { n.Kind = "sms" },
		"no queue":             func(n *tasks.NewTask) { n.Queue = " " },
		"national number":      func(n *tasks.NewTask) { n.Number = "0612345678" },
		"number with spaces":   func(n *tasks.NewTask) { n.Number = "+31 6 12345678" },
		"number too short":     func(n *tasks.NewTask) { n.Number = "+3161234" },
		"number too long":      func(n *tasks.NewTask) { n.Number = "+3161234567890123" },
		"number with +0":       func(n *tasks.NewTask) { n.Number = "+0612345678" },
		"no number":            func(n *tasks.NewTask) { n.Number = "" },
		"empty window":         func(n *tasks.NewTask) { n.WindowEnd = n.WindowStart },
		"reversed window":      func(n *tasks.NewTask) { n.WindowEnd = n.WindowStart.Add(-time.Minute) },
		"no window":            func(n *tasks.NewTask) { n.WindowStart, n.WindowEnd = time.Time{}, time.Time{} },
		"negative attempts":    func(n *tasks.NewTask) { n.MaxAttempts = -1 },
		"too many attempts":    func(n *tasks.NewTask) { n.MaxAttempts = tasks.MaxMaxAttempts + 1 },
		"notes not UTF-8":      func(n *tasks.NewTask) { n.Notes = "caf\xe9" },
		"notes with NUL":       func(n *tasks.NewTask) { n.Notes = "a\x00b" },
		"notes too long":       func(n *tasks.NewTask) { n.Notes = strings.Repeat("é", tasks.MaxNoteLen+1) },
		"assignee too long":    func(n *tasks.NewTask) { n.Assignee = strings.Repeat("a", tasks.MaxTextLen+1) },
		"no actor":             func(n *tasks.NewTask) { n.Actor = "" },
		"source key of spaces": func(n *tasks.NewTask) { n.SourceKey = "  " },
	} {
		n := callback(t0)
		mod(&n)
		if _, _, err := s.Create(ctx, n); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM tasks"); n != 0 {
		t.Errorf("invalid input stored %d tasks", n)
	}

	// A caller name is never a reason to lose a callback: it is cleaned.
	n := callback(t0)
	n.CallerName = "Jan\x00 de Vries \xff" + strings.Repeat("x", 300)
	got := create(t, s, n)
	if !strings.HasPrefix(got.CallerName, "Jan de Vries \uFFFD") || len([]rune(got.CallerName)) != tasks.MaxTextLen {
		t.Errorf("caller name stored as %q", got.CallerName)
	}
}

func TestCreateIdempotent(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	n := callback(t0)
	n.SourceKey = "1700000000.42"
	first := create(t, s, n)
	if first.SourceKey != n.SourceKey {
		t.Errorf("source key %q", first.SourceKey)
	}
	n.Notes = "the spool's second copy"
	again, created, err := s.Create(ctx, n)
	if err != nil || created {
		t.Fatalf("second Create: created %v, %v", created, err)
	}
	mustSame(t, "second Create", again, first)

	// Many writers of one key at once: one task.
	n.SourceKey = "1700000000.43"
	var wg sync.WaitGroup
	results := make([]tasks.Task, 8)
	made := make([]bool, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() { results[i], made[i], errs[i] = s.Create(ctx, n) })
	}
	wg.Wait()
	creators := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if made[i] {
			creators++
		}
		if results[i].ID != results[0].ID {
			t.Errorf("writer %d got task %d, writer 0 task %d", i, results[i].ID, results[0].ID)
		}
	}
	if creators != 1 {
		t.Errorf("%d writers created the task, want 1", creators)
	}
	// Tasks without a key are all stored.
	n.SourceKey = ""
	create(t, s, n)
	create(t, s, n)
	if c := count(t, db, "SELECT count(*) FROM tasks"); c != 4 {
		t.Errorf("%d tasks, want 4", c)
	}
	if c := count(t, db, "SELECT count(*) FROM task_events WHERE action = 'created'"); c != 4 {
		t.Errorf("%d creation events, want 4", c)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	mk := func(queue, assignee string, start time.Time) tasks.Task {
		n := callback(start)
		n.Queue, n.Assignee = queue, assignee
		return create(t, s, n)
	}
	poolLate := mk("general", "", t0.Add(2*time.Hour))
	mine := mk("general", "agent1", t0.Add(time.Hour))
	poolEarly := mk("general", "", t0)
	otherQueue := mk("permits", "", t0)
	someoneElse := mk("general", "agent2", t0)
	mineDone := mk("permits", "agent1", t0.Add(-time.Hour))
	if _, err := s.Complete(ctx, mineDone.ID, "agent1", 1, tasks.Reached, "", t0, nil); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		f    tasks.Filter
		want []tasks.Task
	}{
		{"all", tasks.Filter{}, []tasks.Task{mineDone, poolEarly, otherQueue, someoneElse, mine, poolLate}},
		{"mine", tasks.Filter{Assignee: "agent1"}, []tasks.Task{mineDone, mine}},
		{"my queues' pool", tasks.Filter{Queues: []string{"general"}}, []tasks.Task{poolEarly, poolLate}},
		{"mine or my pool", tasks.Filter{Assignee: "agent1", Queues: []string{"general"}}, []tasks.Task{mineDone, poolEarly, mine, poolLate}},
		{"two pools", tasks.Filter{Queues: []string{"general", "permits"}}, []tasks.Task{poolEarly, otherQueue, poolLate}},
		{"mine, pending", tasks.Filter{Assignee: "agent1", Statuses: []tasks.Status{tasks.Pending}}, []tasks.Task{mine}},
		{"done or failed", tasks.Filter{Statuses: []tasks.Status{tasks.Done, tasks.Failed}}, []tasks.Task{mineDone}},
		{"overdue at 10:20", tasks.Filter{OverdueAt: t0.Add(80 * time.Minute)}, []tasks.Task{poolEarly, otherQueue, someoneElse, mine}},
		{"my pool overdue", tasks.Filter{Queues: []string{"general"}, OverdueAt: t0.Add(80 * time.Minute)}, []tasks.Task{poolEarly}},
		{"limit", tasks.Filter{Limit: 2}, []tasks.Task{mineDone, poolEarly}},
		{"unknown agent", tasks.Filter{Assignee: "nobody"}, nil},
	} {
		got, err := s.List(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(ids(got), ids(c.want)) {
			t.Errorf("%s: %v, want %v", c.name, ids(got), ids(c.want))
		}
	}
	if _, err := s.List(ctx, tasks.Filter{Statuses: []tasks.Status{"open"}}); !errors.Is(err, tasks.ErrInvalid) {
		t.Errorf("unknown status: %v, want ErrInvalid", err)
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	task := create(t, s, callback(t0))

	// A stale version: conflict, and nothing changes.
	before := get(t, s, task.ID)
	cur, err := s.Claim(ctx, task.ID, "agent1", task.Version+1, time.Minute, t0)
	if !errors.Is(err, tasks.ErrConflict) {
		t.Fatalf("stale version: %v, want ErrConflict", err)
	}
	mustSame(t, "task returned with the conflict", cur, before)
	mustSame(t, "after the conflict", get(t, s, task.ID), before)
	if n := count(t, db, "SELECT count(*) FROM task_events WHERE task_id = $1", task.ID); n != 1 {
		t.Errorf("%d events after a conflict, want 1", n)
	}

	// Invalid input.
	for name, call := range map[string]func() error{
		"no agent": func() error { _, err := s.Claim(ctx, task.ID, "", 1, time.Minute, t0); return err },
		"no lease": func() error { _, err := s.Claim(ctx, task.ID, "agent1", 1, 0, t0); return err },
		"no time":  func() error { _, err := s.Claim(ctx, task.ID, "agent1", 1, time.Minute, time.Time{}); return err },
		"long agent": func() error {
			_, err := s.Claim(ctx, task.ID, strings.Repeat("a", 201), 1, time.Minute, t0)
			return err
		},
	} {
		if err := call(); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Claim(ctx, task.ID+99, "agent1", 1, time.Minute, t0); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("unknown task: %v, want ErrNotFound", err)
	}

	// Two agents claim the same version at once: one gets it.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, agent := range []string{"agent1", "agent2"} {
		wg.Go(func() { _, errs[i] = s.Claim(ctx, task.ID, agent, task.Version, time.Minute, t0) })
	}
	wg.Wait()
	winner, loser := "agent1", "agent2"
	switch {
	case errs[0] == nil && errors.Is(errs[1], tasks.ErrConflict):
	case errs[1] == nil && errors.Is(errs[0], tasks.ErrConflict):
		winner, loser = loser, winner
	default:
		t.Fatalf("concurrent claims: %v, %v; want one success and one ErrConflict", errs[0], errs[1])
	}
	claimed := get(t, s, task.ID)
	if claimed.Status != tasks.Claimed || claimed.Assignee != winner || claimed.LeaseOwner != winner ||
		!claimed.LeaseExpires.Equal(t0.Add(time.Minute)) || !claimed.ClaimedFromPool || claimed.Version != 2 {
		t.Fatalf("claimed %+v", claimed)
	}

	// The other agent cannot take it while the lease runs, even at the
	// current version...
	if _, err := s.Claim(ctx, task.ID, loser, claimed.Version, time.Minute, t0.Add(59*time.Second)); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("claim of a held task: %v, want ErrConflict", err)
	}
	// ...the holder can renew it...
	renewed, err := s.Claim(ctx, task.ID, winner, claimed.Version, time.Minute, t0.Add(30*time.Second))
	if err != nil || !renewed.LeaseExpires.Equal(t0.Add(90*time.Second)) || !renewed.ClaimedFromPool {
		t.Fatalf("renewal: %+v, %v", renewed, err)
	}
	// ...and after it expired the other agent can take it over.
	taken, err := s.Claim(ctx, task.ID, loser, renewed.Version, time.Minute, t0.Add(2*time.Minute))
	if err != nil || taken.Assignee != loser || taken.LeaseOwner != loser || !taken.ClaimedFromPool {
		t.Fatalf("take-over after expiry: %+v, %v", taken, err)
	}

	// A final task cannot be claimed.
	done, err := s.Complete(ctx, task.ID, loser, taken.Version, tasks.Reached, "", t0.Add(3*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, task.ID, "agent3", done.Version, time.Minute, t0.Add(time.Hour)); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("claim of a done task: %v, want ErrConflict", err)
	}

	// Claiming someone's personal task keeps it personal.
	n := callback(t0)
	n.Assignee = "agent5"
	personal := create(t, s, n)
	pc, err := s.Claim(ctx, personal.ID, "agent5", 1, time.Minute, t0)
	if err != nil || pc.ClaimedFromPool || pc.Assignee != "agent5" {
		t.Fatalf("claim of a personal task: %+v, %v", pc, err)
	}
	if n, err := s.ExpireLeases(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireLeases: %d, %v", n, err)
	}
	if p := get(t, s, personal.ID); p.Assignee != "agent5" || p.Status != tasks.Pending {
		t.Errorf("personal task after expiry: %+v", p)
	}
}

func TestSetDialing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	task := create(t, s, callback(t0))
	if _, err := s.SetDialing(ctx, task.ID, "node1", task.Version, t0); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("dialing a pending task: %v, want ErrConflict", err)
	}
	due, err := s.ClaimDue(ctx, "general", "node1", 10, 10*time.Minute, t0)
	if err != nil || len(due) != 1 {
		t.Fatalf("ClaimDue: %v, %v", due, err)
	}
	cur, err := s.SetDialing(ctx, task.ID, "node2", due[0].Version, t0)
	if !errors.Is(err, tasks.ErrForbidden) || cur.LeaseOwner != "node1" {
		t.Errorf("dialing another's task: %+v, %v, want ErrForbidden", cur, err)
	}
	dialing, err := s.SetDialing(ctx, task.ID, "node1", due[0].Version, t0.Add(time.Second))
	if err != nil || dialing.Status != tasks.Dialing || dialing.LeaseOwner != "node1" || !dialing.LeaseExpires.Equal(due[0].LeaseExpires) {
		t.Fatalf("SetDialing: %+v, %v", dialing, err)
	}
	if _, err := s.SetDialing(ctx, task.ID, "node1", dialing.Version, t0); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("dialing twice: %v, want ErrConflict", err)
	}
	done, err := s.Complete(ctx, task.ID, "agent1", dialing.Version, tasks.Reached, "spoke to her", t0.Add(5*time.Minute), nil)
	if err != nil || done.Status != tasks.Done || done.LeaseOwner != "" || !done.LeaseExpires.IsZero() ||
		!done.CompletedAt.Equal(t0.Add(5*time.Minute)) || done.Result != "reached" || done.Attempts != 1 {
		t.Fatalf("Complete: %+v, %v", done, err)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	slots := []time.Time{t0.Add(2 * time.Hour), t0.Add(24 * time.Hour)}
	var asked []time.Time
	next := func(after time.Time) (time.Time, time.Time, bool) {
		asked = append(asked, after)
		for _, s := range slots {
			if s.After(after) {
				return s, s.Add(slot), true
			}
		}
		return time.Time{}, time.Time{}, false
	}

	task := create(t, s, callback(t0))
	c, err := s.Claim(ctx, task.ID, "agent1", task.Version, 10*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	// First no answer: back to the pool in the next slot.
	now := t0.Add(time.Minute)
	r1, err := s.Complete(ctx, c.ID, "agent1", c.Version, tasks.NoAnswer, "voicemail of the customer", now, next)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Status != tasks.Pending || r1.Attempts != 1 || r1.Result != "no_answer" || r1.LeaseOwner != "" ||
		!r1.LeaseExpires.IsZero() || r1.Assignee != "" || r1.ClaimedFromPool || !r1.CompletedAt.IsZero() ||
		!r1.WindowStart.Equal(slots[0]) || !r1.WindowEnd.Equal(slots[0].Add(slot)) || r1.Notes != "voicemail of the customer" {
		t.Fatalf("after the first no answer: %+v", r1)
	}
	if len(asked) != 1 || !asked[0].Equal(now) {
		t.Errorf("next asked for %v, want %v", asked, now)
	}
	// Second no answer, by the dispatcher: the following slot.
	due, err := s.ClaimDue(ctx, "general", "node1", 5, 10*time.Minute, slots[0])
	if err != nil || len(due) != 1 {
		t.Fatalf("ClaimDue: %v, %v", due, err)
	}
	r2, err := s.Complete(ctx, task.ID, "node1", due[0].Version, tasks.NoAnswer, "", slots[0].Add(time.Minute), next)
	if err != nil || r2.Status != tasks.Pending || r2.Attempts != 2 || !r2.WindowStart.Equal(slots[1]) ||
		r2.Notes != "voicemail of the customer" {
		t.Fatalf("after the second no answer: %+v, %v", r2, err)
	}
	// Third (max_attempts 3): failed.
	r3, err := s.Complete(ctx, task.ID, "agent2", r2.Version, tasks.NoAnswer, "third try", slots[1].Add(time.Minute), next)
	if err != nil || r3.Status != tasks.Failed || r3.Attempts != 3 || !r3.CompletedAt.Equal(slots[1].Add(time.Minute)) ||
		!r3.WindowStart.Equal(slots[1]) || r3.Notes != "voicemail of the customer\nthird try" {
		t.Fatalf("after the third no answer: %+v, %v", r3, err)
	}
	if _, err := s.Complete(ctx, task.ID, "agent2", r3.Version, tasks.Reached, "", slots[1], next); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("completing a failed task: %v, want ErrConflict", err)
	}

	// Wrong number: failed at once, a pending task can be completed
	// without a claim, and the agent stays as who did it.
	wn := create(t, s, callback(t0))
	wc, err := s.Claim(ctx, wn.ID, "agent3", wn.Version, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Complete(ctx, wn.ID, "agent3", wc.Version, tasks.WrongNumber, "", t0.Add(time.Minute), next)
	if err != nil || w.Status != tasks.Failed || w.Result != "wrong_number" || w.Attempts != 1 || w.Assignee != "agent3" {
		t.Fatalf("wrong number: %+v, %v", w, err)
	}
	reached := create(t, s, callback(t0))
	rr, err := s.Complete(ctx, reached.ID, "agent4", reached.Version, tasks.Reached, "", t0.Add(time.Minute), nil)
	if err != nil || rr.Status != tasks.Done {
		t.Fatalf("reached without a claim: %+v, %v", rr, err)
	}

	// No free slot: it stays pending in its window (overdue, not lost).
	ns := create(t, s, callback(t0))
	nsr, err := s.Complete(ctx, ns.ID, "agent4", ns.Version, tasks.NoAnswer, "", t0.Add(48*time.Hour), next)
	if err != nil || nsr.Status != tasks.Pending || !nsr.WindowStart.Equal(t0) || nsr.Attempts != 1 {
		t.Fatalf("no answer without a slot: %+v, %v", nsr, err)
	}

	// Bad input changes nothing.
	before := get(t, s, ns.ID)
	for name, call := range map[string]func() error{
		"unknown result": func() error {
			_, err := s.Complete(ctx, ns.ID, "agent4", before.Version, "busy", "", t0, next)
			return err
		},
		"no actor": func() error {
			_, err := s.Complete(ctx, ns.ID, "", before.Version, tasks.Reached, "", t0, next)
			return err
		},
		"long notes": func() error {
			_, err := s.Complete(ctx, ns.ID, "agent4", before.Version, tasks.Reached, strings.Repeat("n", tasks.MaxNoteLen+1), t0, next)
			return err
		},
		"empty next slot": func() error {
			_, err := s.Complete(ctx, ns.ID, "agent4", before.Version, tasks.NoAnswer, "", t0,
				func(time.Time) (time.Time, time.Time, bool) { return t0, t0, true })
			return err
		},
	} {
		if err := call(); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	mustSame(t, "after bad input", get(t, s, ns.ID), before)

	if n := count(t, db, "SELECT count(*) FROM task_events WHERE action = 'result'"); n != 6 {
		t.Errorf("%d result events, want 6", n)
	}
}

func TestRescheduleAndCancel(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	task := create(t, s, callback(t0))
	c, err := s.Claim(ctx, task.ID, "agent1", task.Version, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	evil := `'); DROP TABLE tasks; -- "quoted" \ $1 %s ; SELECT pg_sleep(10)`
	start := t0.Add(5 * time.Hour)
	r, err := s.Reschedule(ctx, task.ID, "agent1", c.Version, start, start.Add(slot), evil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != tasks.Pending || !r.WindowStart.Equal(start) || !r.WindowEnd.Equal(start.Add(slot)) ||
		r.LeaseOwner != "" || r.Assignee != "" || r.Notes != evil || r.Version != c.Version+1 || r.Attempts != 0 {
		t.Fatalf("rescheduled: %+v", r)
	}
	for name, call := range map[string]func() error{
		"reversed window": func() error {
			_, err := s.Reschedule(ctx, task.ID, "agent1", r.Version, start, start.Add(-slot), "")
			return err
		},
		"no actor": func() error {
			_, err := s.Reschedule(ctx, task.ID, "", r.Version, start, start.Add(slot), "")
			return err
		},
	} {
		if err := call(); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Reschedule(ctx, task.ID, "agent1", c.Version, start, start.Add(slot), ""); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("stale reschedule: %v, want ErrConflict", err)
	}
	if _, err := s.Cancel(ctx, task.ID, "agent1", c.Version, "stale"); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("stale cancel: %v, want ErrConflict", err)
	}
	x, err := s.Cancel(ctx, task.ID, "supervisor", r.Version, "customer called again; helped")
	if err != nil || x.Status != tasks.Cancelled || x.CompletedAt.IsZero() || x.Notes != evil+"\ncustomer called again; helped" {
		t.Fatalf("cancelled: %+v, %v", x, err)
	}
	if _, err := s.Cancel(ctx, task.ID, "supervisor", x.Version, ""); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("cancel twice: %v, want ErrConflict", err)
	}
	if _, err := s.Reschedule(ctx, task.ID, "supervisor", x.Version, start, start.Add(slot), ""); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("reschedule a cancelled task: %v, want ErrConflict", err)
	}
	if _, err := s.Cancel(ctx, 424242, "supervisor", 1, ""); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("cancel unknown: %v, want ErrNotFound", err)
	}
	if n := count(t, db, "SELECT count(*) FROM tasks WHERE notes LIKE '%DROP TABLE%'"); n != 1 {
		t.Errorf("notes with SQL were not stored as data")
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	task := create(t, s, callback(t0))
	c, err := s.Claim(ctx, task.ID, "agent1", task.Version, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Complete(ctx, task.ID, "agent1", c.Version, tasks.NoAnswer, "no reply", t0.Add(time.Minute),
		func(time.Time) (time.Time, time.Time, bool) { return t0.Add(time.Hour), t0.Add(time.Hour + slot), true })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDue(ctx, "general", "node1", 1, time.Minute, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireLeases(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireLeases: %d, %v", n, err)
	}
	cur := get(t, s, n.ID)
	if _, err := s.Cancel(ctx, task.ID, "supervisor", cur.Version, "duplicate"); err != nil {
		t.Fatal(err)
	}

	events, err := s.History(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		actor, action string
		from, to      tasks.Status
		at            time.Time
	}
	want := []row{
		{"caller", tasks.ActionCreated, "", tasks.Pending, time.Time{}},
		{"agent1", tasks.ActionClaimed, tasks.Pending, tasks.Claimed, t0},
		{"agent1", tasks.ActionResult, tasks.Claimed, tasks.Pending, t0.Add(time.Minute)},
		{"node1", tasks.ActionClaimed, tasks.Pending, tasks.Claimed, t0.Add(time.Hour)},
		{"system", tasks.ActionLeaseExpired, tasks.Claimed, tasks.Pending, t0.Add(2 * time.Hour)},
		{"supervisor", tasks.ActionCancelled, tasks.Pending, tasks.Cancelled, time.Time{}},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
	}
	for i, e := range events {
		w := want[i]
		if e.TaskID != task.ID || e.Actor != w.actor || e.Action != w.action || e.From != w.from || e.To != w.to ||
			(!w.at.IsZero() && !e.At.Equal(w.at)) || e.At.IsZero() {
			t.Errorf("event %d: %+v, want %+v", i, e, w)
		}
		var detail map[string]any
		if err := json.Unmarshal(e.Detail, &detail); err != nil {
			t.Errorf("event %d detail %s: %v", i, e.Detail, err)
		}
	}
	var d map[string]any
	json.Unmarshal(events[2].Detail, &d)
	if d["result"] != "no_answer" || d["notes"] != "no reply" || d["attempt"] != 1.0 || d["window_start"] == nil {
		t.Errorf("result detail %s", events[2].Detail)
	}
	json.Unmarshal(events[4].Detail, &d)
	if d["lease_owner"] != "node1" {
		t.Errorf("lease expiry detail %s", events[4].Detail)
	}

	if _, err := s.History(ctx, 987654); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("History(unknown): %v, want ErrNotFound", err)
	}
}

func TestBooked(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	a := t0.Add(time.Hour).In(time.FixedZone("CET", 3600)) // any zone in, UTC out
	create(t, s, callback(a))
	create(t, s, callback(a))
	cancelled := create(t, s, callback(a))
	if _, err := s.Cancel(ctx, cancelled.ID, "supervisor", 1, ""); err != nil {
		t.Fatal(err)
	}
	b := t0.Add(2 * time.Hour)
	create(t, s, callback(b))
	vm := callback(b)
	vm.Kind = tasks.KindVoicemail
	create(t, s, vm)
	other := callback(b)
	other.Queue = "permits"
	create(t, s, other)
	create(t, s, callback(t0.Add(48*time.Hour)))

	got, err := s.Booked(ctx, "general", t0, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[time.Time]int{a.UTC(): 2, b: 1}
	if len(got) != len(want) {
		t.Fatalf("Booked %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Booked %v: %v, want %d at %v", got, got[k], v, k)
		}
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	now := t0.Add(3 * time.Hour) // 12:00
	complete := func(task tasks.Task, r tasks.Result, at time.Time) {
		t.Helper()
		if _, err := s.Complete(ctx, task.ID, "agent1", task.Version, r, "", at, nil); err != nil {
			t.Fatal(err)
		}
	}
	// general: done on time (at the very end of the window), done late,
	// failed, overdue pending, overdue claimed, dialing (not overdue: being
	// called), upcoming.
	onTime := create(t, s, callback(t0))
	complete(onTime, tasks.Reached, t0.Add(slot))
	late := create(t, s, callback(t0))
	complete(late, tasks.Reached, t0.Add(slot+time.Second))
	failed := create(t, s, callback(t0))
	complete(failed, tasks.WrongNumber, t0.Add(time.Minute))
	create(t, s, callback(t0.Add(time.Hour)))
	claimedLate := create(t, s, callback(t0.Add(time.Hour)))
	if _, err := s.Claim(ctx, claimedLate.ID, "agent1", 1, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	dialing := create(t, s, callback(t0.Add(2*time.Hour)))
	d, err := s.Claim(ctx, dialing.ID, "agent2", 1, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetDialing(ctx, dialing.ID, "agent2", d.Version, now); err != nil {
		t.Fatal(err)
	}
	upcoming := create(t, s, callback(now.Add(time.Hour)))
	complete(upcoming, tasks.NoAnswer, now)         // an attempt; stays pending in its window
	create(t, s, callback(now.Add(-5*time.Minute))) // due: its window holds now
	// permits: one cancelled.
	p := callback(t0)
	p.Queue = "permits"
	pc := create(t, s, p)
	if _, err := s.Cancel(ctx, pc.ID, "supervisor", 1, ""); err != nil {
		t.Fatal(err)
	}

	// direct: an overdue voicemail task is not a callback (the voicemail
	// metrics report it), so direct has no counts.
	vm := callback(t0)
	vm.Kind, vm.Queue, vm.Number, vm.Assignee = tasks.KindVoicemail, "direct", "", "anna"
	create(t, s, vm)

	got, err := s.Counts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []tasks.Counts{
		{Queue: "general", Pending: 5, Due: 1, Overdue: 2, DoneOnTime: 1, DoneLate: 1, Failed: 1, Attempts: 4},
		{Queue: "permits"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Counts:\n got %+v\nwant %+v", got, want)
	}
}
