-- Facts about the file itself. An SQLite file holds one app: the row
-- key = 'app' names it, written when the file is provisioned.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
