package compiler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/memflow/memflow/dsl"
	"github.com/memflow/memflow/internal/flowfile"
)

// ActivitySet is the set of registered activities the compiler checks
// `activity:` names against.
type ActivitySet interface {
	Has(name string) bool
	Names() []string
}

// Options configure a load.
type Options struct {
	// Activities are the registered activities; nil: every activity name is
	// accepted with a warning.
	Activities ActivitySet
	// LaxActivities reports activities missing from Activities as warnings
	// instead of errors (for validating flows outside the binary that runs
	// them).
	LaxActivities bool
	// App is the default app of files that do not name one.
	App string
}

// MaxErrorsPerFile caps the errors reported for one file.
const MaxErrorsPerFile = 50

// Load reads files and folders as one catalogue: a file is read as given, a
// folder recursively for its flow files (*.yaml and *.yml; hidden files and
// folders and editor lock, backup and temporary files are skipped, with the
// rule hot reload uses: internal/flowfile). The catalogue is nil when there
// is any error.
func Load(paths []string, opts Options) (*Catalogue, dsl.Diagnostics) {
	files := map[string][]byte{}
	var ds dsl.Diagnostics
	cannotRead := func(path string, err error) {
		ds = append(ds, dsl.Diagnostic{Pos: dsl.Pos{File: path}, Severity: dsl.Error, Message: fmt.Sprintf("cannot read: %v", err)})
	}
	for _, p := range paths {
		names, errs := flowfile.List([]string{p})
		for _, err := range errs {
			var re *flowfile.ReadError
			if errors.As(err, &re) {
				cannotRead(re.Path, re.Err)
			} else {
				cannotRead(p, err)
			}
		}
		if len(names) == 0 && len(errs) == 0 {
			ds = append(ds, dsl.Diagnostic{Pos: dsl.Pos{File: p}, Severity: dsl.Warning, Message: "no flow files (*.yaml, *.yml) in this folder"})
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				cannotRead(name, err)
				continue
			}
			files[name] = b
		}
	}
	cat, more := LoadFiles(files, opts)
	ds = append(ds, more...)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return cat, ds
}

// LoadFiles compiles in-memory sources (name -> content) as one catalogue.
// The catalogue is nil when there is any error.
func LoadFiles(files map[string][]byte, opts Options) (*Catalogue, dsl.Diagnostics) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	c := &loader{opts: opts}
	fs := flowSchema()
	var parsed []*dsl.File
	var fromSchema dsl.Diagnostics
	for _, n := range names {
		f, ds := dsl.Parse(n, files[n])
		c.diags = append(c.diags, ds...)
		if f != nil {
			parsed = append(parsed, f)
			fromSchema = append(fromSchema, fs.validate(f)...)
		}
	}
	cat := c.load(parsed)
	ds := capErrors(mergeSchemaDiags(c.diags, fromSchema))
	if ds.HasErrors() {
		return nil, ds
	}
	cat.Files = names
	return cat, ds
}

// capErrors sorts the diagnostics and keeps at most MaxErrorsPerFile errors
// per file.
func capErrors(ds dsl.Diagnostics) dsl.Diagnostics {
	ds.Sort()
	count := map[string]int{}
	out := ds[:0:0]
	dropped := map[string]int{}
	var last = map[string]dsl.Pos{}
	for _, d := range ds {
		if d.Severity == dsl.Error {
			count[d.Pos.File]++
			if count[d.Pos.File] > MaxErrorsPerFile {
				dropped[d.Pos.File]++
				last[d.Pos.File] = d.Pos
				continue
			}
		}
		out = append(out, d)
	}
	for f, n := range dropped {
		out = append(out, dsl.Diagnostic{Pos: last[f], Severity: dsl.Error,
			Message: fmt.Sprintf("too many errors: %d more in this file not shown", n)})
	}
	out.Sort()
	return out
}

// DecodeProgram reads a Program from its stored JSON. Expressions compile
// lazily on first evaluation. Whole JSON numbers inside templates decode as
// int, as they do when the flow is compiled from YAML.
func DecodeProgram(data []byte) (*Program, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p Program
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode program: %w", err)
	}
	if p.Workflow == nil {
		return nil, fmt.Errorf("decode program %q: no workflow graph", p.Name)
	}
	for _, g := range p.graphs() {
		if err := g.check(); err != nil {
			return nil, fmt.Errorf("decode program %q: %w", p.Name, err)
		}
		for _, v := range g.values() {
			v.Raw = normNumbers(v.Raw)
		}
	}
	return &p, nil
}

func (p *Program) graphs() []*Graph {
	gs := []*Graph{p.Workflow}
	names := make([]string, 0, len(p.Hooks))
	for n := range p.Hooks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p.Hooks[n] != nil {
			gs = append(gs, p.Hooks[n])
		}
	}
	return gs
}

// check verifies that every state link of a decoded graph is in range.
func (g *Graph) check() error {
	n := len(g.States)
	ok := func(i int) bool { return i == End || (i >= 0 && i < n) }
	if !ok(g.Entry) {
		return fmt.Errorf("graph %q: entry %d out of range", g.Name, g.Entry)
	}
	for i, s := range g.States {
		if s == nil {
			return fmt.Errorf("graph %q: state %d missing", g.Name, i)
		}
		links := []int{s.Next, s.Catch, s.Body, s.Then, s.Else, s.Default, s.CatchEntry}
		links = append(links, s.Branches...)
		for _, c := range s.Cases {
			links = append(links, c.Entry)
		}
		for _, l := range links {
			if !ok(l) {
				return fmt.Errorf("graph %q: state %d links to %d, out of range", g.Name, i, l)
			}
		}
	}
	return nil
}

// values lists every template of the graph.
func (g *Graph) values() []*Value {
	var out []*Value
	add := func(vs ...*Value) {
		for _, v := range vs {
			if v != nil {
				out = append(out, v)
			}
		}
	}
	add(g.Result)
	for _, s := range g.States {
		add(s.Args, s.Timeout, s.Signal, s.To, s.Data, s.Duration, s.Until, s.WorkflowID, s.Value)
		for _, c := range s.Commands {
			add(c.Path, c.Value)
		}
	}
	return out
}

func normNumbers(x any) any {
	switch t := x.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i)
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i := range t {
			t[i] = normNumbers(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = normNumbers(t[k])
		}
	}
	return x
}
