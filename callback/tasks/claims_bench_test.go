package tasks_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store"
	"callmon/callback/tasks"
)

// The claim benchmarks (issue 12): two dispatchers — two pools, as two
// callmon instances — take due tasks of one queue as fast as they can
// while the queue holds at least benchTasks due tasks. One op is one task
// claimed; claims/s is over both. BenchmarkCommitBaseline is what the disk
// allows: single-row UPDATE commits from two clients.
//
//	go test -run '^$' -bench 'Claim|CommitBaseline' -count 3 ./callback/tasks/
const benchTasks = 20000

// benchDispatchers are the competing dispatchers of the benchmarks.
var benchDispatchers = []string{"callmon-a", "callmon-b"}

// claimDB returns a database whose queue "general" holds benchTasks due
// tasks beyond the claims tasks the run will take, and the URL to open
// more pools on it.
func claimDB(b *testing.B, claims int) (*store.DB, string) {
	b.Helper()
	db, u := newDB(b)
	if _, err := db.Pool().Exec(context.Background(), `
		INSERT INTO tasks (kind, queue, number, window_start, window_end)
		SELECT 'queue_callback', 'general', '+3161' || lpad(i::text, 7, '0'),
			@now::timestamptz - (i % 2000) * interval '1 minute',
			@now::timestamptz - (i % 2000) * interval '1 minute' + interval '15 minutes'
		FROM generate_series(1, @total::int) i`,
		pgx.NamedArgs{"now": t0, "total": benchTasks + claims}); err != nil {
		b.Fatal(err)
	}
	analyze(b, db)
	return db, u
}

func BenchmarkClaimOne(b *testing.B)      { benchClaims(b, 1) }
func BenchmarkClaimBatch10(b *testing.B)  { benchClaims(b, 10) }
func BenchmarkClaimBatch100(b *testing.B) { benchClaims(b, 100) }

// benchClaims runs two dispatchers claiming batch tasks per ClaimDue until
// b.N tasks are claimed, and fails on a task handed out twice.
func benchClaims(b *testing.B, batch int) {
	// The last two batches may overshoot b.N.
	db, u := claimDB(b, b.N+2*batch)
	ctx := context.Background()
	stores := make([]*tasks.Store, len(benchDispatchers))
	for i := range stores {
		stores[i] = tasks.New(open(b, u).Pool())
		// Connect and prepare before the clock runs.
		if _, err := stores[i].ClaimDue(ctx, "other", "warm-up", 1, time.Minute, t0); err != nil {
			b.Fatal(err)
		}
	}
	var claimed atomic.Int64
	got := make([][]int64, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, s := range stores {
		wg.Go(func() {
			for claimed.Load() < int64(b.N) {
				ts, err := s.ClaimDue(ctx, "general", benchDispatchers[i], batch, time.Hour, t0)
				if err != nil {
					errs[i] = err
					return
				}
				claimed.Add(int64(len(ts)))
				for _, t := range ts {
					got[i] = append(got[i], t.ID)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	n := claimed.Load()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "claims/s")
	seen := make(map[int64]bool, n)
	for i, ids := range got {
		for _, id := range ids {
			if seen[id] {
				b.Fatalf("task %d handed out twice (again to %s)", id, benchDispatchers[i])
			}
			seen[id] = true
		}
	}
	if events := count(b, db, `SELECT count(*) FROM task_events WHERE action = 'claimed'`); int64(events) != n {
		b.Fatalf("%d claim events for %d tasks claimed", events, n)
	}
}

// BenchmarkCommitBaseline: two clients commit single-row UPDATEs of rows
// of their own in a table without indexes or triggers beyond its key —
// what the disk's commit rate allows, as many commits as one claim each.
func BenchmarkCommitBaseline(b *testing.B) {
	db, u := newDB(b)
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `CREATE TABLE commit_baseline (id int PRIMARY KEY, n bigint NOT NULL);
		INSERT INTO commit_baseline SELECT i, 0 FROM generate_series(0, 1) i`); err != nil {
		b.Fatal(err)
	}
	pools := make([]*store.DB, len(benchDispatchers))
	for i := range pools {
		pools[i] = open(b, u)
		if _, err := pools[i].Pool().Exec(ctx, `UPDATE commit_baseline SET n = n WHERE id = $1`, i); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, db := range pools {
		wg.Go(func() {
			for done.Add(1) <= int64(b.N) {
				if _, err := db.Pool().Exec(ctx, `UPDATE commit_baseline SET n = n + 1 WHERE id = $1`, i); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
}
