package store

import "slices"

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

// SQLiteFindSQLIndexed renders Find's SQLite query as it is when the array
// indexes named in idx exist.
func SQLiteFindSQLIndexed(entityType string, f Filter, p FindParams, idx ...string) (string, []any, error) {
	fq, err := sqliteDialect.findQuery(entityType, f, p, func(name string) bool { return slices.Contains(idx, name) })
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
