package store

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
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
	return fmt.Errorf("unknown operator %q (want =, !=, <, <=, >, >=)", op)
}

func pgFieldExpr(segs []Segment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = string(s)
	}
	return `context #> '{` + strings.Join(parts, ",") + `}'`
}

var pgTypeof = map[string]string{"number": "number", "string": "string", "boolean": "boolean", "null": "null"}

func pgFieldCond(segs []Segment, op string, v any, arg func(any) string) (string, error) {
	kind, err := scalarKind(v)
	if err == nil {
		err = checkOp(op, kind)
	}
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	expr := pgFieldExpr(segs)
	p := arg(b) + "::jsonb"
	switch op {
	case "=":
		return expr + " = " + p, nil
	case "!=":
		return expr + " <> " + p, nil
	}
	return "jsonb_typeof(" + expr + ") = '" + pgTypeof[kind] + "' AND " + expr + " " + op + " " + p, nil
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

func sqliteFieldCond(segs []Segment, op string, v any, arg func(any) string) (string, error) {
	kind, err := scalarKind(v)
	if err == nil {
		err = checkOp(op, kind)
	}
	if err != nil {
		return "", err
	}
	typ := `json_type(context, '` + sqliteJSONPath(segs) + `')`
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
		i, f, isInt, _ := asNumber(v)
		var a any = f
		if isInt {
			a = i
		}
		cond = typ + ` IN ('integer', 'real') AND ` + expr + ` ` + eqOp + ` ` + arg(a)
	case "string":
		cond = typ + ` = 'text' AND ` + expr + ` ` + eqOp + ` ` + arg(v)
	}
	if op == "!=" {
		return typ + ` IS NOT NULL AND NOT (` + cond + `)`, nil
	}
	return cond, nil
}

// findQuery renders Find's SQL and arguments.
func (d *dialect) findQuery(entityType string, f Filter, p FindParams) (string, []any, error) {
	lit, err := entityLiteral(entityType)
	if err != nil {
		return "", nil, fmt.Errorf("find: %w", err)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + jobCols + ` FROM jobs WHERE entity = ` + lit)
	for i, c := range f {
		segs, err := fieldPath(c.Path)
		if err != nil {
			return "", nil, fmt.Errorf("find %s: condition %d: %w", entityType, i+1, err)
		}
		cond, err := d.fieldCond(segs, c.Op, c.Value, arg)
		if err != nil {
			return "", nil, fmt.Errorf("find %s: condition %d (%s %s): %w", entityType, i+1, c.Path, c.Op, err)
		}
		b.WriteString(" AND (" + cond + ")")
	}
	if p.Limit < 0 {
		return "", nil, fmt.Errorf("find %s: limit %d is negative (0 means the default, 100)", entityType, p.Limit)
	}
	if p.Offset < 0 {
		return "", nil, fmt.Errorf("find %s: offset %d is negative", entityType, p.Offset)
	}
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	if limit > maxFindLimit {
		limit = maxFindLimit
	}
	b.WriteString(" ORDER BY id LIMIT " + arg(limit) + " OFFSET " + arg(p.Offset))
	return b.String(), args, nil
}

// indexName names the partial index for (entity type, field): readable and
// deterministic, with a short hash so distinct pairs never collide.
func indexName(entityType string, segs []Segment) string {
	h := fnv.New32a()
	h.Write([]byte(entityType + "\x00" + FormatPath(segs)))
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
	return fmt.Sprintf("jobs_%s_%s_%08x_idx", clean(entityType, 20), clean(strings.Join(parts, "_"), 20), h.Sum32())
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
