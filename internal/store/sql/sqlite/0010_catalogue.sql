-- The serving catalogue: for each workflow name, the version new starts use,
-- or retired when its flow left the catalogue. Instances keep running on the
-- version they started with (flows table) whatever this table says.
CREATE TABLE IF NOT EXISTS catalogue (
    name      TEXT PRIMARY KEY,
    version   TEXT NOT NULL,
    file      TEXT NOT NULL DEFAULT '',
    loaded_at INTEGER NOT NULL,
    retired   INTEGER NOT NULL DEFAULT 0,
    retired_at INTEGER
);

-- One row per attempt to load the catalogue (reload or startup), newest kept.
CREATE TABLE IF NOT EXISTS load_reports (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    ok      INTEGER NOT NULL,
    source  TEXT NOT NULL DEFAULT '',
    errors  TEXT NOT NULL DEFAULT '[]',
    changes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS load_reports_at_idx ON load_reports (at DESC, id DESC);
