package flowtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/dsl"
	"github.com/memflow/memflow/internal/flowfile"
	"github.com/memflow/memflow/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// File is a parsed test file (*.test.yaml).
type File struct {
	Path  string
	Flows []string // flow files or folders, resolved against the file's folder
	Cases []*Case
	src   *dsl.File
}

// Case is one case of a test file.
type Case struct {
	Name     string
	Pos      dsl.Pos // of the case's name
	Workflow string  // the workflow started; or
	Hook     string  // a hook started on Instance, an earlier case's instance
	Instance string
	ID       string
	Input    any
	Clock    time.Time // zero: DefaultClock
	Mocks    []Mock
	Signals  []Signal
	Expect   Expect
}

// Mock is the answers of one activity: the nth call gets the nth answer,
// later calls the last.
type Mock struct {
	Activity string
	Answers  []Answer
}

// Answer is one mocked call's outcome: Returns (a value, or a template
// over `args`) or Fail.
type Answer struct {
	Returns *compiler.Value
	Fail    *Failure
	Pos     dsl.Pos
}

// Failure is a mocked activity failure.
type Failure struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"nonRetryable"`
}

// Signal is a signal a case sends: when the instance first waits for it, or
// at a virtual time after the start.
type Signal struct {
	Name  string
	Data  any
	At    time.Duration
	HasAt bool
	Pos   dsl.Pos
}

// Expect is what a case expects; an absent key checks nothing.
type Expect struct {
	Status string
	Result any
	Entity map[string]any
	Error  map[string]any
	Calls  map[string][]any
	Steps  []string
	has    map[string]dsl.Node // key -> the value's node
}

// Has tells whether the case expects key (status, result, entity, error,
// calls, steps).
func (e *Expect) Has(key string) bool { _, ok := e.has[key]; return ok }

// node is the expectation's node at path below key (the deepest one that
// exists), for placing a failure.
func (e *Expect) node(key string, path []string) dsl.Node {
	return e.has[key].At(path)
}

// testSchema is the compiled test file schema.
var testSchema = sync.OnceValues(func() (*jsonschema.Schema, error) { return compiler.CompileSchema(schemas.Test()) })

// IsTestFile tells whether path names a flow test file.
func IsTestFile(path string) bool { return flowfile.IsTest(path) }

// FindFiles lists the test files at paths (files, or folders searched
// recursively, hidden folders skipped), sorted. A path that cannot be read
// is an error.
func FindFiles(paths []string) ([]string, error) {
	files, errs := flowfile.ListTests(paths)
	return files, errors.Join(errs...)
}

// LoadFile reads and checks a test file. Problems come back as
// diagnostics at their line, like a flow file's.
func LoadFile(path string) (*File, dsl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, dsl.Diagnostics{{Pos: dsl.Pos{File: path}, Severity: dsl.Error, Message: fmt.Sprintf("cannot read: %v", err)}}
	}
	return ParseFile(path, src)
}

// ParseFile parses test file src named path.
func ParseFile(path string, src []byte) (*File, dsl.Diagnostics) {
	df, ds := dsl.Parse(path, src)
	if ds.HasErrors() {
		return nil, ds
	}
	sch, err := testSchema()
	if err != nil {
		return nil, dsl.Diagnostics{{Pos: dsl.Pos{File: path}, Severity: dsl.Error, Message: fmt.Sprintf("test file schema: %v", err)}}
	}
	if sds := compiler.ValidateFile(sch, df); len(sds) > 0 {
		sds.Sort()
		return nil, sds
	}
	p := &parser{f: &File{Path: path, src: df}}
	p.file(df.Root)
	if p.diags.HasErrors() {
		p.diags.Sort()
		return nil, p.diags
	}
	return p.f, nil
}

type parser struct {
	f     *File
	diags dsl.Diagnostics
}

func (p *parser) errorf(n dsl.Node, format string, args ...any) {
	p.diags = append(p.diags, dsl.Diagnostic{Pos: n.Pos(), Severity: dsl.Error, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) value(n dsl.Node) any {
	v, err := n.Value()
	if err != nil {
		p.errorf(n, "%v", err)
	}
	return v
}

func (p *parser) file(root dsl.Node) {
	dir := filepath.Dir(p.f.Path)
	flows, _ := root.Get("flows")
	if flows.Kind() == dsl.Scalar {
		p.f.Flows = append(p.f.Flows, filepath.Join(dir, flows.Text()))
	}
	for _, it := range flows.Items() {
		p.f.Flows = append(p.f.Flows, filepath.Join(dir, it.Text()))
	}
	for _, fl := range p.f.Flows {
		if _, err := os.Stat(fl); err != nil {
			p.errorf(flows, "flows: %s does not exist", fl)
		}
	}
	cases, _ := root.Get("cases")
	names := map[string]bool{}
	ids := map[string]bool{}
	for _, cn := range cases.Items() {
		c := p.testCase(cn)
		if names[c.Name] {
			nn, _ := cn.Get("name")
			p.errorf(nn, "two cases are named %q", c.Name)
		}
		names[c.Name] = true
		if c.Hook != "" && !ids[c.Instance] {
			in, _ := cn.Get("instance")
			p.errorf(in, "instance %q is not the id of an earlier case (give that case `id: %s`)", c.Instance, c.Instance)
		}
		if c.ID != "" {
			if ids[c.ID] {
				in, _ := cn.Get("id")
				p.errorf(in, "two cases start instance %q", c.ID)
			}
			ids[c.ID] = true
		}
		p.f.Cases = append(p.f.Cases, c)
	}
}

func (p *parser) testCase(n dsl.Node) *Case {
	c := &Case{Expect: Expect{has: map[string]dsl.Node{}}}
	name, _ := n.Get("name")
	c.Name, c.Pos = name.Text(), name.Pos()
	str := func(key string) string {
		v, _ := n.Get(key)
		return v.Text()
	}
	c.Workflow, c.Hook, c.Instance, c.ID = str("workflow"), str("hook"), str("instance"), str("id")
	switch {
	case c.Workflow == "" && c.Hook == "":
		p.errorf(name, "case %q names neither a workflow nor a hook to start", c.Name)
	case c.Workflow != "" && c.Hook != "":
		p.errorf(name, "case %q names both a workflow and a hook: a case starts one of them", c.Name)
	case c.Hook != "" && c.Instance == "":
		p.errorf(name, "case %q starts hook %s: say on which instance with `instance: <id of an earlier case>`", c.Name, c.Hook)
	case c.Hook != "" && c.ID != "":
		k, _ := n.Get("id")
		p.errorf(k, "a hook case runs on an existing instance: use instance, not id")
	}
	if in, _ := n.Get("input"); in.Exists() {
		c.Input = p.value(in)
	}
	if cl, _ := n.Get("clock"); cl.Exists() {
		t, err := time.Parse(time.RFC3339, cl.Text())
		if err != nil {
			p.errorf(cl, "clock %q is not an RFC 3339 time such as 2030-01-01T00:00:00Z", cl.Text())
		}
		c.Clock = t.UTC()
	}
	acts, _ := n.Get("activities")
	for _, pr := range acts.Pairs() {
		m := Mock{Activity: pr.Key.Text()}
		if pr.Value.Kind() == dsl.Sequence {
			for _, it := range pr.Value.Items() {
				m.Answers = append(m.Answers, p.answer(it))
			}
		} else {
			m.Answers = append(m.Answers, p.answer(pr.Value))
		}
		c.Mocks = append(c.Mocks, m)
	}
	sigs, _ := n.Get("signals")
	for _, it := range sigs.Items() {
		nm, _ := it.Get("name")
		s := Signal{Name: nm.Text(), Pos: nm.Pos()}
		if d, _ := it.Get("data"); d.Exists() {
			s.Data = p.value(d)
		}
		if at, _ := it.Get("at"); at.Exists() {
			d, err := parseDuration(at.Text())
			if err != nil {
				p.errorf(at, "at: %v", err)
			}
			s.At, s.HasAt = d, true
		}
		c.Signals = append(c.Signals, s)
	}
	ex, _ := n.Get("expect")
	for _, pr := range ex.Pairs() {
		key := pr.Key.Text()
		c.Expect.has[key] = pr.Value
		v := p.value(pr.Value)
		switch key {
		case "status":
			c.Expect.Status, _ = v.(string)
		case "result":
			c.Expect.Result = v
		case "entity":
			c.Expect.Entity, _ = v.(map[string]any)
		case "error":
			c.Expect.Error, _ = v.(map[string]any)
		case "calls":
			c.Expect.Calls = map[string][]any{}
			if m, ok := v.(map[string]any); ok {
				for k, l := range m {
					c.Expect.Calls[k], _ = l.([]any)
				}
			}
		case "steps":
			for _, s := range pr.Value.Items() {
				c.Expect.Steps = append(c.Expect.Steps, s.Text())
			}
		}
	}
	return c
}

func (p *parser) answer(n dsl.Node) Answer {
	a := Answer{Pos: n.Pos()}
	if r, _ := n.Get("returns"); r.Exists() {
		v, err := compiler.NewValue(p.value(r), compiler.Pos{File: r.Pos().File, Line: r.Pos().Line, Col: r.Pos().Col}, []string{"args"})
		if err != nil {
			p.errorf(r, "returns: %v", err)
		}
		a.Returns = v
	}
	if f, _ := n.Get("fail"); f.Exists() {
		a.Fail = &Failure{}
		if t, _ := f.Get("type"); t.Exists() {
			a.Fail.Type = t.Text()
		}
		if m, _ := f.Get("message"); m.Exists() {
			a.Fail.Message = m.Text()
		}
		if nr, _ := f.Get("nonRetryable"); nr.Exists() {
			a.Fail.NonRetryable = nr.Text() == "true"
		}
		if a.Fail.Message == "" {
			a.Fail.Message = "mocked failure"
		}
	}
	return a
}

// parseDuration reads a Go duration (90m, 2h30m) or whole days (7d).
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q: use Go syntax such as 90m or 2h30m, or days such as 7d", s)
	}
	return d, nil
}
