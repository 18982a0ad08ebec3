-- A claim serving every queue orders due tasks by due_at alone; without this
-- index it scans the whole table (future timers included) on every claim.
CREATE INDEX IF NOT EXISTS tasks_due_idx ON tasks (due_at);
