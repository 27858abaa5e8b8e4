-- Which callmon process drives the calls (DESIGN §10.1). Any number of
-- processes may run with one configuration and one database; the one
-- holding the lease row of the ARI application is active, the others stand
-- by. Times are the database server's (now()), so the processes' clocks do
-- not matter. epoch rises with every new holder: a fencing token.
CREATE TABLE leader_lease (
    name        text        PRIMARY KEY CHECK (name <> ''),
    holder      text        NOT NULL CHECK (holder <> ''),
    epoch       bigint      NOT NULL CHECK (epoch >= 1),
    acquired_at timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Every callmon process says here that it is alive, so an active process
-- stopping knows whether a standby will take its callers.
CREATE TABLE callmon_instances (
    id       text        PRIMARY KEY CHECK (id <> ''),
    name     text        NOT NULL,
    seen_at  timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE callmon_instances;
DROP TABLE leader_lease;
