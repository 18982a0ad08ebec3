package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/graph"
	"github.com/memflow/memflow/internal/store"
)

func (s *Server) routes() {
	s.handle("GET /healthz", open, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", open, s.ready)
	s.handle("GET /metrics", read, s.metrics)

	const v1 = "/api/v1"
	s.handle("GET "+v1+"/openapi.json", open, s.openAPI)
	s.handle("POST "+v1+"/workflows/{name}/start", write, s.start)
	s.handle("GET "+v1+"/instances", read, s.list)
	s.handle("GET "+v1+"/counts", read, s.counts)
	s.handle("GET "+v1+"/instances/{id}", read, s.get)
	s.handle("GET "+v1+"/instances/{id}/entity", read, s.entity)
	s.handle("GET "+v1+"/instances/{id}/history", read, s.history)
	s.handle("GET "+v1+"/instances/{id}/status", read, s.status)
	s.handle("GET "+v1+"/instances/{id}/result", read, s.result)
	s.handle("GET "+v1+"/instances/{id}/events", read, s.events)
	s.handle("POST "+v1+"/instances/{id}/signals/{name}", write, s.signal)
	s.handle("POST "+v1+"/instances/{id}/hooks/{hook}", write, s.hook)
	s.handle("POST "+v1+"/instances/{id}/cancel", write, s.cancel)
	s.handle("GET "+v1+"/entities/{type}", read, s.find)
	s.handle("GET "+v1+"/flows", read, s.flows)
	s.handle("GET "+v1+"/flows/{name}", read, s.flow)
	s.handle("POST "+v1+"/validate", read, s.validate)
	s.handle("GET "+v1+"/sources", read, s.sources)
	s.handle("GET "+v1+"/sources/{path...}", read, s.source)
	s.handle("PUT "+v1+"/sources/{path...}", write, s.save)
	s.handle(v1+"/", open, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no API endpoint "+r.Method+" "+r.URL.Path+" (GET /api/v1/openapi.json lists them)")
	})
	s.console()
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.eng.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the database does not answer: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		writeError(w, http.StatusNotFound, "not_found", "metrics are not collected by this server")
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}

// readBody reads a JSON request body; an empty body is JSON null.
func readBody(r *http.Request) (json.RawMessage, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(b) {
		var v any
		return nil, badInput("the body is not JSON: %v", json.Unmarshal(b, &v))
	}
	return b, nil
}

type startRequest struct {
	ID     string          `json:"id,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	Queue  string          `json:"taskQueue,omitempty"`
	Entity json.RawMessage `json:"entity,omitempty"`
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req startRequest
	if string(body) != "null" {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil {
			s.fail(w, r, badInput(`the body must be {"id"?: "...", "args"?: {...}, "taskQueue"?: "...", "entity"?: {...}}: %v`, err))
			return
		}
	}
	var opts []memflow.StartOption
	if req.ID != "" {
		opts = append(opts, memflow.WithID(req.ID))
	}
	if req.Queue != "" {
		opts = append(opts, memflow.WithTaskQueue(req.Queue))
	}
	if len(req.Entity) > 0 && string(req.Entity) != "null" {
		opts = append(opts, memflow.WithEntity(req.Entity))
	}
	var args any
	if len(req.Args) > 0 {
		args = req.Args
	}
	id, err := s.eng.Start(r.Context(), r.PathValue("name"), args, opts...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/instances/"+url.PathEscape(id))
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// pageSize reads ?limit: default defaultPage, capped at maxPage.
func pageSize(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badInput("limit %q: want a whole number of 1 or more", v)
	}
	return min(n, maxPage), nil
}

type listResponse struct {
	Instances []*memflow.Instance `json:"instances"`
	Next      *string             `json:"next"`
}

func nextCursor(c string) *string {
	if c == "" {
		return nil
	}
	return &c
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageSize(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := q.Get("status")
	switch st {
	case "", memflow.StatusRunning, memflow.StatusCompleted, memflow.StatusFailed, memflow.StatusCancelled:
	default:
		s.fail(w, r, badInput("status %q: want running, completed, failed or cancelled", st))
		return
	}
	opts := memflow.ListOptions{Workflow: q.Get("workflow"), Status: st, EntityType: q.Get("entity"),
		IDPrefix: q.Get("id"), Limit: limit, After: q.Get("cursor")}
	if opts.After != "" {
		if _, err := store.ParseCursor(opts.After); err != nil {
			s.fail(w, r, badInput("%v", err))
			return
		}
	}
	ins, next, err := s.eng.List(r.Context(), opts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Instances: ins, Next: nextCursor(next)})
}

func (s *Server) counts(w http.ResponseWriter, r *http.Request) {
	c, err := s.eng.Counts(r.Context(), r.URL.Query().Get("workflow"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]int{memflow.StatusRunning: 0, memflow.StatusCompleted: 0, memflow.StatusFailed: 0, memflow.StatusCancelled: 0}
	for k, v := range c {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	in, err := s.eng.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) entity(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	var doc json.RawMessage
	if at := q.Get("at"); at != "" {
		seq, err := strconv.ParseInt(at, 10, 64)
		if err != nil || seq < 0 {
			s.fail(w, r, badInput("at %q: want the seq of a history row (a whole number)", at))
			return
		}
		doc, err = s.eng.EntityAt(r.Context(), id, seq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		in, err := s.eng.Get(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		doc = in.Entity
	}
	path := q.Get("path")
	if path == "" {
		writeJSON(w, http.StatusOK, doc)
		return
	}
	v, err := store.DecodeJSON(doc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	val, ok, err := store.Get(v, path)
	if err != nil {
		s.fail(w, r, badInput("path %q: %v", path, err))
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "instance "+strconv.Quote(id)+" has no value at "+strconv.Quote(path))
		return
	}
	writeJSON(w, http.StatusOK, val)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, badInput("after %q: want the seq of a history row", a))
			return
		}
		after = n
	}
	evs, err := s.eng.HistoryAfter(r.Context(), id, after)
	if err == nil && len(evs) == 0 {
		_, err = s.eng.Get(r.Context(), id) // an unknown id is a 404, not an empty history
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if evs == nil {
		evs = []memflow.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"history": evs})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.eng.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// maxWait bounds ?wait of /result, under the server's write timeout.
const maxWait = 60 * time.Second

type resultResponse struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.fail(w, r, badInput("wait %q: want a duration such as 30s", v))
			return
		}
		wait = min(d, maxWait)
	}
	in, err := s.eng.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Status == memflow.StatusRunning && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		_, werr := s.eng.Result(ctx, id)
		cancel()
		if werr == nil || errors.As(werr, new(*memflow.WorkflowError)) {
			if in, err = s.eng.Get(r.Context(), id); err != nil {
				s.fail(w, r, err)
				return
			}
		} else if r.Context().Err() != nil {
			return // the caller left
		}
	}
	res := resultResponse{ID: id, Status: in.Status, Result: in.Result, Error: in.Error}
	if in.Status == memflow.StatusRunning {
		writeJSON(w, http.StatusAccepted, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) signal(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, name := r.PathValue("id"), r.PathValue("name")
	if err := s.eng.Signal(r.Context(), id, name, data); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "signal": name})
}

func (s *Server) hook(w http.ResponseWriter, r *http.Request) {
	args, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, hook := r.PathValue("id"), r.PathValue("hook")
	if err := s.eng.Hook(r.Context(), id, hook, args); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "hook": hook})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.eng.Cancel(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": memflow.StatusCancelled})
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageSize(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var conds []memflow.Condition
	if where := q.Get("where"); where != "" {
		if conds, err = memflow.ParseWhere([]byte(where)); err != nil {
			s.fail(w, r, badInput("%v", err))
			return
		}
	}
	opts := memflow.FindOptions{Limit: limit, After: q.Get("cursor")}
	if sortBy := q.Get("sort"); sortBy != "" {
		field, dir, _ := strings.Cut(sortBy, ":")
		if field == "" || (dir != "" && dir != "asc" && dir != "desc") {
			s.fail(w, r, badInput("sort %q: want FIELD or FIELD:desc", sortBy))
			return
		}
		opts.Sort, opts.Desc = field, dir == "desc"
	}
	res, err := s.eng.FindPage(r.Context(), r.PathValue("type"), conds, opts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Instances: res.Instances, Next: nextCursor(res.Next)})
}

func (s *Server) flows(w http.ResponseWriter, r *http.Request) {
	st, err := s.eng.Flows(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if st.Flows == nil {
		st.Flows = []memflow.ServingFlow{}
	}
	writeJSON(w, http.StatusOK, st)
}

type flowResponse struct {
	memflow.ServingFlow
	Hooks    []string              `json:"hooks"`
	Input    json.RawMessage       `json:"input,omitempty"`
	Versions []memflow.FlowVersion `json:"versions"`
	Graph    flowGraph             `json:"graph"`
}

type flowGraph struct {
	Mermaid string `json:"mermaid"`
	SVG     string `json:"svg"`
}

func (s *Server) flow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := s.eng.Flows(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out flowResponse
	found := false
	for _, f := range st.Flows {
		if f.Name == name {
			out.ServingFlow, found = f, true
		}
	}
	if !found {
		writeError(w, http.StatusNotFound, "not_found", "no workflow "+strconv.Quote(name)+" in the catalogue")
		return
	}
	version := r.URL.Query().Get("version")
	if version == "" {
		version = out.Version // the serving version, just read: no second catalogue read
	}
	prog, err := s.eng.Program(r.Context(), name, version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vs, err := s.eng.FlowVersions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out.Versions = []memflow.FlowVersion{}
	for _, v := range vs {
		if v.Name == name {
			out.Versions = append(out.Versions, v)
		}
	}
	out.Hooks = graph.HookNames(prog)
	out.Input = prog.Workflow.Input
	pic := graph.New()
	pic.Add(prog.Workflow)
	for _, h := range usedHooks(prog) {
		pic.Add(prog.Hooks[h])
	}
	var m, svg strings.Builder
	pic.Mermaid(&m)
	if err := pic.SVG(&svg); err != nil {
		s.fail(w, r, err)
		return
	}
	out.Graph = flowGraph{Mermaid: m.String(), SVG: svg.String()}
	writeJSON(w, http.StatusOK, out)
}

// usedHooks lists the hooks a workflow's steps start, and the hooks those
// start, sorted: the picture of a flow. (Every hook of the app can be
// started on an instance from outside; Flow.Hooks lists them all.)
func usedHooks(p *compiler.Program) []string {
	seen := map[string]bool{}
	var walk func(g *compiler.Graph)
	walk = func(g *compiler.Graph) {
		if g == nil {
			return
		}
		for _, s := range g.States {
			if s.Hook != "" && !seen[s.Hook] {
				seen[s.Hook] = true
				walk(p.Hooks[s.Hook])
			}
		}
	}
	walk(p.Workflow)
	out := make([]string, 0, len(seen))
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
