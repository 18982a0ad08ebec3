package dsl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a flow file.
const MaxFileSize = 4 << 20

// maxExpand bounds the number of nodes a value may expand to through YAML
// aliases, so an alias bomb cannot exhaust memory.
const maxExpand = 100000

// File is one parsed flow file.
type File struct {
	Name  string
	Src   []byte
	Root  Node // the document's top-level node
	lines []string
}

// Node is a YAML node of a file: a thin typed view of yaml.Node that knows
// its file, so every key and value has a position. The zero Node is absent.
type Node struct {
	f *File
	y *yaml.Node
}

// Pair is one key and value of a mapping.
type Pair struct {
	Key   Node
	Value Node
}

// Kind of a node.
type Kind int

// Node kinds.
const (
	Absent Kind = iota
	Scalar
	Mapping
	Sequence
)

func (k Kind) String() string {
	switch k {
	case Scalar:
		return "scalar"
	case Mapping:
		return "map"
	case Sequence:
		return "list"
	}
	return "nothing"
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the YAML parser's messages; its other messages come
// from the scanner, which numbers lines differently.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// Parse reads one flow file. A file that is not one YAML document yields
// diagnostics and a nil File; a document with duplicate keys yields their
// diagnostics and the File.
func Parse(name string, src []byte) (*File, Diagnostics) {
	f := &File{Name: name, Src: src, lines: strings.Split(string(src), "\n")}
	if len(src) > MaxFileSize {
		return nil, Diagnostics{{Pos: Pos{File: name, Line: 1, Col: 1}, Severity: Error,
			Message: fmt.Sprintf("file is %d bytes; the limit is %d", len(src), MaxFileSize)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Diagnostics{{Pos: Pos{File: name, Line: 1, Col: 1}, Severity: Error,
				Message: "empty flow file: expected a map with `memflow: v1`"}}
		}
		return nil, Diagnostics{f.yamlError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Diagnostics{{Pos: f.clamp(extra.Line, extra.Column), Severity: Error,
			Message: "a flow file holds one YAML document; found a second one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Diagnostics{f.yamlError(err)}
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	f.Root = Node{f: f, y: root}
	if ds := f.checkAliases(root); ds != nil {
		return nil, ds
	}
	// A duplicate key is an error, but the file is still returned so the
	// rest of it is checked too.
	return f, f.duplicateKeys(root)
}

func (f *File) yamlError(err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// The YAML parser (unlike its scanner) reports 0-based lines.
		if parserProblems[msg] {
			line++
		}
	}
	// The YAML parser reports lines only: point at the line's first
	// non-blank character.
	col := 1
	if line >= 1 && line <= len(f.lines) {
		l := f.lines[line-1]
		col = utf8.RuneCountInString(l[:len(l)-len(strings.TrimLeft(l, " \t"))]) + 1
	}
	switch msg {
	case "did not find expected ',' or '}'", "did not find expected ',' or ']'", "found unexpected end of stream",
		"did not find expected key", "could not find expected ':'":
		if l, c, q, ok := f.unclosedQuote(line); ok {
			return Diagnostic{Pos: f.clamp(l, c), Severity: Error,
				Message: "invalid YAML: the " + quoteName(q) + " opened here is never closed: close it on the same line"}
		}
	}
	switch msg {
	case "mapping values are not allowed in this context":
		if l, c, ok := f.elseIf(line); ok {
			return Diagnostic{Pos: f.clamp(l, c), Severity: Error,
				Message: "invalid YAML: there is no `else if`: `if` takes `then` and `else` only; write a chain of conditions as `switch` with `- when:` cases, or nest an `if` in `else`"}
		}
	}
	switch msg {
	case "did not find expected ',' or '}'", "did not find expected ',' or ']'":
		// The usual cause: an unquoted ${ } inside { } or [ ].
		for l := line; l >= 1 && l <= len(f.lines) && l < line+4; l++ {
			if i := unquotedExpr(f.lines[l-1]); i >= 0 {
				return Diagnostic{Pos: f.clamp(l, utf8.RuneCountInString(f.lines[l-1][:i])+1), Severity: Error,
					Message: `invalid YAML: inside { } or [ ] an expression must be quoted: write "${ ... }"`}
			}
		}
		msg += " (an unclosed { or [?)"
	case "mapping values are not allowed in this context":
		msg += ` (quote a value that holds ": ", or check the indentation)`
	case "did not find expected key":
		msg += " (check the indentation, or an extra } or ])"
	case "found character that cannot start any token":
		if line >= 1 && line <= len(f.lines) && strings.Contains(f.lines[line-1][:len(f.lines[line-1])-len(strings.TrimLeft(f.lines[line-1], " \t"))], "\t") {
			msg = "a tab indents this line: YAML indents with spaces only"
			col = strings.IndexByte(f.lines[line-1], '\t') + 1
		}
	}
	// The parser places some errors at the start of the enclosing node:
	// point at the line whose indentation broke the structure.
	if l, c, why, ok := f.misindented(line); ok && l < line+40 {
		return Diagnostic{Pos: f.clamp(l, c), Severity: Error, Message: "invalid YAML: " + why}
	}
	return Diagnostic{Pos: f.clamp(line, col), Severity: Error, Message: "invalid YAML: " + msg}
}

// unquotedExpr returns the byte offset of a `${` on line that no quote
// opens, or -1.
func unquotedExpr(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return -1
		case c == '$' && i+1 < len(line) && line[i+1] == '{':
			return i
		}
	}
	return -1
}

// clamp keeps a position inside the file.
func (f *File) clamp(line, col int) Pos {
	if line < 1 {
		line = 1
	}
	if line > len(f.lines) {
		line = len(f.lines)
	}
	n := utf8.RuneCountInString(f.lines[line-1])
	if col > n+1 {
		col = n + 1
	}
	if col < 1 {
		col = 1
	}
	return Pos{File: f.Name, Line: line, Col: col}
}

// checkAliases rejects alias bombs: the expanded size of the document is
// bounded.
func (f *File) checkAliases(root *yaml.Node) Diagnostics {
	budget := maxExpand
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		budget--
		if budget < 0 || depth > 1000 {
			return false
		}
		if n.Kind == yaml.AliasNode {
			return n.Alias == nil || walk(n.Alias, depth+1)
		}
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	if !walk(root, 0) {
		return Diagnostics{{Pos: f.clamp(root.Line, root.Column), Severity: Error,
			Message: fmt.Sprintf("document too large: it expands to more than %d YAML nodes", maxExpand)}}
	}
	return nil
}

// Lines returns the number of lines of the file.
func (f *File) Lines() int { return len(f.lines) }

func (n Node) node() *yaml.Node {
	y := n.y
	for i := 0; y != nil && y.Kind == yaml.AliasNode && i < 100; i++ {
		y = y.Alias
	}
	if y != nil && y.Kind == yaml.AliasNode {
		return nil
	}
	return y
}

// File returns the node's file.
func (n Node) File() *File { return n.f }

// Exists reports whether the node is present.
func (n Node) Exists() bool { return n.node() != nil }

// Kind returns the node's kind (through aliases).
func (n Node) Kind() Kind {
	y := n.node()
	if y == nil {
		return Absent
	}
	switch y.Kind {
	case yaml.ScalarNode:
		return Scalar
	case yaml.MappingNode:
		return Mapping
	case yaml.SequenceNode:
		return Sequence
	}
	return Absent
}

// Pos returns where the node starts (an alias: where the alias is written).
func (n Node) Pos() Pos {
	if n.y == nil || n.f == nil {
		return Pos{}
	}
	return n.f.clamp(n.y.Line, n.y.Column)
}

// Text is the scalar's value ("" for other kinds).
func (n Node) Text() string {
	y := n.node()
	if y == nil || y.Kind != yaml.ScalarNode {
		return ""
	}
	return y.Value
}

// IsNull reports whether the node is absent or a YAML null.
func (n Node) IsNull() bool {
	y := n.node()
	return y == nil || (y.Kind == yaml.ScalarNode && y.ShortTag() == "!!null")
}

// IsString reports whether the node is a string scalar.
func (n Node) IsString() bool {
	y := n.node()
	return y != nil && y.Kind == yaml.ScalarNode && y.ShortTag() == "!!str"
}

// IsExpr reports whether the node is a string holding `${`.
func (n Node) IsExpr() bool { return n.IsString() && strings.Contains(n.Text(), "${") }

// Tag is the node's resolved short tag (!!str, !!int, !!map, ...).
func (n Node) Tag() string {
	y := n.node()
	if y == nil {
		return ""
	}
	return y.ShortTag()
}

// TypeName names the node's type for messages: string, integer, number,
// boolean, null, map or list.
func (n Node) TypeName() string {
	switch n.Tag() {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	case "!!map":
		return "map"
	case "!!seq":
		return "list"
	case "":
		return "nothing"
	}
	return "scalar"
}

// Pairs returns a mapping's keys and values in file order (nil otherwise).
// Merge keys (<<) are not expanded.
func (n Node) Pairs() []Pair {
	y := n.node()
	if y == nil || y.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]Pair, 0, len(y.Content)/2)
	for i := 0; i+1 < len(y.Content); i += 2 {
		out = append(out, Pair{Key: Node{f: n.f, y: y.Content[i]}, Value: Node{f: n.f, y: y.Content[i+1]}})
	}
	return out
}

// Get returns the value of key in a mapping, and the key node.
func (n Node) Get(key string) (value, keyNode Node) {
	for _, p := range n.Pairs() {
		if p.Key.Text() == key {
			return p.Value, p.Key
		}
	}
	return Node{}, Node{}
}

// Items returns a sequence's items (nil otherwise).
func (n Node) Items() []Node {
	y := n.node()
	if y == nil || y.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]Node, len(y.Content))
	for i, c := range y.Content {
		out[i] = Node{f: n.f, y: c}
	}
	return out
}

// Value converts the node to a JSON-like Go value: nil, bool, int, float64,
// string, []any, map[string]any. Non-string keys become their text.
func (n Node) Value() (any, error) {
	budget := maxExpand
	return n.value(&budget)
}

func (n Node) value(budget *int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, fmt.Errorf("value too large")
	}
	y := n.node()
	if y == nil {
		return nil, nil
	}
	switch y.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(y.Content)/2)
		for _, p := range n.Pairs() {
			v, err := p.Value.value(budget)
			if err != nil {
				return nil, err
			}
			m[p.Key.Text()] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(y.Content))
		for _, it := range n.Items() {
			v, err := it.value(budget)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		return scalarValue(y)
	}
	return nil, nil
}

func scalarValue(y *yaml.Node) (any, error) {
	switch y.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := y.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := y.Decode(&i); err == nil {
			return int(i), nil
		}
		var f float64
		if err := y.Decode(&f); err != nil {
			return nil, fmt.Errorf("bad integer %q", y.Value)
		}
		return f, nil
	case "!!float":
		var f float64
		if err := y.Decode(&f); err != nil {
			return nil, err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a JSON number", y.Value)
		}
		return f, nil
	case "!!str":
		return y.Value, nil
	}
	return y.Value, nil
}

// PosAt returns the position of byte offset off inside a scalar's value:
// exact for plain, single- and double-quoted scalars and literal (|) block
// scalars; the node's start for other styles or when the source cannot be
// followed.
func (n Node) PosAt(off int) Pos {
	start := n.Pos()
	y := n.node()
	if y == nil || y.Kind != yaml.ScalarNode || off <= 0 || off > len(y.Value) || n.y != y {
		return start
	}
	if y.Style&yaml.LiteralStyle != 0 {
		return n.literalPos(off)
	}
	if y.Style&yaml.FoldedStyle != 0 {
		return start
	}
	if p, ok := n.flowPos(off); ok {
		return p
	}
	return start
}

// literalPos maps an offset in a literal block scalar: each value line is a
// source line below the indicator, shifted by the block's indentation.
func (n Node) literalPos(off int) Pos {
	start := n.Pos()
	f := n.f
	indent := -1
	for l := start.Line; l < len(f.lines); l++ { // f.lines[l] is line l+1
		s := strings.TrimRight(f.lines[l], "\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		indent = len(s) - len(strings.TrimLeft(s, " "))
		break
	}
	if indent < 0 {
		return start
	}
	val := n.y.Value[:off]
	k := strings.Count(val, "\n")
	last := val[strings.LastIndexByte(val, '\n')+1:]
	line := start.Line + 1 + k
	if line > len(f.lines) {
		return start
	}
	return f.clamp(line, indent+1+utf8.RuneCountInString(last))
}

// flowPos follows plain and quoted scalars in the source, one character
// at a time, undoing escapes and line folding.
func (n Node) flowPos(off int) (Pos, bool) {
	start := n.Pos()
	y, f := n.y, n.f
	double := y.Style&yaml.DoubleQuotedStyle != 0
	single := y.Style&yaml.SingleQuotedStyle != 0
	line := start.Line
	if line < 1 || line > len(f.lines) {
		return start, false
	}
	src := []rune(strings.TrimRight(f.lines[line-1], "\r"))
	i := start.Col - 1
	if double || single {
		i++
	}
	val := []rune(y.Value[:off])
	for j := 0; j < len(val); {
		r := val[j]
		if i >= len(src) || (isBlank(src[i:]) && r != src[i]) {
			// Line folding: a line break (and the indentation after it)
			// became a space or newline in the value.
			if r != ' ' && r != '\n' {
				return start, false
			}
			line++
			if line > len(f.lines) {
				return start, false
			}
			src = []rune(strings.TrimRight(f.lines[line-1], "\r"))
			i = 0
			for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
				i++
			}
			j++
			continue
		}
		c := src[i]
		switch {
		case double && c == '\\':
			i += escapeLen(src[i:])
			j++
		case single && c == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i += 2
			j++
		case c == r:
			i++
			j++
		default:
			return start, false
		}
	}
	return f.clamp(line, i+1), true
}

func isBlank(rs []rune) bool {
	for _, r := range rs {
		if r != ' ' && r != '\t' {
			return false
		}
	}
	return true
}

// escapeLen is the source length of a double-quoted escape.
func escapeLen(rs []rune) int {
	if len(rs) < 2 {
		return 1
	}
	switch rs[1] {
	case 'x':
		return min(4, len(rs))
	case 'u':
		return min(6, len(rs))
	case 'U':
		return min(10, len(rs))
	}
	return 2
}

// At follows a JSON pointer's tokens (map keys, list indexes) from n and
// returns the deepest node found: the node the pointer names when it
// exists, else its nearest existing ancestor.
func (n Node) At(path []string) Node {
	cur := n
	for _, tok := range path {
		switch cur.Kind() {
		case Mapping:
			v, k := cur.Get(tok)
			if !k.Exists() {
				return cur
			}
			cur = v
		case Sequence:
			i, err := strconv.Atoi(tok)
			items := cur.Items()
			if err != nil || i < 0 || i >= len(items) {
				return cur
			}
			cur = items[i]
		default:
			return cur
		}
	}
	return cur
}

// KeyAt is like At, but when the pointer names a value of a mapping it
// returns that value's key (where a human looks for "this entry").
func (n Node) KeyAt(path []string) Node {
	if len(path) == 0 {
		return n
	}
	parent := n.At(path[:len(path)-1])
	if parent.Kind() == Mapping {
		if _, k := parent.Get(path[len(path)-1]); k.Exists() {
			return k
		}
	}
	return n.At(path)
}
