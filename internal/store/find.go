package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// maxFindLimit caps FindParams.Limit.
const maxFindLimit = 10000

// fieldPath parses a Find or CreateIndex path and checks every segment is
// safe to render into SQL: keys of [A-Za-z0-9_-] or array indexes.
func fieldPath(path string) ([]Segment, error) {
	segs, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, &PathError{Path: path, Msg: "a field path is required"}
	}
	if len(segs) > 32 {
		return nil, &PathError{Path: path, Msg: "more than 32 segments"}
	}
	for _, s := range segs {
		if !safeName(string(s), 128) {
			return nil, &PathError{Path: path, Offset: strings.Index(path, string(s)),
				Msg: fmt.Sprintf("segment %q: queries accept only letters, digits, '_' and '-' in field names", string(s))}
		}
	}
	return segs, nil
}

func safeName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// entityLiteral validates an entity type and renders it as an SQL string
// literal, so partial indexes can match the query's predicate.
func entityLiteral(t string) (string, error) {
	ok := safeName(strings.ReplaceAll(strings.ReplaceAll(t, ".", "_"), ":", "_"), 128)
	if !ok {
		return "", fmt.Errorf("invalid entity type %q: use 1-128 letters, digits, '_', '-', '.' or ':'", t)
	}
	return "'" + t + "'", nil
}

// maxInValues caps the list of an "in" condition.
const maxInValues = 1000

// maxCursorBytes caps the length of a cursor a caller hands back.
const maxCursorBytes = 4096

// opList names every Find operator, for messages.
const opList = "=, !=, <, <=, >, >=, like, prefix, in, contains, exists, !exists"

// scalarKind classifies a Find value.
func scalarKind(v any) (string, error) {
	switch v.(type) {
	case nil:
		return "null", nil
	case bool:
		return "boolean", nil
	case string:
		return "string", nil
	}
	if _, _, _, ok := asNumber(v); ok {
		return "number", nil
	}
	return "", fmt.Errorf("value %s: conditions compare numbers, strings, booleans or null", describe(v, true))
}

func checkOp(op, kind string) error {
	switch op {
	case "=", "!=":
		return nil
	case "<", "<=", ">", ">=":
		if kind != "number" && kind != "string" {
			return fmt.Errorf("operator %q needs a number or a string, got %s", op, kind)
		}
		return nil
	}
	return fmt.Errorf("unknown operator %q (want %s)", op, opList)
}

// EscapeLike escapes s for a "like" pattern so that '%', '_' and '\' in it
// match themselves: "like" with EscapeLike(s)+"%" is what "prefix" does.
func EscapeLike(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkLike rejects a pattern whose escape character escapes nothing.
func checkLike(p string) error {
	n := 0
	for i := len(p) - 1; i >= 0 && p[i] == '\\'; i-- {
		n++
	}
	if n%2 == 1 {
		return fmt.Errorf("pattern %q ends with the escape character '\\' (write '\\\\' for a literal backslash)", p)
	}
	return nil
}

// likeToGlob turns a "like" pattern (%, _ and \ escapes) into the same
// pattern for SQLite's GLOB, which, unlike SQLite's LIKE, is case-sensitive
// as Postgres's LIKE is.
func likeToGlob(p string) string {
	var b strings.Builder
	esc := false
	for _, r := range p {
		switch {
		case esc:
			esc = false
			b.WriteString(globLiteral(r))
		case r == '\\':
			esc = true
		case r == '%':
			b.WriteByte('*')
		case r == '_':
			b.WriteByte('?')
		default:
			b.WriteString(globLiteral(r))
		}
	}
	return b.String()
}

func globLiteral(r rune) string {
	switch r {
	case '*', '?', '[':
		return "[" + string(r) + "]"
	}
	return string(r)
}

// listValues reads the list of an "in" condition.
func listValues(v any) ([]any, error) {
	switch l := v.(type) {
	case []any:
		return l, nil
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if v == nil || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, fmt.Errorf("operator \"in\" needs a list of values, got %s", describe(v, true))
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// condSQL renders one validated condition. The operators are checked here;
// the dialect renders each kind.
func (d *dialect) condSQL(entityType string, segs []Segment, c Condition, arg func(any) string, arrayIdx func(string) bool) (string, error) {
	switch c.Op {
	case "exists", "!exists":
		if c.Value != nil {
			return "", fmt.Errorf("operator %q takes no value, got %s", c.Op, describe(c.Value, true))
		}
		if c.Op == "exists" {
			return d.presence(segs) + " IS NOT NULL", nil
		}
		return d.presence(segs) + " IS NULL", nil
	case "like", "prefix":
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("operator %q needs a string, got %s", c.Op, describe(c.Value, true))
		}
		if c.Op == "prefix" {
			s = EscapeLike(s) + "%"
		} else if err := checkLike(s); err != nil {
			return "", err
		}
		return d.likeCond(segs, s, arg), nil
	case "in":
		list, err := listValues(c.Value)
		if err != nil {
			return "", err
		}
		if len(list) > maxInValues {
			return "", fmt.Errorf("operator \"in\" takes at most %d values, got %d", maxInValues, len(list))
		}
		if len(list) == 0 {
			return "1 = 0", nil // an empty list matches nothing
		}
		for i, v := range list {
			if _, err := scalarKind(v); err != nil {
				return "", fmt.Errorf("value %d of the list: %w", i+1, err)
			}
		}
		return d.inCond(segs, list, arg)
	case "contains":
		kind, err := scalarKind(c.Value)
		if err != nil {
			return "", err
		}
		return d.containsCond(arrayIndexName(entityType, segs), segs, kind, c.Value, arg, arrayIdx)
	}
	return d.fieldCond(segs, c.Op, c.Value, arg)
}

func pgFieldExpr(segs []Segment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = string(s)
	}
	return `context #> '{` + strings.Join(parts, ",") + `}'`
}

var pgTypeof = map[string]string{"number": "number", "string": "string", "boolean": "boolean", "null": "null"}

func pgJSONArg(v any, arg func(any) string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	return arg(b) + "::jsonb", nil
}

func pgFieldCond(segs []Segment, op string, v any, arg func(any) string) (string, error) {
	kind, err := scalarKind(v)
	if err == nil {
		err = checkOp(op, kind)
	}
	if err != nil {
		return "", err
	}
	expr := pgFieldExpr(segs)
	p, err := pgJSONArg(v, arg)
	if err != nil {
		return "", err
	}
	switch op {
	case "=":
		return expr + " = " + p, nil
	case "!=":
		return expr + " <> " + p, nil
	}
	return "jsonb_typeof(" + expr + ") = '" + pgTypeof[kind] + "' AND " + expr + " " + op + " " + p, nil
}

// pgLikeCond matches strings only; LIKE's default escape is '\' on Postgres.
func pgLikeCond(segs []Segment, pattern string, arg func(any) string) string {
	expr := pgFieldExpr(segs)
	return "jsonb_typeof(" + expr + ") = 'string' AND (" + expr + " #>> '{}') LIKE " + arg(pattern)
}

// pgInCond compares with each value bound as its own parameter, so an
// expression index on the field serves it.
func pgInCond(segs []Segment, list []any, arg func(any) string) (string, error) {
	ps := make([]string, len(list))
	for i, v := range list {
		p, err := pgJSONArg(v, arg)
		if err != nil {
			return "", err
		}
		ps[i] = p
	}
	return pgFieldExpr(segs) + " IN (" + strings.Join(ps, ", ") + ")", nil
}

// pgContainsCond is jsonb containment of a one-element array: a GIN
// jsonb_path_ops index on the same expression (CreateArrayIndex) serves it.
func pgContainsCond(_ string, segs []Segment, _ string, v any, arg func(any) string, _ func(string) bool) (string, error) {
	p, err := pgJSONArg([]any{v}, arg)
	if err != nil {
		return "", err
	}
	return pgFieldExpr(segs) + " @> " + p, nil
}

// pgSortKeys: rank (number, string, boolean, object or array, then null or
// missing), the number, and the text of a string or boolean compared
// bytewise (COLLATE "C"), as SQLite compares text.
func pgSortKeys(segs []Segment) (rank, num, txt string) {
	e := pgFieldExpr(segs)
	t := "jsonb_typeof(" + e + ")"
	rank = "(CASE " + t + " WHEN 'number' THEN 0 WHEN 'string' THEN 1 WHEN 'boolean' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 3 ELSE 4 END)"
	num = "(CASE WHEN " + t + " = 'number' THEN (" + e + ")::numeric ELSE 0 END)"
	txt = "(CASE WHEN " + t + " IN ('string', 'boolean') THEN " + e + " #>> '{}' ELSE '' END COLLATE \"C\")"
	return rank, num, txt
}

func sqliteJSONPath(segs []Segment) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range segs {
		if i, ok := s.Index(); ok {
			b.WriteString("[" + strconv.Itoa(i) + "]")
			continue
		}
		b.WriteString(`."` + string(s) + `"`)
	}
	return b.String()
}

func sqliteFieldExpr(segs []Segment) string {
	return `json_extract(context, '` + sqliteJSONPath(segs) + `')`
}

func sqliteTypeExpr(segs []Segment) string {
	return `json_type(context, '` + sqliteJSONPath(segs) + `')`
}

func sqliteFieldCond(segs []Segment, op string, v any, arg func(any) string) (string, error) {
	kind, err := scalarKind(v)
	if err == nil {
		err = checkOp(op, kind)
	}
	if err != nil {
		return "", err
	}
	typ := sqliteTypeExpr(segs)
	expr := sqliteFieldExpr(segs)
	var eqOp = op
	if op == "!=" {
		eqOp = "="
	}
	var cond string
	switch kind {
	case "null":
		cond = typ + ` = 'null'`
	case "boolean":
		cond = typ + ` = ` + arg(strconv.FormatBool(v.(bool)))
	case "number":
		cond = typ + ` IN ('integer', 'real') AND ` + expr + ` ` + eqOp + ` ` + arg(sqliteNumber(v))
	case "string":
		cond = typ + ` = 'text' AND ` + expr + ` ` + eqOp + ` ` + arg(v)
	}
	if op == "!=" {
		return typ + ` IS NOT NULL AND NOT (` + cond + `)`, nil
	}
	return cond, nil
}

func sqliteNumber(v any) any {
	i, f, isInt, _ := asNumber(v)
	if isInt {
		return i
	}
	return f
}

// sqliteLikeCond uses GLOB: SQLite's LIKE ignores ASCII case, Postgres's
// does not.
func sqliteLikeCond(segs []Segment, pattern string, arg func(any) string) string {
	return sqliteTypeExpr(segs) + ` = 'text' AND ` + sqliteFieldExpr(segs) + ` GLOB ` + arg(likeToGlob(pattern))
}

func sqliteInCond(segs []Segment, list []any, arg func(any) string) (string, error) {
	parts := make([]string, len(list))
	for i, v := range list {
		c, err := sqliteFieldCond(segs, "=", v, arg)
		if err != nil {
			return "", err
		}
		parts[i] = "(" + c + ")"
	}
	return strings.Join(parts, " OR "), nil
}

// sqliteMemberCond matches an element of json_each (columns type and value)
// or of the job_members table, which holds the same two columns.
func sqliteMemberCond(kind string, v any, arg func(any) string) string {
	switch kind {
	case "null":
		return `type = 'null'`
	case "boolean":
		if v.(bool) {
			return `value = 1 AND type = 'true'`
		}
		return `value = 0 AND type = 'false'`
	case "number":
		return `value = ` + arg(sqliteNumber(v)) + ` AND type IN ('integer', 'real')`
	}
	return `value = ` + arg(v) + ` AND type = 'text'`
}

// sqliteContainsCond looks the value up in job_members when an array index
// on the field exists (CreateArrayIndex), else walks the array.
func sqliteContainsCond(idx string, segs []Segment, kind string, v any, arg func(any) string, arrayIdx func(string) bool) (string, error) {
	if arrayIdx != nil && arrayIdx(idx) {
		return `id IN (SELECT job_id FROM job_members WHERE idx = ` + arg(idx) + ` AND ` + sqliteMemberCond(kind, v, arg) + `)`, nil
	}
	p := sqliteJSONPath(segs)
	return sqliteTypeExpr(segs) + ` = 'array' AND EXISTS (SELECT 1 FROM json_each(context, '` + p + `') WHERE ` +
		sqliteMemberCond(kind, v, arg) + `)`, nil
}

func sqliteSortKeys(segs []Segment) (rank, num, txt string) {
	t, e := sqliteTypeExpr(segs), sqliteFieldExpr(segs)
	rank = "(CASE " + t + " WHEN 'integer' THEN 0 WHEN 'real' THEN 0 WHEN 'text' THEN 1 WHEN 'true' THEN 2 WHEN 'false' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 3 ELSE 4 END)"
	num = "(CASE WHEN " + t + " IN ('integer', 'real') THEN " + e + " ELSE 0 END)"
	txt = "(CASE " + t + " WHEN 'text' THEN " + e + " WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE '' END)"
	return rank, num, txt
}

// Page is one page of Find: the jobs, and Next, the cursor for the page
// after it ("" on the last page).
type Page struct {
	Jobs []Job
	Next string
}

// cursor is what an opaque cursor holds: the hash of the query it belongs to
// and the sort key of the last row of its page.
type cursor struct {
	Query string `json:"q"`
	Rank  int64  `json:"r,omitempty"`
	Num   string `json:"n,omitempty"`
	Text  string `json:"t,omitempty"`
	ID    string `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, query string) (cursor, error) {
	var c cursor
	if len(s) > maxCursorBytes {
		return c, fmt.Errorf("cursor: longer than %d bytes; pass the cursor a previous page returned", maxCursorBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		err = d.Decode(&c)
	}
	if err == nil && c.ID == "" {
		err = fmt.Errorf("no position")
	}
	if err == nil && c.Num != "" {
		if _, perr := strconv.ParseFloat(c.Num, 64); perr != nil && !errors.Is(perr, strconv.ErrRange) {
			err = fmt.Errorf("bad number %q", c.Num)
		}
	}
	if err != nil {
		return c, fmt.Errorf("cursor %q is not one Find returned: %v", s, err)
	}
	if c.Query != query {
		return c, fmt.Errorf("cursor %q belongs to another query: pass the same entity type, conditions and sort as the page that returned it", s)
	}
	return c, nil
}

// queryHash ties a cursor to its query.
func queryHash(entityType string, f Filter, p FindParams) string {
	h := fnv.New64a()
	b, _ := json.Marshal(f)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t", entityType, b, p.Sort, p.Desc)
	return fmt.Sprintf("%016x", h.Sum64())
}

// found is a rendered Find: the query and its arguments, the limit asked
// for (the query fetches one row more, to know whether a page follows) and
// the query hash its cursors carry.
type found struct {
	sql   string
	args  []any
	limit int
	hash  string
}

// findQuery renders Find's SQL and arguments. arrayIdx reports whether an
// array index of the given name exists (nil: none known).
func (d *dialect) findQuery(entityType string, f Filter, p FindParams, arrayIdx func(string) bool) (found, error) {
	lit, err := entityLiteral(entityType)
	if err != nil {
		return found{}, fmt.Errorf("find: %w", err)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where strings.Builder
	where.WriteString(` FROM jobs WHERE entity = ` + lit)
	for i, c := range f {
		segs, err := fieldPath(c.Path)
		if err != nil {
			return found{}, fmt.Errorf("find %s: condition %d: %w", entityType, i+1, err)
		}
		cond, err := d.condSQL(entityType, segs, c, arg, arrayIdx)
		if err != nil {
			return found{}, fmt.Errorf("find %s: condition %d (%s %s): %w", entityType, i+1, c.Path, c.Op, err)
		}
		where.WriteString(" AND (" + cond + ")")
	}
	if p.Limit < 0 {
		return found{}, fmt.Errorf("find %s: limit %d is negative (0 means the default, 100)", entityType, p.Limit)
	}
	if p.Offset < 0 {
		return found{}, fmt.Errorf("find %s: offset %d is negative", entityType, p.Offset)
	}
	if p.Offset > 0 && p.Cursor != "" {
		return found{}, fmt.Errorf("find %s: give a cursor or an offset, not both", entityType)
	}
	rank, num, txt := "0", "0", "''"
	if p.Sort != "" {
		segs, err := fieldPath(p.Sort)
		if err != nil {
			return found{}, fmt.Errorf("find %s: sort: %w", entityType, err)
		}
		rank, num, txt = d.sortKeys(segs)
	}
	hash := queryHash(entityType, f, p)
	cmp, dir := ">", ""
	if p.Desc {
		cmp, dir = "<", " DESC"
	}
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor, hash)
		if err != nil {
			return found{}, fmt.Errorf("find %s: %w", entityType, err)
		}
		if p.Sort == "" {
			where.WriteString(" AND id " + cmp + " " + arg(c.ID))
		} else {
			r := arg(c.Rank)
			where.WriteString(" AND (" + rank + " > " + r + " OR (" + rank + " = " + r + " AND (" + num + ", " + txt + ", id) " +
				cmp + " (" + d.numParam(c.Num, arg) + ", " + arg(c.Text) + ", " + arg(c.ID) + ")))")
		}
	}
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	limit = min(limit, maxFindLimit)
	order := " ORDER BY id" + dir
	if p.Sort != "" {
		order = " ORDER BY " + rank + ", " + num + dir + ", " + txt + dir + ", id" + dir
	}
	q := `SELECT ` + jobCols + `, ` + rank + `, ` + d.numText(num) + `, ` + txt + where.String() + order +
		" LIMIT " + arg(limit+1) + " OFFSET " + arg(p.Offset)
	return found{sql: q, args: args, limit: limit, hash: hash}, nil
}

// indexName names the partial index for (entity type, field): readable and
// deterministic, with a short hash so distinct pairs never collide.
func indexName(entityType string, segs []Segment) string {
	return namedIndex(entityType, segs, "", "idx")
}

// arrayIndexName names the array (membership) index for (entity type,
// field); its hash differs from indexName's, so both can exist.
func arrayIndexName(entityType string, segs []Segment) string {
	return namedIndex(entityType, segs, "\x00[]", "arr")
}

func namedIndex(entityType string, segs []Segment, salt, suffix string) string {
	h := fnv.New32a()
	h.Write([]byte(entityType + "\x00" + FormatPath(segs) + salt))
	clean := func(s string, max int) string {
		var b strings.Builder
		for i := 0; i < len(s) && b.Len() < max; i++ {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
				b.WriteByte(c)
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = string(s)
	}
	return fmt.Sprintf("jobs_%s_%s_%08x_%s", clean(entityType, 20), clean(strings.Join(parts, "_"), 20), h.Sum32(), suffix)
}

// indexSQL renders CreateIndex's statement.
func (d *dialect) indexSQL(entityType, field string) (string, error) {
	lit, err := entityLiteral(entityType)
	if err != nil {
		return "", fmt.Errorf("create index: %w", err)
	}
	segs, err := fieldPath(field)
	if err != nil {
		return "", fmt.Errorf("create index on %s: %w", entityType, err)
	}
	return d.createIndex(indexName(entityType, segs), d.fieldExpr(segs), lit), nil
}

// arrayIndex is a validated CreateArrayIndex request.
type arrayIndex struct {
	name, entity string // entity: the SQL literal
	segs         []Segment
}

func parseArrayIndex(entityType, field string) (arrayIndex, error) {
	lit, err := entityLiteral(entityType)
	if err != nil {
		return arrayIndex{}, fmt.Errorf("create array index: %w", err)
	}
	segs, err := fieldPath(field)
	if err != nil {
		return arrayIndex{}, fmt.Errorf("create array index on %s: %w", entityType, err)
	}
	return arrayIndex{name: arrayIndexName(entityType, segs), entity: lit, segs: segs}, nil
}

// pgArrayIndexSQL is a partial GIN index with jsonb_path_ops on the field's
// expression: the operator class made for @>, smaller and faster than the
// default jsonb_ops, and the expression the "contains" condition renders.
func pgArrayIndexSQL(ix arrayIndex) []string {
	return []string{`CREATE INDEX IF NOT EXISTS ` + quoteIdent(ix.name) + ` ON jobs USING GIN ((` + pgFieldExpr(ix.segs) +
		`) jsonb_path_ops) WHERE entity = ` + ix.entity}
}

// sqliteMembersTable holds one row per element of every indexed array on
// SQLite, which has no inverted index: an expression index holds one value
// per row, so it cannot serve membership. Triggers on jobs keep the rows
// current; the index on (idx, value) makes "contains" a lookup.
var sqliteMembersTable = []string{`CREATE TABLE IF NOT EXISTS job_members (
  idx TEXT NOT NULL,
  job_id TEXT NOT NULL,
  type TEXT NOT NULL,
  value
)`,
	`CREATE INDEX IF NOT EXISTS job_members_lookup ON job_members (idx, value, job_id)`,
	`CREATE INDEX IF NOT EXISTS job_members_job ON job_members (job_id, idx)`,
}

// sqliteArrayIndexSQL makes the triggers that keep job_members current for
// one (entity type, field) and fills it from the rows already there. The
// triggers' existence is what marks the index as made (sqliteHasArrayIndex),
// so the statements run only once.
func sqliteArrayIndexSQL(ix arrayIndex) []string {
	p := `'` + sqliteJSONPath(ix.segs) + `'`
	name := `'` + ix.name + `'`
	fill := func(row string) string {
		return `INSERT INTO job_members (idx, job_id, type, value) SELECT ` + name + `, ` + row + `.id, je.type, je.value FROM json_each(` +
			row + `.context, ` + p + `) je WHERE ` + row + `.entity = ` + ix.entity + ` AND json_type(` + row + `.context, ` + p +
			`) = 'array' AND je.type NOT IN ('array', 'object')`
	}
	drop := `DELETE FROM job_members WHERE job_id = old.id AND idx = ` + name
	return append(append([]string{}, sqliteMembersTable...),
		`CREATE TRIGGER `+quoteIdent(ix.name+"_ins")+` AFTER INSERT ON jobs WHEN new.entity = `+ix.entity+` BEGIN `+fill("new")+`; END`,
		`CREATE TRIGGER `+quoteIdent(ix.name+"_upd")+` AFTER UPDATE OF context, entity ON jobs WHEN new.entity = `+ix.entity+
			` OR old.entity = `+ix.entity+` BEGIN `+drop+`; `+fill("new")+`; END`,
		`CREATE TRIGGER `+quoteIdent(ix.name+"_del")+` AFTER DELETE ON jobs WHEN old.entity = `+ix.entity+` BEGIN `+drop+`; END`,
		`INSERT INTO job_members (idx, job_id, type, value) SELECT `+name+`, jobs.id, je.type, je.value FROM jobs, json_each(jobs.context, `+p+
			`) je WHERE jobs.entity = `+ix.entity+` AND json_type(jobs.context, `+p+`) = 'array' AND je.type NOT IN ('array', 'object')`,
		`ANALYZE job_members`,
	)
}
