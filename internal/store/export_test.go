package store

import "context"

// Test hooks for the external test package.

// PostgresFindSQL renders Find's Postgres query.
func PostgresFindSQL(entityType string, f Filter, p FindParams) (string, []any, error) {
	fq, err := postgresDialect.findQuery(entityType, f, p, nil)
	return fq.sql, fq.args, err
}

// IndexName is the name CreateIndex gives the index on (entityType, field).
func IndexName(entityType, field string) string {
	segs, err := fieldPath(field)
	if err != nil {
		panic(err)
	}
	return indexName(entityType, segs)
}

// SQLiteFindSQL renders Find's SQLite query.
func SQLiteFindSQL(entityType string, f Filter, p FindParams) (string, []any, error) {
	fq, err := sqliteDialect.findQuery(entityType, f, p, nil)
	return fq.sql, fq.args, err
}

// ArrayIndexName is the name CreateArrayIndex gives the index on (entityType, field).
func ArrayIndexName(entityType, field string) string {
	segs, err := fieldPath(field)
	if err != nil {
		panic(err)
	}
	return arrayIndexName(entityType, segs)
}

// FindSQL renders Find's query as s runs it now (on SQLite "contains" reads
// job_members once the array index exists).
func FindSQL(ctx context.Context, s Store, entityType string, f Filter, p FindParams) (string, []any, error) {
	ss := s.(*sqlStore)
	fq, err := ss.renderFind(ctx, ss.b.pool(), entityType, f, p)
	return fq.sql, fq.args, err
}

// Grouped is how many transaction functions a store has committed in
// groups of more than one.
func Grouped(s Store) int64 {
	if ss, ok := s.(*sqlStore); ok {
		switch b := ss.b.(type) {
		case *sqliteBackend:
			return b.group.grouped.Load()
		case *pgBackend:
			return b.group.grouped.Load()
		}
	}
	return 0
}

// PlanCacheMode is the plan_cache_mode of a connection of a Postgres store.
func PlanCacheMode(ctx context.Context, s Store) (string, error) {
	var mode string
	err := s.(*sqlStore).b.pool().queryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode)
	return mode, err
}
