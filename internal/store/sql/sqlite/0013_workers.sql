-- Worker heartbeats: each worker records, at most every few seconds while it
-- polls for tasks, which queues it serves (a JSON list; [] for every queue),
-- the instance tree it is restricted to ('' none) and when it last polled,
-- so a start or a wait can tell that nothing serves a queue. Rows of
-- workers gone for an hour are deleted by the next heartbeat.
CREATE TABLE IF NOT EXISTS workers (
    id        TEXT PRIMARY KEY,
    queues    TEXT NOT NULL,
    root_id   TEXT NOT NULL DEFAULT '',
    last_seen INTEGER NOT NULL
);
-- Listing instances newest first (memflow ps), by workflow or not, pages by
-- (created_at, id).
CREATE INDEX IF NOT EXISTS jobs_created_idx ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_flow_created_idx ON jobs (flow, created_at, id);
