-- Facts about the schema itself. A schema holds one app: the row
-- key = 'app' names it, written the first time the app opens the schema.
-- App ids that differ only in '-' versus '_' map to the same schema; the
-- recorded id keeps the second of them out.
CREATE TABLE IF NOT EXISTS meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
