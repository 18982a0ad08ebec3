-- Instance trees. Each instance records the root of its tree (itself for a
-- top-level start), the instance whose step started it (NULL for a top-level
-- start) and its depth below the root. Rows written before this migration
-- have root_id NULL: they are roots. A tree is cancelled as a whole through
-- root_id (or parent_id below a root). trees counts the instances started
-- under each root, so the runtime can bound them, and closes a tree being
-- cancelled to new starts.
ALTER TABLE jobs ADD COLUMN root_id TEXT;
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS jobs_root_idx ON jobs (root_id);
CREATE INDEX IF NOT EXISTS jobs_parent_idx ON jobs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS trees (
    root_id     TEXT PRIMARY KEY,
    descendants INTEGER NOT NULL,
    closed      INTEGER NOT NULL DEFAULT 0
);
