package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store"
	"callmon/callback/tasks"
)

// seedQueues are the queues seedTasks fills.
var seedQueues = []string{"general", "permits", "licences", "taxes"}

// seedTasks fills the table with total tasks spread over seedQueues, like a
// site after some months: half done, 30 % pending and due, 15 % pending in
// later windows, 5 % claimed (a tenth of those under a lease that has
// expired). Then it vacuums and analyses, as autovacuum would have.
func seedTasks(tb testing.TB, db *store.DB, total int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `
		INSERT INTO tasks (kind, queue, number, window_start, window_end, status, attempts, result,
			lease_owner, lease_expires, completed_at)
		SELECT 'queue_callback', (@queues::text[])[i % 4 + 1], '+3161' || lpad(i::text, 7, '0'),
			w, w + interval '15 minutes', s,
			CASE WHEN s = 'done' THEN 1 ELSE 0 END,
			CASE WHEN s = 'done' THEN 'reached' END,
			CASE WHEN s = 'claimed' THEN 'callmon-old' END,
			CASE WHEN s = 'claimed' THEN @now::timestamptz + CASE WHEN i % 200 < 190 THEN 1 ELSE -1 END * interval '5 minutes' END,
			CASE WHEN s = 'done' THEN w + interval '5 minutes' END
		FROM (SELECT i,
				CASE WHEN i % 20 < 10 THEN 'done' WHEN i % 20 < 19 THEN 'pending' ELSE 'claimed' END AS s,
				@now::timestamptz + CASE
					WHEN i % 20 < 10 THEN -(i % 43200) * interval '1 minute'
					WHEN i % 20 < 16 THEN -(i % 1440) * interval '1 minute'
					WHEN i % 20 < 19 THEN (i % 1440 + 1) * interval '1 minute'
					ELSE -(i % 60) * interval '1 minute' END AS w
			FROM generate_series(1, @total::int) i) AS g`,
		pgx.NamedArgs{"queues": seedQueues, "now": now, "total": total}); err != nil {
		tb.Fatal(err)
	}
	// Their history: created, and for the done ones an automatic attempt;
	// a few attempts were interrupted after dialling the customer.
	if _, err := db.Pool().Exec(ctx, `
		INSERT INTO task_events (task_id, at, actor, action, from_status, to_status, detail)
		SELECT id, created_at, 'caller', 'created', NULL, 'pending', '{}' FROM tasks
		UNION ALL
		SELECT id, window_start, 'callmon-old', a.action, a.from_status, a.to_status, a.detail::jsonb
		FROM tasks, (VALUES ('claimed', 'pending', 'claimed', '{}'), ('dialing', 'claimed', 'dialing', '{}'),
			('customer_dialling', 'dialing', 'dialing', '{"attempt": 1}'), ('result', 'dialing', 'done', '{}'))
			AS a(action, from_status, to_status, detail)
		WHERE status = 'done'
		UNION ALL
		SELECT id, window_start, 'callmon-old', 'customer_dialling', 'dialing', 'dialing', '{"attempt": 1}'
		FROM tasks WHERE status = 'pending' AND id % 1000 = 11`); err != nil {
		tb.Fatal(err)
	}
	analyze(tb, db)
}

// analyze vacuums and analyses the tasks' tables (the test server runs
// without autovacuum).
func analyze(tb testing.TB, db *store.DB) {
	tb.Helper()
	if _, err := db.Pool().Exec(context.Background(), `VACUUM ANALYZE tasks, task_events`); err != nil {
		tb.Fatal(err)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType       string     `json:"Node Type"`
	Relation       string     `json:"Relation Name"`
	Index          string     `json:"Index Name"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedByFiler float64    `json:"Rows Removed by Filter"`
	Plans          []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

func (n planNode) String() string {
	var b strings.Builder
	var write func(planNode, int)
	write = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth), n.NodeType)
		if n.Relation != "" {
			fmt.Fprintf(&b, " on %s", n.Relation)
		}
		if n.Index != "" {
			fmt.Fprintf(&b, " using %s", n.Index)
		}
		fmt.Fprintf(&b, " (rows %.0f, removed %.0f, loops %.0f)\n", n.ActualRows, n.RemovedByFiler, n.ActualLoops)
		for _, c := range n.Plans {
			write(c, depth+1)
		}
	}
	write(n, 0)
	return b.String()
}

// explain runs query with args under EXPLAIN ANALYZE as a prepared
// statement with the plan cache forced to mode (force_custom_plan: planned
// for these values; force_generic_plan: for any, as a statement cached by
// pgx may be after five runs), in a transaction it rolls back.
func explain(t *testing.T, db *store.DB, mode, query string, args pgx.NamedArgs) planNode {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	sql, values, err := args.RewriteQuery(ctx, tx.Conn(), query, nil)
	if err != nil {
		t.Fatal(err)
	}
	literals := make([]string, len(values))
	for i, v := range values {
		switch v := v.(type) {
		case string:
			literals[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case time.Time:
			literals[i] = "'" + v.Format(time.RFC3339Nano) + "'"
		case []string:
			quoted := make([]string, len(v))
			for j, s := range v {
				quoted[j] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			}
			literals[i] = "ARRAY[" + strings.Join(quoted, ", ") + "]"
		default:
			literals[i] = fmt.Sprint(v)
		}
	}
	for _, stmt := range []string{
		"SET LOCAL plan_cache_mode = " + mode,
		"PREPARE explained AS " + sql,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// A prepared statement outlives the transaction.
	defer tx.Conn().Exec(ctx, "DEALLOCATE explained")
	var out []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE explained("+strings.Join(literals, ", ")+")").Scan(&out); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan     planNode
		Planning float64 `json:"Planning Time"`
		Exec     float64 `json:"Execution Time"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", out, err)
	}
	t.Logf("planning %.3f ms, execution %.3f ms", plans[0].Planning, plans[0].Exec)
	return plans[0].Plan
}

// TestClaimPlans: at 20,000 tasks, with fresh statistics, the claim and the
// dispatcher's look at its queues read the pending tasks through
// tasks_pending_due as a range scan that stops at the LIMIT — no
// sequential scan of the tasks, no sort of every due task — whether
// PostgreSQL plans for the values or a generic plan.
func TestClaimPlans(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	seedTasks(t, db, 20000, t0)
	if n := count(t, db, `SELECT count(*) FROM tasks WHERE queue = 'general' AND status = 'pending' AND window_start <= $1`, t0); n < 1000 {
		t.Fatalf("only %d due tasks in the queue: the test would prove nothing", n)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, n := range []int{1, 10, 100} {
			plan := explain(t, db, mode, tasks.ClaimDueSQL, pgx.NamedArgs{
				"queue": "general", "owner": "callmon-x", "n": n, "now": t0, "expires": t0.Add(time.Minute),
			})
			checkPlan(t, fmt.Sprintf("%s: claim of %d", mode, n), plan, n)
		}
		plan := explain(t, db, mode, tasks.NextDueSQL, pgx.NamedArgs{"queues": []string{"general", "permits"}, "now": t0})
		checkPlan(t, mode+": next due", plan, 1)
		if mode == "force_custom_plan" {
			// Every tick returns expired leases first, through tasks_queue_lease
			// (which holds every lease). Its generic plan would hash the whole
			// table to update the rows; PostgreSQL keeps it for the values.
			plan = explain(t, db, mode, tasks.ExpireLeasesSQL, pgx.NamedArgs{"now": t0, "actor": "system"})
			plan.walk(func(n planNode) {
				if n.Relation == "tasks" && n.NodeType == "Seq Scan" {
					t.Errorf("%s: expire leases: sequential scan of tasks\n%s", mode, plan)
				}
			})
		}
	}
}

// checkPlan fails unless plan reads tasks only through indexes, and reads
// at most limit rows (per loop) through tasks_pending_due.
func checkPlan(t *testing.T, what string, plan planNode, limit int) {
	t.Helper()
	usesIndex := false
	plan.walk(func(n planNode) {
		if n.Relation == "tasks" && n.NodeType == "Seq Scan" {
			t.Errorf("%s: sequential scan of tasks", what)
		}
		// Combining indexes reads every entry of each: all held tasks of
		// the queue (tasks_queue_status_window), not only expired ones.
		if n.NodeType == "BitmapAnd" {
			t.Errorf("%s: %s", what, n.NodeType)
		}
		if n.Index != "tasks_pending_due" {
			return
		}
		usesIndex = true
		// A bitmap scan would read every entry of the range, then sort.
		if n.NodeType != "Index Scan" && n.NodeType != "Index Only Scan" {
			t.Errorf("%s: %s using tasks_pending_due, want an index scan in its order", what, n.NodeType)
		}
		if read := n.ActualRows + n.RemovedByFiler; read > float64(limit) {
			t.Errorf("%s: %.0f rows read through tasks_pending_due, want at most %d", what, read, limit)
		}
	})
	if !usesIndex {
		t.Errorf("%s: tasks_pending_due not used", what)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("%s:\n%s", what, plan)
	}
}

// TestClaimDueMixesExpiredAndPending: one batch takes pending tasks and
// tasks whose lease expired together, oldest window first, and leaves the
// rest (a live lease, the next in line) alone.
func TestClaimDueMixesExpiredAndPending(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	var all []tasks.Task
	for i := range 5 {
		all = append(all, create(t, s, callback(t0.Add(-time.Duration(5-i)*slot))))
	}
	// The oldest and the fourth are claimed: the first lease expires, the
	// second runs on.
	if _, err := s.Claim(ctx, all[0].ID, "agent1", all[0].Version, time.Minute, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, all[3].ID, "agent2", all[3].Version, time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimDue(ctx, "general", "node1", 3, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{all[0].ID, all[1].ID, all[2].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claimed %v, want %v", ids(got), want)
	}
	if got[0].Assignee != "" || got[0].ClaimedFromPool {
		t.Errorf("the expired pool claim did not return to the pool: %+v", got[0])
	}
	got, err = s.ClaimDue(ctx, "general", "node1", 3, time.Minute, t0)
	if err != nil || !slices.Equal(ids(got), []int64{all[4].ID}) {
		t.Fatalf("second batch %v, %v; want %d", ids(got), err, all[4].ID)
	}
}
