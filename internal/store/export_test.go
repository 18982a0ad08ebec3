package store

// Test hooks for the external test package.

// PostgresFindSQL renders Find's Postgres query.
func PostgresFindSQL(entityType string, f Filter, p FindParams) (string, []any, error) {
	return postgresDialect.findQuery(entityType, f, p)
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
	return sqliteDialect.findQuery(entityType, f, p)
}
