-- A job's revision: every update of the row adds one. A transition that
-- read the job without locking it (the claim read it) writes only if the
-- revision is still the one it read (Transition.Unlocked), so it never
-- overwrites a change it did not see.
ALTER TABLE jobs ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
