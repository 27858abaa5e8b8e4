-- Callback tasks (DESIGN §4.3): whom to call back, why, in which agreed
-- window, and for whom (an agent, or the queue's pool when assignee is NULL).
-- Every change is made by package callmon/callback/tasks as an UPDATE guarded
-- by the expected status and version, together with a task_events row.
CREATE TABLE tasks (
    id                bigserial   PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('queue_callback', 'voicemail', 'agreed_by_agent')),
    queue             text        NOT NULL CHECK (queue <> ''),
    -- E.164, e.g. +31612345678.
    number            text        NOT NULL CHECK (number ~ '^\+[1-9][0-9]{7,14}$'),
    caller_name       text,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    -- The agent the task is for; NULL: the queue's pool.
    assignee          text        CHECK (assignee <> ''),
    -- The assignee was set by claiming a pool task: when the claim ends
    -- without a result (lease expired, no answer, rescheduled) the task
    -- returns to the pool.
    claimed_from_pool boolean     NOT NULL DEFAULT false,
    status            text        NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'claimed', 'dialing', 'done', 'failed', 'cancelled')),
    attempts          integer     NOT NULL DEFAULT 0,
    max_attempts      integer     NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    lease_owner       text        CHECK (lease_owner <> ''),
    lease_expires     timestamptz,
    notes             text        NOT NULL DEFAULT '',
    -- Result of the last attempt.
    result            text        CHECK (result IN ('reached', 'no_answer', 'wrong_number')),
    -- Idempotency key of the creator (the caller's channel id for a callback
    -- agreed in the IVR): a spooled callback written twice lands once.
    source_key        text        UNIQUE CHECK (source_key <> ''),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    version           bigint      NOT NULL DEFAULT 1,
    CONSTRAINT tasks_window CHECK (window_start < window_end),
    CONSTRAINT tasks_attempts CHECK (attempts BETWEEN 0 AND max_attempts),
    -- A lease exists exactly while someone holds the task.
    CONSTRAINT tasks_lease CHECK ((status IN ('claimed', 'dialing')) = (lease_owner IS NOT NULL)
                                  AND (lease_owner IS NULL) = (lease_expires IS NULL)),
    CONSTRAINT tasks_completed CHECK ((status IN ('done', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
    CONSTRAINT tasks_pool_claim CHECK (NOT claimed_from_pool OR assignee IS NOT NULL)
);

-- Due tasks of queue Q (dispatcher, pool lists, slot capacity).
CREATE INDEX tasks_queue_status_window ON tasks (queue, status, window_start);
-- Tasks of agent A.
CREATE INDEX tasks_assignee_status ON tasks (assignee, status, window_start) WHERE assignee IS NOT NULL;
-- Leases to expire.
CREATE INDEX tasks_lease_expires ON tasks (lease_expires) WHERE lease_expires IS NOT NULL;

-- Who did what to a task, and when.
CREATE TABLE task_events (
    id          bigserial   PRIMARY KEY,
    task_id     bigint      NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    from_status text,
    to_status   text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX task_events_task ON task_events (task_id, id);

-- Every change of a task, whoever makes it, is announced on channel
-- callmon_tasks as {"id", "queue", "assignee", "status"}; the notification is
-- delivered when the transaction commits.
CREATE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_notify();

---- create above / drop below ----

DROP TABLE task_events;
DROP TABLE tasks;
DROP FUNCTION tasks_notify();
