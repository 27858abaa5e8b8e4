-- Claims through indexes (package callmon/callback/tasks, ClaimDue): the
-- dispatcher takes a queue's pending tasks oldest window first, so the
-- claim is a range scan of this index stopped at its LIMIT, and the next
-- window to fall due is its first entry after now. Tasks without a number
-- are never dialled and stay out of it.
CREATE INDEX tasks_pending_due ON tasks (queue, window_start, id)
    WHERE status = 'pending' AND number IS NOT NULL;
-- A queue's held tasks by the end of their lease (a lease exists exactly
-- while a task is claimed or dialing): the expired ones are a range, and
-- the next to expire its first entry after now. It holds every lease, so
-- it also serves ExpireLeases, and the index on lease_expires alone is one
-- less to update on every claim.
CREATE INDEX tasks_queue_lease ON tasks (queue, lease_expires)
    WHERE lease_expires IS NOT NULL;
DROP INDEX tasks_lease_expires;
-- The claim skips a task whose customer was dialled in an attempt never
-- counted: one probe per candidate, not a scan of the whole history.
CREATE INDEX task_events_customer_dialling ON task_events (task_id)
    WHERE action = 'customer_dialling';

-- The notification also says when the task falls due (window_start) and
-- when its lease ends, so a dispatcher can set its timer without reading
-- the task.
CREATE OR REPLACE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r tasks;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    PERFORM pg_notify('callmon_tasks', json_build_object(
        'id', r.id, 'queue', r.queue, 'assignee', r.assignee, 'status', r.status,
        'window_start', r.window_start, 'lease_expires', r.lease_expires)::text);
    RETURN NULL;
END
$$;

---- create above / drop below ----

CREATE OR REPLACE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r tasks;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    PERFORM pg_notify('callmon_tasks', json_build_object(
        'id', r.id, 'queue', r.queue, 'assignee', r.assignee, 'status', r.status)::text);
    RETURN NULL;
END
$$;
DROP INDEX task_events_customer_dialling;
CREATE INDEX tasks_lease_expires ON tasks (lease_expires) WHERE lease_expires IS NOT NULL;
DROP INDEX tasks_queue_lease;
DROP INDEX tasks_pending_due;
