-- Signals sent to an instance id that does not exist yet. They wait here,
-- in the order they were sent (id), until an instance with that id is
-- created (which takes them in its insert transaction) or expires_at
-- passes (workers delete them).
CREATE TABLE IF NOT EXISTS pending_signals (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    data       TEXT,
    sent_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_signals_target_idx ON pending_signals (target_id, id);
CREATE INDEX IF NOT EXISTS pending_signals_expires_idx ON pending_signals (expires_at);

-- When an ended instance's rows may be deleted (a start's expiry); NULL:
-- kept. Workers delete expired instances with their tasks and history.
ALTER TABLE jobs ADD COLUMN expires_at INTEGER;
CREATE INDEX IF NOT EXISTS jobs_expires_idx ON jobs (expires_at) WHERE expires_at IS NOT NULL;
