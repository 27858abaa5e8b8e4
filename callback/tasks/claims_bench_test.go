package tasks_test

import (
	"context"
	"errors"
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
// while the queue holds at least benchTasks due tasks, and every task is
// checked to have been handed out once. One op is one task claimed;
// claims/s is over both. BenchmarkCommitBaseline is what the disk allows:
// single-row UPDATE commits from two clients.
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

// race2 runs op on two clients at once until they have done n units of
// work between them (op says how many it did), and returns how long that
// took.
func race2(n int64, op func(client int) (int, error)) (time.Duration, error) {
	var done atomic.Int64
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range errs {
		wg.Go(func() {
			for done.Load() < n {
				k, err := op(i)
				if err != nil {
					errs[i] = err
					return
				}
				done.Add(int64(k))
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// claimers are the two dispatchers, each with a pool of its own, on a
// database made by claimDB; claim takes batch tasks for one of them and
// remembers what it was handed.
type claimers struct {
	stores []*tasks.Store
	got    [][]int64
}

func newClaimers(b *testing.B, u string) *claimers {
	c := &claimers{got: make([][]int64, len(benchDispatchers))}
	for range benchDispatchers {
		s := tasks.New(open(b, u).Pool())
		// Connect and prepare before the clock runs.
		if _, err := s.ClaimDue(context.Background(), "other", "warm-up", 1, time.Minute, t0); err != nil {
			b.Fatal(err)
		}
		c.stores = append(c.stores, s)
	}
	return c
}

func (c *claimers) claim(i, batch int) (int, error) {
	ts, err := c.stores[i].ClaimDue(context.Background(), "general", benchDispatchers[i], batch, time.Hour, t0)
	for _, t := range ts {
		c.got[i] = append(c.got[i], t.ID)
	}
	return len(ts), err
}

// check fails b if a task was handed out twice, or the claims in the
// history differ from the tasks handed out; it returns how many were.
func (c *claimers) check(b *testing.B, db *store.DB) int {
	seen := map[int64]bool{}
	for i, ids := range c.got {
		for _, id := range ids {
			if seen[id] {
				b.Fatalf("task %d handed out twice (again to %s)", id, benchDispatchers[i])
			}
			seen[id] = true
		}
	}
	if events := count(b, db, `SELECT count(*) FROM task_events WHERE action = 'claimed'`); events != len(seen) {
		b.Fatalf("%d claim events for %d tasks handed out", events, len(seen))
	}
	return len(seen)
}

// benchClaims runs two dispatchers claiming batch tasks per ClaimDue until
// b.N tasks are claimed, and fails on a task handed out twice.
func benchClaims(b *testing.B, batch int) {
	db, u := claimDB(b, b.N+2*batch) // the last two batches may overshoot
	c := newClaimers(b, u)
	b.ResetTimer()
	elapsed, err := race2(int64(b.N), func(i int) (int, error) { return c.claim(i, batch) })
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(c.check(b, db))/elapsed.Seconds(), "claims/s")
}

// baseline is the commit baseline's table on db and the two clients'
// pools: single-row UPDATEs of rows of their own in a table without
// indexes or triggers beyond its key.
func baseline(b *testing.B, db *store.DB, u string) func(client int) (int, error) {
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `CREATE TABLE commit_baseline (id int PRIMARY KEY, n bigint NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO commit_baseline SELECT i, 0 FROM generate_series(0, 1) i`); err != nil {
		b.Fatal(err)
	}
	var pools []*store.DB
	for i := range benchDispatchers {
		pools = append(pools, open(b, u))
		if _, err := pools[i].Pool().Exec(ctx, `UPDATE commit_baseline SET n = n WHERE id = $1`, i); err != nil {
			b.Fatal(err)
		}
	}
	return func(i int) (int, error) {
		_, err := pools[i].Pool().Exec(ctx, `UPDATE commit_baseline SET n = n + 1 WHERE id = $1`, i)
		return 1, err
	}
}

// BenchmarkCommitBaseline: two clients commit single-row UPDATEs — what the
// disk's commit rate allows, one commit per op like a claim of one.
func BenchmarkCommitBaseline(b *testing.B) {
	db, u := newDB(b)
	update := baseline(b, db, u)
	b.ResetTimer()
	elapsed, err := race2(int64(b.N), update)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
}

// BenchmarkClaimOneVsBaseline alternates, in slices of 100, claims of one
// task by the two dispatchers and the baseline's commits by two clients,
// so that both see the same load of a shared machine; claims-%-of-baseline
// is the ratio of their rates.
func BenchmarkClaimOneVsBaseline(b *testing.B) { claimOneVsBaseline(b, false) }

// BenchmarkClaimOneVsBaselineNoNotify is the same with the tasks table's
// NOTIFY trigger disabled: how much of the gap is the database-wide lock a
// notifying transaction holds through its commit. A diagnostic only: callmon
// needs the notifications.
func BenchmarkClaimOneVsBaselineNoNotify(b *testing.B) { claimOneVsBaseline(b, true) }

func claimOneVsBaseline(b *testing.B, noNotify bool) {
	db, u := claimDB(b, b.N+2)
	if noNotify {
		if _, err := db.Pool().Exec(context.Background(), `ALTER TABLE tasks DISABLE TRIGGER tasks_notify`); err != nil {
			b.Fatal(err)
		}
	}
	c := newClaimers(b, u)
	update := baseline(b, db, u)
	var claimTime, commitTime time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += 100 {
		n := int64(min(100, b.N-done))
		d, err := race2(n, func(i int) (int, error) { return c.claim(i, 1) })
		if err != nil {
			b.Fatal(err)
		}
		claimTime += d
		if d, err = race2(n, update); err != nil {
			b.Fatal(err)
		}
		commitTime += d
	}
	b.StopTimer()
	claims := c.check(b, db)
	b.ReportMetric(float64(claims)/claimTime.Seconds(), "claims/s")
	b.ReportMetric(float64(b.N)/commitTime.Seconds(), "commits/s")
	b.ReportMetric(100*commitTime.Seconds()/claimTime.Seconds()*float64(claims)/float64(b.N), "claims-%-of-baseline")
}
