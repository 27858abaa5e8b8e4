-- One row per finished call, as callmon measured it from Asterisk's own
-- timestamps (DESIGN §3). channel_id is the caller's Asterisk channel id: a
-- replayed record (spool drained twice after a crash) is not inserted twice.
CREATE TABLE call_records (
    id               bigserial      PRIMARY KEY,
    channel_id       text           NOT NULL UNIQUE CHECK (channel_id <> ''),
    queue            text           NOT NULL CHECK (queue <> ''),
    kind             text           NOT NULL CHECK (kind IN ('queue', 'direct')),
    caller_number    text,
    entry_at         timestamptz(3) NOT NULL,
    answered_at      timestamptz(3),
    ended_at         timestamptz(3) NOT NULL,
    -- Time in queue: entry to answer for answered calls, entry to the end of
    -- waiting otherwise.
    wait_ms          bigint         NOT NULL CHECK (wait_ms >= 0),
    outcome          text           NOT NULL CHECK (outcome IN ('answered', 'abandoned', 'short_abandoned',
                                                                'callback', 'voicemail', 'transferred', 'closed')),
    within_threshold boolean        NOT NULL,
    threshold_ms     integer        NOT NULL CHECK (threshold_ms >= 0),
    agent            text,
    recorded_at      timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT call_records_answered_has_time CHECK (outcome <> 'answered' OR answered_at IS NOT NULL),
    CONSTRAINT call_records_within_needs_answer CHECK (NOT within_threshold OR answered_at IS NOT NULL)
);

-- Service level per queue over a period (report, today's level after a restart).
CREATE INDEX call_records_queue_entry_at ON call_records (queue, entry_at);
-- All queues over a period.
CREATE INDEX call_records_entry_at ON call_records (entry_at);

---- create above / drop below ----

DROP TABLE call_records;
