package tasks_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"callmon/callback/tasks"
)

// TestTwoDispatchersRace: two callmon instances (two pools) take 1,000 due
// tasks in small batches as fast as they can; every task is handed out
// exactly once.
func TestTwoDispatchersRace(t *testing.T) {
	t.Parallel()
	db, u := newDB(t)
	ctx := context.Background()
	const total = 1000
	// 1,000 due tasks over 10 windows, plus some not due yet and some of
	// another queue, which must not be taken.
	if _, err := db.Pool().Exec(ctx, `
		INSERT INTO tasks (kind, queue, number, window_start, window_end)
		SELECT 'queue_callback', q, '+3161' || lpad(i::text, 7, '0'),
			$1::timestamptz + (i % 10) * interval '15 minutes', $1::timestamptz + (i % 10 + 1) * interval '15 minutes'
		FROM generate_series(1, $2::int) i, (VALUES ('general')) v(q)
		UNION ALL
		SELECT 'queue_callback', 'general', '+31612345678', $3, $3::timestamptz + interval '15 minutes'
		FROM generate_series(1, 5)
		UNION ALL
		SELECT 'queue_callback', 'permits', '+31612345678', $1, $1::timestamptz + interval '15 minutes'
		FROM generate_series(1, 5)`, t0.Add(-3*time.Hour), total, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	owners := []string{"callmon-a", "callmon-b"}
	got := make([][][]tasks.Task, len(owners)) // batches per owner
	errs := make([]error, len(owners))
	calls := make([]int, len(owners))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, owner := range owners {
		s := tasks.New(open(t, u).Pool()) // a pool of its own, like another instance
		wg.Go(func() {
			<-start
			for {
				batch, err := s.ClaimDue(ctx, "general", owner, 7, time.Hour, t0)
				calls[i]++
				if err != nil {
					errs[i] = err
					return
				}
				if len(batch) == 0 {
					return
				}
				got[i] = append(got[i], batch)
			}
		})
	}
	close(start)
	wg.Wait()

	seen := map[int64]string{}
	for i, owner := range owners {
		if errs[i] != nil {
			t.Fatalf("%s: %v", owner, errs[i])
		}
		n := 0
		for _, batch := range got[i] {
			n += len(batch)
			for j, task := range batch {
				if prev, ok := seen[task.ID]; ok {
					t.Errorf("task %d handed to %s and %s", task.ID, prev, owner)
				}
				seen[task.ID] = owner
				if task.Status != tasks.Claimed || task.LeaseOwner != owner || task.Version != 2 ||
					!task.LeaseExpires.Equal(t0.Add(time.Hour)) || task.Queue != "general" || task.WindowStart.After(t0) {
					t.Fatalf("%s got %+v", owner, task)
				}
				if j > 0 && batch[j-1].WindowStart.After(task.WindowStart) {
					t.Errorf("%s: batch not in window order: %v", owner, ids(batch))
				}
			}
		}
		t.Logf("%s: %d tasks in %d calls", owner, n, calls[i])
	}
	if len(seen) != total {
		t.Errorf("%d tasks handed out, want %d", len(seen), total)
	}
	for _, owner := range owners {
		if n := count(t, db, "SELECT count(*) FROM tasks WHERE lease_owner = $1", owner); n != countOwner(seen, owner) {
			t.Errorf("%s holds %d tasks in the table, was handed %d", owner, n, countOwner(seen, owner))
		}
	}
	if n := count(t, db, "SELECT count(*) FROM tasks WHERE status = 'pending'"); n != 10 {
		t.Errorf("%d pending tasks left, want the 10 not due or of another queue", n)
	}
	if n := count(t, db, "SELECT count(*) FROM task_events WHERE action = 'claimed'"); n != total {
		t.Errorf("%d claim events, want %d", n, total)
	}
}

func countOwner(seen map[int64]string, owner string) int {
	n := 0
	for _, o := range seen {
		if o == owner {
			n++
		}
	}
	return n
}

func TestClaimDue(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	later := create(t, s, callback(t0.Add(-10*time.Minute)))
	first := create(t, s, callback(t0.Add(-time.Hour)))
	future := create(t, s, callback(t0.Add(time.Minute)))
	n := callback(t0.Add(-time.Hour))
	n.Assignee = "agent9"
	personal := create(t, s, n)

	got, err := s.ClaimDue(ctx, "general", "node1", 2, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []int64{first.ID, personal.ID}) {
		t.Fatalf("first batch %v, want %v", ids(got), []int64{first.ID, personal.ID})
	}
	if got[1].Assignee != "agent9" || got[1].ClaimedFromPool {
		t.Errorf("personal task claimed by a dispatcher: %+v", got[1])
	}
	got, err = s.ClaimDue(ctx, "general", "node1", 10, time.Minute, t0)
	if err != nil || !slices.Equal(ids(got), []int64{later.ID}) {
		t.Fatalf("second batch %v, %v; want %d", ids(got), err, later.ID)
	}
	if got, err := s.ClaimDue(ctx, "general", "node1", 10, time.Minute, t0); err != nil || len(got) != 0 {
		t.Fatalf("nothing due: %v, %v", got, err)
	}
	if got, err := s.ClaimDue(ctx, "general", "node1", 10, time.Minute, t0.Add(time.Minute)); err != nil || !slices.Equal(ids(got), []int64{future.ID}) {
		t.Fatalf("at its start: %v, %v", ids(got), err)
	}
	for name, call := range map[string]func() error{
		"no queue": func() error { _, err := s.ClaimDue(ctx, "", "node1", 1, time.Minute, t0); return err },
		"no owner": func() error { _, err := s.ClaimDue(ctx, "general", "", 1, time.Minute, t0); return err },
		"n=0":      func() error { _, err := s.ClaimDue(ctx, "general", "node1", 0, time.Minute, t0); return err },
		"n large": func() error {
			_, err := s.ClaimDue(ctx, "general", "node1", tasks.MaxClaimBatch+1, time.Minute, t0)
			return err
		},
		"no lease": func() error { _, err := s.ClaimDue(ctx, "general", "node1", 1, 0, t0); return err },
		"no time":  func() error { _, err := s.ClaimDue(ctx, "general", "node1", 1, time.Minute, time.Time{}); return err },
	} {
		if err := call(); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestExpiredLease: a task whose holder went away returns — to another
// dispatcher, and through ExpireLeases to the pool.
func TestExpiredLease(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	task := create(t, s, callback(t0))

	a, err := s.ClaimDue(ctx, "general", "node-a", 10, time.Minute, t0)
	if err != nil || len(a) != 1 {
		t.Fatalf("node-a: %v, %v", a, err)
	}
	dialing, err := s.SetDialing(ctx, task.ID, "node-a", a[0].Version, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Before the lease ends nobody else gets it.
	if b, err := s.ClaimDue(ctx, "general", "node-b", 10, time.Minute, t0.Add(time.Minute)); err != nil || len(b) != 0 {
		t.Fatalf("node-b while the lease runs: %v, %v", b, err)
	}
	if n, err := s.ExpireLeases(ctx, t0.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("ExpireLeases while the lease runs: %d, %v", n, err)
	}
	// node-a died mid-call; after its lease node-b takes the task.
	b, err := s.ClaimDue(ctx, "general", "node-b", 10, time.Minute, t0.Add(time.Minute+time.Millisecond))
	if err != nil || len(b) != 1 || b[0].ID != task.ID || b[0].LeaseOwner != "node-b" || b[0].Version != dialing.Version+1 ||
		b[0].Status != tasks.Claimed {
		t.Fatalf("node-b after expiry: %+v, %v", b, err)
	}
	// node-a comes back with its stale version: refused.
	if _, err := s.Complete(ctx, task.ID, "node-a", dialing.Version, tasks.Reached, "", t0.Add(2*time.Minute), nil); !errors.Is(err, tasks.ErrConflict) {
		t.Errorf("stale holder completing: %v, want ErrConflict", err)
	}

	// An agent claims a pool task and goes home: ExpireLeases returns it
	// to the pool, where every agent of the queue sees it again.
	pool := create(t, s, callback(t0.Add(time.Hour)))
	c, err := s.Claim(ctx, pool.ID, "agent1", pool.Version, 15*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if mine, _ := s.List(ctx, tasks.Filter{Queues: []string{"general"}}); slices.Contains(ids(mine), pool.ID) {
		t.Error("a claimed task is still in the pool list")
	}
	n, err := s.ExpireLeases(ctx, c.LeaseExpires.Add(time.Microsecond))
	if err != nil || n != 2 { // node-b's lease has expired too
		t.Fatalf("ExpireLeases: %d, %v", n, err)
	}
	back := get(t, s, pool.ID)
	if back.Status != tasks.Pending || back.Assignee != "" || back.ClaimedFromPool || back.LeaseOwner != "" ||
		!back.LeaseExpires.IsZero() || back.Version != c.Version+1 {
		t.Fatalf("after expiry: %+v", back)
	}
	if list, _ := s.List(ctx, tasks.Filter{Assignee: "agent2", Queues: []string{"general"}}); !slices.Contains(ids(list), pool.ID) {
		t.Error("the expired task is not in the pool again")
	}
	if n, err := s.ExpireLeases(ctx, t0.Add(24*time.Hour)); err != nil || n != 0 {
		t.Errorf("ExpireLeases again: %d, %v", n, err)
	}
}
