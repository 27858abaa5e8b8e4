-- Voicemails (DESIGN §4.2): a message a caller left for an employee who did
-- not answer their direct number. Package callmon/callback/voicemails writes
-- each one together with a voicemail task for the employee, in one
-- transaction.

-- A caller who withholds their number can still leave a message: the
-- employee listens to it, there is nobody to call back. Only voicemail tasks
-- may lack a number (the dispatcher never dials such a task).
ALTER TABLE tasks ALTER COLUMN number DROP NOT NULL;
ALTER TABLE tasks ADD CONSTRAINT tasks_number_required CHECK (number IS NOT NULL OR kind = 'voicemail');

CREATE TABLE voicemails (
    id            bigserial      PRIMARY KEY,
    -- The employee's id in the configuration.
    employee      text           NOT NULL CHECK (employee <> ''),
    -- The caller's number as Asterisk gave it; NULL when withheld.
    caller_number text           CHECK (caller_number <> ''),
    caller_name   text           NOT NULL DEFAULT '',
    received_at   timestamptz(3) NOT NULL,
    duration_ms   integer        NOT NULL CHECK (duration_ms >= 0),
    -- Asterisk's stored-recording name (GET /recordings/stored/{name}/file).
    recording     text           NOT NULL CHECK (recording <> ''),
    -- The caller's channel: a voicemail spooled while PostgreSQL was away
    -- and written twice lands once.
    channel_id    text           NOT NULL UNIQUE CHECK (channel_id <> ''),
    heard_at      timestamptz(3),
    -- The employee's voicemail task, created in the same transaction.
    task_id       bigint         NOT NULL UNIQUE REFERENCES tasks (id),
    created_at    timestamptz    NOT NULL DEFAULT now()
);

-- An employee's mailbox, newest first; the unheard ones for the indicator.
CREATE INDEX voicemails_employee_received ON voicemails (employee, received_at DESC, id DESC);
CREATE INDEX voicemails_unheard ON voicemails (employee) WHERE heard_at IS NULL;

---- create above / drop below ----

DROP TABLE voicemails;
DELETE FROM tasks WHERE number IS NULL;
ALTER TABLE tasks DROP CONSTRAINT tasks_number_required;
ALTER TABLE tasks ALTER COLUMN number SET NOT NULL;
