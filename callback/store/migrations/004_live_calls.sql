-- Calls in progress and what restarts leave unknown (DESIGN §10.1).
--
-- Asterisk keeps a call's channels and bridges when callmon restarts, but
-- not when its wait began: a new process gets no StasisStart for the calls
-- of the old one. So each call's entry (and answer) is journaled here as it
-- happens, and the row is deleted when the call record is written, in the
-- same transaction.
CREATE TABLE live_calls (
    channel_id       text           NOT NULL CHECK (channel_id <> ''),
    queue            text           NOT NULL CHECK (queue <> ''),
    kind             text           NOT NULL CHECK (kind IN ('queue', 'direct')),
    caller_number    text,
    entry_at         timestamptz(3) NOT NULL,
    entry_estimated  boolean        NOT NULL DEFAULT false,
    answered_at      timestamptz(3),
    answer_estimated boolean        NOT NULL DEFAULT false,
    agent            text,
    threshold_ms     integer        NOT NULL CHECK (threshold_ms >= 0),
    updated_at       timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, queue)
);

-- One record per caller channel and queue visit: a direct call that moves
-- to the general queue is two visits of one channel.
ALTER TABLE call_records DROP CONSTRAINT call_records_channel_id_key;
ALTER TABLE call_records ADD CONSTRAINT call_records_visit UNIQUE (channel_id, queue);

-- What the record could not observe. A record whose end was not observed is
-- replaced by an observed one of the same visit (a spool written late).
ALTER TABLE call_records
    ADD COLUMN adopted          boolean NOT NULL DEFAULT false,
    ADD COLUMN entry_estimated  boolean NOT NULL DEFAULT false,
    ADD COLUMN answer_estimated boolean NOT NULL DEFAULT false,
    ADD COLUMN ended_unobserved boolean NOT NULL DEFAULT false;

-- fallback: handed to the dialplan because callmon could not serve the caller
-- in time (offered, not answered).
ALTER TABLE call_records DROP CONSTRAINT call_records_outcome_check;
ALTER TABLE call_records ADD CONSTRAINT call_records_outcome_check
    CHECK (outcome IN ('answered', 'abandoned', 'short_abandoned', 'callback', 'voicemail', 'transferred',
                       'closed', 'fallback'));

---- create above / drop below ----

ALTER TABLE call_records DROP CONSTRAINT call_records_outcome_check;
ALTER TABLE call_records ADD CONSTRAINT call_records_outcome_check
    CHECK (outcome IN ('answered', 'abandoned', 'short_abandoned', 'callback', 'voicemail', 'transferred', 'closed'));
ALTER TABLE call_records
    DROP COLUMN adopted, DROP COLUMN entry_estimated, DROP COLUMN answer_estimated, DROP COLUMN ended_unobserved;
ALTER TABLE call_records DROP CONSTRAINT call_records_visit;
ALTER TABLE call_records ADD CONSTRAINT call_records_channel_id_key UNIQUE (channel_id);
DROP TABLE live_calls;
