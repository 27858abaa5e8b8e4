-- Agent presence (DESIGN §10.1): whether an agent is logged in and paused,
-- and why, is state of the site, not of one callmon process. Every process
-- reads it at start and follows changes through NOTIFY callmon_presence.
-- Package callmon/callback/presence owns this table.
CREATE TABLE agent_presence (
    -- The agent's id in the configuration. Rows of agents no longer
    -- configured are kept (and ignored) so that re-adding one restores it.
    agent        text        PRIMARY KEY CHECK (agent <> ''),
    logged_in    boolean     NOT NULL,
    paused       boolean     NOT NULL,
    -- Why the agent paused, as they typed it; only while paused.
    pause_reason text        CHECK (pause_reason <> '' AND char_length(pause_reason) <= 100),
    -- When the change was made, by the clock of the process that took it.
    -- A change that waited for PostgreSQL to come back must not overwrite
    -- a later one: writers only update a row whose changed_at is not newer.
    changed_at   timestamptz NOT NULL,
    -- Who made it: the agent's id, or "api" for the unauthenticated
    -- presence API. The audit trail (DESIGN §10.2) will refine this.
    changed_by   text        NOT NULL CHECK (changed_by <> ''),
    -- Incremented by every write, so a reader can tell a row changed.
    version      bigint      NOT NULL DEFAULT 1,
    CONSTRAINT agent_presence_reason_paused CHECK (paused OR pause_reason IS NULL)
);

-- Every change is announced on channel callmon_presence with the agent's id
-- as payload; it is delivered when the transaction commits.
CREATE FUNCTION agent_presence_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('callmon_presence', OLD.agent);
    ELSE
        PERFORM pg_notify('callmon_presence', NEW.agent);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER agent_presence_notify AFTER INSERT OR UPDATE OR DELETE ON agent_presence
    FOR EACH ROW EXECUTE FUNCTION agent_presence_notify();

---- create above / drop below ----

DROP TABLE agent_presence;
DROP FUNCTION agent_presence_notify();
