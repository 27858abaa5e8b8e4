package tasks

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// claimDueSQL takes up to @n due tasks of a queue in one statement: rows
// another transaction holds are skipped, not waited for, so dispatchers of
// several callmon instances never take the same task. A task is due when
// its window has started and it is pending or its lease has expired. A
// task without a number (a voicemail whose caller withheld it) is never
// dialled, nor one whose last attempt dialled the customer and was never
// counted (interrupted by a crash or a takeover: it may have reached them).
//
// Pending and expired tasks are looked up apart, each through its own
// partial index (tasks_pending_due in window order, tasks_queue_lease):
// one OR over both would make PostgreSQL read and sort every task of the
// queue on each claim. A lease exists exactly while a task is claimed or
// dialing (constraint tasks_lease), so the expired part names no status:
// with one, PostgreSQL may prefer combining tasks_queue_status_window with
// tasks_lease_expires, which reads every held task of the queue. Each part
// locks at most @n rows; the oldest @n of both are claimed, the others are
// unlocked when the statement commits.
const claimDueSQL = `
WITH pending AS (
	SELECT id, status, lease_owner, window_start FROM tasks
	WHERE queue = @queue AND status = 'pending' AND number IS NOT NULL AND window_start <= @now
		AND NOT EXISTS (SELECT 1 FROM task_events e
		                 WHERE e.task_id = tasks.id AND e.action = 'customer_dialling'
		                   AND (e.detail->>'attempt')::int > tasks.attempts)
	ORDER BY window_start, id
	LIMIT @n
	FOR UPDATE SKIP LOCKED
), expired AS (
	SELECT id, status, lease_owner, window_start FROM tasks
	WHERE queue = @queue AND lease_expires < @now AND number IS NOT NULL AND window_start <= @now
		AND NOT EXISTS (SELECT 1 FROM task_events e
		                 WHERE e.task_id = tasks.id AND e.action = 'customer_dialling'
		                   AND (e.detail->>'attempt')::int > tasks.attempts)
	ORDER BY window_start, id
	LIMIT @n
	FOR UPDATE SKIP LOCKED
), due AS (
	SELECT * FROM pending
	UNION ALL
	SELECT * FROM expired
	ORDER BY window_start, id
	LIMIT @n
), claimed AS (
	UPDATE tasks t SET status = 'claimed', lease_owner = @owner, lease_expires = @expires,
		assignee = CASE WHEN t.claimed_from_pool THEN NULL ELSE t.assignee END,
		claimed_from_pool = false, updated_at = @now, version = t.version + 1
	FROM due
	WHERE t.id = due.id
	RETURNING t.*, due.status AS from_status, due.lease_owner AS previous_owner
), events AS (
	INSERT INTO task_events (task_id, at, actor, action, from_status, to_status, detail)
	SELECT id, @now, @owner, 'claimed', from_status, 'claimed',
		jsonb_build_object('lease_owner', lease_owner, 'lease_expires', lease_expires,
			'previous_owner', coalesce(previous_owner, ''))
	FROM claimed
)
SELECT ` + columns + ` FROM claimed ORDER BY window_start, id`

// ClaimDue claims for owner (a dispatcher) up to n tasks of queue that are
// due at now — pending, or held under a lease that expired — oldest window
// first, with a lease until now+lease. A task claimed from the pool by an
// agent whose lease expired returns to the pool; other assignees stay, so
// the dispatcher can ring the task's own agent first. It returns the tasks
// it claimed, none when nothing is due.
func (s *Store) ClaimDue(ctx context.Context, queue, owner string, n int, lease time.Duration, now time.Time) ([]Task, error) {
	if err := checkName("queue", queue); err != nil {
		return nil, err
	}
	if err := checkName("owner", owner); err != nil {
		return nil, err
	}
	if n <= 0 || n > MaxClaimBatch {
		return nil, invalidf("a batch of %d tasks is not between 1 and %d", n, MaxClaimBatch)
	}
	if lease <= 0 {
		return nil, invalidf("the lease must be positive, not %s", lease)
	}
	if err := checkNow(now); err != nil {
		return nil, err
	}
	// PostgreSQL plans the claim for its values on every run. Forcing the
	// generic plan (SET LOCAL plan_cache_mode in the claim's transaction)
	// made a claim of one faster, but batches of 100 grew slower with every
	// batch claimed (BenchmarkClaimBatch100: 2,500-3,400 claims/s against
	// 22,600-28,300; the cause was not found).
	rows, err := s.pool.Query(ctx, claimDueSQL, pgx.NamedArgs{
		"queue": queue, "owner": owner, "n": n, "now": now, "expires": now.Add(lease),
	})
	if err != nil {
		return nil, err
	}
	return collectTasks(rows)
}

// nextDueSQL looks, for each of @queues, at what the dispatcher's timer
// needs: whether a task is due at @now (one ClaimDue could take, locks
// aside), the first window to start after @now, and the first lease of the
// queue to end at or after it. Each is the first entry of an index range.
const nextDueSQL = `
SELECT q.queue,
	(SELECT t.window_start FROM tasks t
		WHERE t.queue = q.queue AND t.status = 'pending' AND t.number IS NOT NULL AND t.window_start <= @now
			AND NOT EXISTS (SELECT 1 FROM task_events e
			                 WHERE e.task_id = t.id AND e.action = 'customer_dialling'
			                   AND (e.detail->>'attempt')::int > t.attempts)
		ORDER BY t.window_start LIMIT 1) IS NOT NULL,
	(SELECT min(t.window_start) FROM tasks t
		WHERE t.queue = q.queue AND t.status = 'pending' AND t.number IS NOT NULL AND t.window_start > @now),
	(SELECT min(t.lease_expires) FROM tasks t
		WHERE t.queue = q.queue AND t.lease_expires >= @now)
FROM unnest(@queues::text[]) AS q(queue)`

// nextDue reports which of queues have tasks due at now, and the earliest
// time after now at which a task of theirs falls due: its window starts or
// its lease expires (zero: none will).
func (s *Store) nextDue(ctx context.Context, queues []string, now time.Time) (due map[string]bool, next time.Time, err error) {
	rows, err := s.pool.Query(ctx, nextDueSQL, pgx.NamedArgs{"queues": queues, "now": now})
	if err != nil {
		return nil, time.Time{}, err
	}
	due = map[string]bool{}
	var queue string
	var isDue bool
	var window, lease pgtype.Timestamptz
	_, err = pgx.ForEachRow(rows, []any{&queue, &isDue, &window, &lease}, func() error {
		if isDue {
			due[queue] = true
		}
		if window.Valid {
			next = earliest(next, window.Time)
		}
		if lease.Valid {
			// A lease is expired once it lies before now (ExpireLeases).
			next = earliest(next, lease.Time.Add(time.Microsecond))
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return due, next, nil
}

// earliest is the earlier of a and b, the zero time standing for never.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// expireLeasesSQL returns the tasks whose lease ended before @now.
const expireLeasesSQL = `
WITH expired AS (
	SELECT id, status, lease_owner, lease_expires FROM tasks
	WHERE status IN ('claimed', 'dialing') AND lease_expires < @now
	FOR UPDATE SKIP LOCKED
), released AS (
	UPDATE tasks t SET status = 'pending', lease_owner = NULL, lease_expires = NULL,
		assignee = CASE WHEN t.claimed_from_pool THEN NULL ELSE t.assignee END,
		claimed_from_pool = false, updated_at = @now, version = t.version + 1
	FROM expired
	WHERE t.id = expired.id
	RETURNING t.id, expired.status AS from_status, expired.lease_owner, expired.lease_expires
), events AS (
	INSERT INTO task_events (task_id, at, actor, action, from_status, to_status, detail)
	SELECT id, @now, @actor::text, 'lease_expired', from_status, 'pending',
		jsonb_build_object('lease_owner', lease_owner, 'lease_expires', lease_expires)
	FROM released
)
SELECT count(*) FROM released`

// ExpireLeases returns every task whose lease expired before now to
// Pending (a pool claim to the pool), and says how many. Tasks another
// transaction is changing are left for the next call.
func (s *Store) ExpireLeases(ctx context.Context, now time.Time) (int, error) {
	if err := checkNow(now); err != nil {
		return 0, err
	}
	var n int
	err := s.pool.QueryRow(ctx, expireLeasesSQL, pgx.NamedArgs{"now": now, "actor": systemActor}).Scan(&n)
	return n, err
}

// Booked counts the callbacks agreed in queue per window start, for windows
// starting in [from, to): active and done queue_callback tasks (cancelled
// and failed ones free their slot). Keys are in UTC.
func (s *Store) Booked(ctx context.Context, queue string, from, to time.Time) (map[time.Time]int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT window_start, count(*) FROM tasks
		WHERE queue = @queue AND kind = 'queue_callback' AND status NOT IN ('cancelled', 'failed')
			AND window_start >= @from AND window_start < @to
		GROUP BY window_start`, pgx.NamedArgs{"queue": queue, "from": from, "to": to})
	if err != nil {
		return nil, err
	}
	out := map[time.Time]int{}
	var start time.Time
	var n int
	_, err = pgx.ForEachRow(rows, []any{&start, &n}, func() error {
		out[start.UTC()] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Counts are one queue's callback tasks (agreed in the queue or by an agent;
// voicemail tasks are reported with the voicemails), for the metrics. Done,
// Failed and Attempts grow monotonically (tasks are never deleted), so they
// can be exported as counters.
type Counts struct {
	Queue      string
	Pending    int64 // active: pending, claimed or dialing
	Due        int64 // active, and now inside its window: to be called now
	Overdue    int64 // pending or claimed, window ended before now
	DoneOnTime int64 // done, completed_at <= window_end
	DoneLate   int64 // done, completed_at > window_end
	Failed     int64
	Attempts   int64 // results recorded, over all tasks
}

// Counts returns the counts of every queue that has callback tasks, by queue
// name.
func (s *Store) Counts(ctx context.Context, now time.Time) ([]Counts, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT queue,
			count(*) FILTER (WHERE status IN ('pending', 'claimed', 'dialing')),
			count(*) FILTER (WHERE status IN ('pending', 'claimed', 'dialing') AND window_start <= @now AND window_end >= @now),
			count(*) FILTER (WHERE status IN ('pending', 'claimed') AND window_end < @now),
			count(*) FILTER (WHERE status = 'done' AND completed_at <= window_end),
			count(*) FILTER (WHERE status = 'done' AND completed_at > window_end),
			count(*) FILTER (WHERE status = 'failed'),
			coalesce(sum(attempts), 0)
		FROM tasks WHERE kind <> 'voicemail' GROUP BY queue ORDER BY queue`, pgx.NamedArgs{"now": now})
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Counts, error) {
		var c Counts
		err := r.Scan(&c.Queue, &c.Pending, &c.Due, &c.Overdue, &c.DoneOnTime, &c.DoneLate, &c.Failed, &c.Attempts)
		return c, err
	})
}
