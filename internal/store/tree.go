package store

import (
	"context"
	"fmt"
)

// Instance trees: jobs.root_id, parent_id and depth place each instance in
// the tree of instances its root started (migration 0012_tree), and the
// trees table counts the instances started under each root.

// treeByRoot lists a root's tree through the root_id index; rows written
// before trees were recorded have root_id NULL and are their own root.
const treeByRoot = `SELECT ` + jobCols + ` FROM jobs WHERE (root_id = $1 OR id = $1) AND ($2 = '' OR status = $2)
ORDER BY created_at, id`

// treeByParent lists the tree below an instance that is not a root by
// following parent_id.
const treeByParent = `WITH RECURSIVE sub(id) AS (
SELECT CAST($1 AS text)
UNION
SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id)
SELECT ` + jobCols + ` FROM jobs WHERE id IN (SELECT id FROM sub) AND ($2 = '' OR status = $2)
ORDER BY created_at, id`

func (s *sqlStore) ListTree(ctx context.Context, id, status string) ([]Job, error) {
	top, err := getJob(ctx, s.b.pool(), id, "")
	if err != nil {
		return nil, fmt.Errorf("list tree: %w", err)
	}
	q := treeByParent
	if top.Root == top.ID {
		q = treeByRoot
	}
	r, err := s.b.pool().query(ctx, q, id, status)
	if err != nil {
		return nil, fmt.Errorf("list tree of %q: %w", id, err)
	}
	defer r.Close()
	var out []Job
	for r.Next() {
		j, err := scanJob(r)
		if err != nil {
			return nil, fmt.Errorf("list tree of %q: %w", id, err)
		}
		out = append(out, *j)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("list tree of %q: %w", id, err)
	}
	return out, nil
}

func (t *sqlTx) AddDescendant(ctx context.Context, root string, limit int) (int, bool, error) {
	if limit < 1 {
		return 0, false, fmt.Errorf("count descendants of %q: limit %d must be positive", root, limit)
	}
	var n int
	err := t.q.queryRow(ctx, `INSERT INTO trees (root_id, descendants) VALUES ($1, 1)
ON CONFLICT (root_id) DO UPDATE SET descendants = trees.descendants + 1
WHERE trees.descendants < $2 AND NOT trees.closed
RETURNING descendants`, root, limit).Scan(&n)
	if err == nil {
		return n, true, nil
	}
	if !isNoRows(err) {
		return 0, false, fmt.Errorf("count descendants of %q: %w", root, err)
	}
	var closed bool
	if err := t.q.queryRow(ctx, `SELECT descendants, closed FROM trees WHERE root_id = $1`, root).Scan(&n, &closed); err != nil {
		return 0, false, fmt.Errorf("count descendants of %q: %w", root, err)
	}
	if closed {
		return n, false, fmt.Errorf("start under %q: %w", root, ErrTreeClosed)
	}
	return n, false, nil
}

func (s *sqlStore) CloseTree(ctx context.Context, root string) error {
	_, err := s.b.pool().exec(ctx, `INSERT INTO trees (root_id, descendants, closed) VALUES ($1, 0, true)
ON CONFLICT (root_id) DO UPDATE SET closed = true`, root)
	if err != nil {
		return fmt.Errorf("close the tree of %q: %w", root, err)
	}
	return nil
}

func (t *sqlTx) RemoveDescendant(ctx context.Context, root string) error {
	if _, err := t.q.exec(ctx, `UPDATE trees SET descendants = descendants - 1 WHERE root_id = $1 AND descendants > 0`, root); err != nil {
		return fmt.Errorf("uncount a descendant of %q: %w", root, err)
	}
	return nil
}
