-- Retention (AVG art. 5(1)(c),(e)): callers' numbers and voicemails are kept
-- only as long as configured (package callmon/callback/retention). Rows stay,
-- so every count and wait of the reports is unchanged; the personal data in
-- them is removed and masked_at says when.

-- A finished task's number, caller name, notes and the free text of its
-- events are removed; an active task keeps its number until it is done.
ALTER TABLE tasks ADD COLUMN masked_at timestamptz;
ALTER TABLE tasks ADD CONSTRAINT tasks_masked_finished
    CHECK (masked_at IS NULL OR status IN ('done', 'failed', 'cancelled'));
ALTER TABLE tasks DROP CONSTRAINT tasks_number_required;
ALTER TABLE tasks ADD CONSTRAINT tasks_number_required
    CHECK (number IS NOT NULL OR kind = 'voicemail' OR masked_at IS NOT NULL);
CREATE INDEX tasks_unmasked_completed ON tasks (completed_at) WHERE masked_at IS NULL AND completed_at IS NOT NULL;

-- A voicemail's recording is deleted from Asterisk and the caller's number
-- and name removed; the row (employee, time, duration) stays for counting.
ALTER TABLE voicemails ADD COLUMN masked_at timestamptz(3);
ALTER TABLE voicemails ADD CONSTRAINT voicemails_masked
    CHECK (masked_at IS NULL OR (caller_number IS NULL AND caller_name = ''));
CREATE INDEX voicemails_unmasked_received ON voicemails (received_at) WHERE masked_at IS NULL;

-- A call record's caller_number becomes NULL, as for a withheld number.
CREATE INDEX call_records_numbered_ended ON call_records (ended_at) WHERE caller_number IS NOT NULL;

---- create above / drop below ----

DROP INDEX call_records_numbered_ended;
DROP INDEX voicemails_unmasked_received;
ALTER TABLE voicemails DROP CONSTRAINT voicemails_masked;
ALTER TABLE voicemails DROP COLUMN masked_at;
DROP INDEX tasks_unmasked_completed;
ALTER TABLE tasks DROP CONSTRAINT tasks_number_required;
DELETE FROM tasks WHERE number IS NULL AND kind <> 'voicemail';
ALTER TABLE tasks ADD CONSTRAINT tasks_number_required CHECK (number IS NOT NULL OR kind = 'voicemail');
ALTER TABLE tasks DROP CONSTRAINT tasks_masked_finished;
ALTER TABLE tasks DROP COLUMN masked_at;
