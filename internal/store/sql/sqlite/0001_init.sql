-- memflow schema v1 (SQLite). JSON is TEXT; times are unix nanoseconds (INTEGER).
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    entity       TEXT NOT NULL,
    context      TEXT NOT NULL DEFAULT '{}',
    status       TEXT,
    flow         TEXT,
    version      TEXT,
    task_queue   TEXT,
    input        TEXT,
    state        TEXT,
    result       TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_entity_idx ON jobs (entity, id);

CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL,
    queue       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    worker      TEXT
);
CREATE INDEX IF NOT EXISTS tasks_claim_idx ON tasks (queue, due_at);
CREATE INDEX IF NOT EXISTS tasks_job_idx ON tasks (job_id);

CREATE TABLE IF NOT EXISTS history (
    job_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    thread TEXT NOT NULL DEFAULT '',
    step   TEXT NOT NULL DEFAULT '',
    state  INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS flows (
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    program    TEXT NOT NULL,
    file       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
