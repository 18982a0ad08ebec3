package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/pgtest"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const orderFlow = `memflow: v1
workflows:
  order:
    entity: order
    input:
      type: object
      required: [item]
      properties:
        item: { type: string }
        qty: { type: integer }
    steps:
      - set: { item: "${ input.item }", qty: "${ input.qty ?? 1 }", status: waiting, notes: [] }
      - id: approval
        wait: approve
      - merge: { status: approved, by: "${ steps.approval.by }" }
  other:
    entity: order
    steps:
      - set: { status: done }
hooks:
  note:
    steps:
      - append: { notes: "${ input.text }" }
`

// eachStore runs fn on a fresh SQLite file and a fresh Postgres app.
func eachStore(t *testing.T, fn func(t *testing.T, url, app string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		fn(t, url, pgtest.App(t, url))
	})
}

// fixture is a server over an engine with the order flow loaded and a
// worker running; every answer it gets is checked against the OpenAPI
// document.
type fixture struct {
	t    testing.TB
	eng  *memflow.Engine
	srv  *httptest.Server
	dir  string // the flow folder
	api  validator.Validator
	auth string
}

func newFixture(t testing.TB, url, app string, opts Options) *fixture {
	t.Helper()
	return newFixtureWorker(t, url, app, opts, true)
}

// newFixtureWorker is newFixture with or without a worker in the server's
// engine.
func newFixtureWorker(t testing.TB, url, app string, opts Options, worker bool) *fixture {
	t.Helper()
	ctx := context.Background()
	eng, err := memflow.Open(ctx, url, memflow.Config{App: app})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	dir := t.TempDir()
	file := filepath.Join(dir, "order.yaml")
	if err := os.WriteFile(file, []byte(orderFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.LoadFlows(ctx, file); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if worker {
			eng.Run(wctx, memflow.WorkerConfig{Poll: 20 * time.Millisecond})
		}
	}()
	opts.FlowPaths = []string{dir}
	if opts.Poll == 0 {
		opts.Poll = 50 * time.Millisecond
	}
	h := New(eng, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close(); stop(); <-done })
	return &fixture{t: t, eng: eng, srv: srv, dir: dir, api: openAPIValidator(t)}
}

var (
	apiOnce sync.Once
	apiDoc  libopenapi.Document
	apiErr  error
)

// openAPIValidator checks answers against openapi.json, which must itself
// be a valid OpenAPI 3.1 document.
func openAPIValidator(t testing.TB) validator.Validator {
	t.Helper()
	apiOnce.Do(func() { apiDoc, apiErr = libopenapi.NewDocument(openapiJSON) })
	if apiErr != nil {
		t.Fatalf("openapi.json: %v", apiErr)
	}
	v, errs := validator.NewValidator(apiDoc)
	if len(errs) > 0 {
		t.Fatalf("openapi.json: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("openapi.json: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	return v
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %s", a.status, a.body)
	}
	return m
}

// code is an error answer's error.code.
func (a answer) code(t testing.TB) string {
	t.Helper()
	e, _ := a.json(t)["error"].(map[string]any)
	if e == nil || e["message"] == "" {
		t.Fatalf("answer %d is not an error: %s", a.status, a.body)
	}
	c, _ := e["code"].(string)
	return c
}

// do sends a request and checks the answer against the OpenAPI document
// (API paths only).
func (f *fixture) do(method, path, contentType string, body []byte) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if f.auth != "" {
		req.Header.Set("Authorization", "Bearer "+f.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		f.t.Fatal(err)
	}
	if strings.HasPrefix(path, "/api/v1/") && !strings.HasSuffix(path, "/openapi.json") && !strings.HasPrefix(path, "/api/v1/nothing") {
		vreq, _ := http.NewRequest(method, "http://localhost"+path, bytes.NewReader(body))
		if contentType != "" {
			vreq.Header.Set("Content-Type", contentType)
		}
		vresp := &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(b)), Request: vreq}
		if ok, errs := f.api.ValidateHttpResponse(vreq, vresp); !ok {
			for _, e := range errs {
				f.t.Errorf("%s %s -> %d does not match openapi.json: %s: %s (%s)", method, path, resp.StatusCode, e.Message, e.Reason, b)
			}
		}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) get(path string) answer { return f.do("GET", path, "", nil) }
func (f *fixture) post(path, body string) answer {
	return f.do("POST", path, "application/json", []byte(body))
}

// want fails unless a has status.
func want(t testing.TB, a answer, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	return a
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, dbURL, app string) {
		f := newFixture(t, dbURL, app, Options{MaxBody: 4096})

		// Start: created, idempotent by id, and refused with the reason.
		a := want(t, f.post("/api/v1/workflows/order/start", `{"id":"o1","args":{"item":"pen","qty":2}}`), 201)
		if a.json(t)["id"] != "o1" || a.header.Get("Location") != "/api/v1/instances/o1" {
			t.Errorf("start: %s, Location %q", a.body, a.header.Get("Location"))
		}
		want(t, f.post("/api/v1/workflows/order/start", `{"id":"o1","args":{"item":"pen","qty":2}}`), 201)
		for _, tc := range []struct {
			path, body string
			status     int
			code, text string
		}{
			{"/api/v1/workflows/other/start", `{"id":"o1"}`, 409, "id_taken", "o1"},
			{"/api/v1/workflows/order/start", `{"args":{"qty":2}}`, 400, "bad_request", "item"},
			{"/api/v1/workflows/nope/start", `{}`, 404, "not_found", "nope"},
			{"/api/v1/workflows/order/start", `{"args":`, 400, "bad_request", "not JSON"},
			{"/api/v1/workflows/order/start", `{"arg":{}}`, 400, "bad_request", `unknown field`},
			{"/api/v1/workflows/order/start", `{"args":{"item":"` + strings.Repeat("x", 5000) + `"}}`, 413, "too_large", "4096"},
		} {
			a := f.post(tc.path, tc.body)
			if a.status != tc.status || a.code(t) != tc.code || !strings.Contains(string(a.body), tc.text) {
				t.Errorf("POST %s %.40s: %d %s, want %d %s naming %q", tc.path, tc.body, a.status, a.body, tc.status, tc.code, tc.text)
			}
		}
		for _, id := range []string{"o2", "o3", "o4"} {
			want(t, f.post("/api/v1/workflows/order/start", `{"id":"`+id+`","args":{"item":"cup"}}`), 201)
		}

		// The list: newest first, keyset pages that skip and repeat nothing.
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			a := want(t, f.get("/api/v1/instances?workflow=order&limit=3&cursor="+cursor), 200)
			var page struct {
				Instances []memflow.Instance
				Next      *string
			}
			json.Unmarshal(a.body, &page)
			for _, in := range page.Instances {
				seen = append(seen, in.ID)
			}
			if page.Next == nil {
				break
			}
			cursor = *page.Next
		}
		if strings.Join(seen, ",") != "o4,o3,o2,o1" {
			t.Errorf("pages listed %v, want o4,o3,o2,o1", seen)
		}
		a = want(t, f.get("/api/v1/instances?id=o1&entity=order"), 200)
		if n := len(a.json(t)["instances"].([]any)); n != 1 {
			t.Errorf("id prefix o1: %d instances: %s", n, a.body)
		}
		if c := want(t, f.get("/api/v1/instances?status=sleeping"), 400).code(t); c != "bad_request" {
			t.Errorf("bad status: %s", c)
		}
		want(t, f.get("/api/v1/instances?cursor=nonsense"), 400)
		want(t, f.get("/api/v1/instances?limit=0"), 400)

		// The instance, waiting for its signal.
		eventually(t, "o1 waits for approve", func() bool {
			a := f.get("/api/v1/instances/o1/status")
			return a.status == 200 && strings.Contains(string(a.body), `"doing":"signal"`)
		})
		in := want(t, f.get("/api/v1/instances/o1"), 200).json(t)
		if in["status"] != "running" || in["workflow"] != "order" || in["entityType"] != "order" {
			t.Errorf("instance: %v", in)
		}
		if c := want(t, f.get("/api/v1/counts?workflow=order"), 200).json(t); c["running"] != 4.0 || c["completed"] != 0.0 {
			t.Errorf("counts: %v", c)
		}
		want(t, f.get("/api/v1/instances/nope"), 404)
		want(t, f.get("/api/v1/instances/nope/history"), 404)

		// A hook changes the entity; paths read into it.
		want(t, f.post("/api/v1/instances/o1/hooks/note", `{"text":"gift wrap"}`), 202)
		eventually(t, "the note is in the entity", func() bool {
			return string(f.get("/api/v1/instances/o1/entity?path=notes").body) == "[\"gift wrap\"]\n"
		})
		if a := want(t, f.get("/api/v1/instances/o1/entity?path=qty"), 200); string(a.body) != "2\n" {
			t.Errorf("qty: %s", a.body)
		}
		want(t, f.get("/api/v1/instances/o1/entity?path=missing"), 404)
		want(t, f.get("/api/v1/instances/o1/entity?path=a..b"), 400)
		if a := f.post("/api/v1/instances/o1/hooks/nope", `{}`); a.status != 404 || a.code(t) != "not_found" {
			t.Errorf("unknown hook: %d %s", a.status, a.body)
		}

		// The event stream: every row, then the end once the signal lands.
		stream := f.events("o1", "")
		want(t, f.post("/api/v1/instances/o1/signals/approve", `{"by":"ana"}`), 202)
		rows, end := stream.all(t)
		if end != "completed" {
			t.Errorf("stream ended with %q, want completed", end)
		}
		hist := want(t, f.get("/api/v1/instances/o1/history"), 200)
		var h struct{ History []memflow.Event }
		json.Unmarshal(hist.body, &h)
		if len(rows) != len(h.History) || len(rows) < 4 {
			t.Fatalf("stream sent %d rows, history has %d", len(rows), len(h.History))
		}
		for i, r := range rows {
			if r.Seq != h.History[i].Seq || r.Kind != h.History[i].Kind {
				t.Errorf("stream row %d = %d %s, history %d %s", i, r.Seq, r.Kind, h.History[i].Seq, h.History[i].Kind)
			}
		}
		if rows[len(rows)-1].Status != "completed" {
			t.Errorf("last row's status %q", rows[len(rows)-1].Status)
		}
		// Reconnecting with Last-Event-ID misses nothing and repeats nothing.
		mid := rows[len(rows)/2].Seq
		again, _ := f.events("o1", jsonNumber(mid)).all(t)
		if len(again) != len(rows)-len(rows)/2-1 || again[0].Seq != rows[len(rows)/2+1].Seq {
			t.Errorf("after %d: %d rows from %d, want %d rows", mid, len(again), again[0].Seq, len(rows)-len(rows)/2-1)
		}
		if none, end := f.events("o1", jsonNumber(rows[len(rows)-1].Seq)).all(t); len(none) != 0 || end != "completed" {
			t.Errorf("resumed after the last row: %d rows, end %q", len(none), end)
		}
		if rows[0].Status != "running" {
			t.Errorf("the first row's status %q: want the status after it, running", rows[0].Status)
		}
		a = want(t, f.get("/api/v1/instances/o1/history?after="+jsonNumber(mid)), 200)
		json.Unmarshal(a.body, &h)
		if len(h.History) != len(again) {
			t.Errorf("history after %d: %d rows, stream %d", mid, len(h.History), len(again))
		}

		// Time travel: the entity after the first row, after the hook's step.
		if a := want(t, f.get("/api/v1/instances/o1/entity?at=1"), 200); string(a.body) != "{}\n" {
			t.Errorf("entity at 1: %s", a.body)
		}
		for _, r := range h.History {
			if r.Thread != "" && r.Kind == "step" { // the hook's append
				a := want(t, f.get("/api/v1/instances/o1/entity?path=notes&at="+jsonNumber(r.Seq)), 200)
				if string(a.body) != "[\"gift wrap\"]\n" {
					t.Errorf("notes at %d: %s", r.Seq, a.body)
				}
				a = want(t, f.get("/api/v1/instances/o1/entity?path=status&at="+jsonNumber(r.Seq)), 200)
				if string(a.body) != "\"waiting\"\n" {
					t.Errorf("status at %d: %s", r.Seq, a.body)
				}
			}
		}
		want(t, f.get("/api/v1/instances/o1/entity?at=9999"), 404)
		want(t, f.get("/api/v1/instances/o1/entity?at=x"), 400)

		// The result, and what cannot change any more.
		r := want(t, f.get("/api/v1/instances/o1/result?wait=5s"), 200).json(t)
		if r["status"] != "completed" || r["result"].(map[string]any)["by"] != "ana" {
			t.Errorf("result: %v", r)
		}
		if r := want(t, f.get("/api/v1/instances/o2/result"), 202).json(t); r["status"] != "running" {
			t.Errorf("running result: %v", r)
		}
		if a := f.post("/api/v1/instances/o1/cancel", ""); a.status != 409 || a.code(t) != "conflict" {
			t.Errorf("cancel completed: %d %s", a.status, a.body)
		}
		if a := f.post("/api/v1/instances/o1/hooks/note", `{"text":"late"}`); a.status != 409 {
			t.Errorf("hook on completed: %d %s", a.status, a.body)
		}
		if a := f.post("/api/v1/instances/o1/signals/approve", `{"by":"late"}`); a.status != 409 || a.code(t) != "conflict" {
			t.Errorf("signal to completed: %d %s", a.status, a.body)
		}
		want(t, f.post("/api/v1/instances/o2/cancel", ""), 200)
		if r := want(t, f.get("/api/v1/instances/o2/result?wait=5s"), 200).json(t); r["status"] != "cancelled" {
			t.Errorf("cancelled result: %v", r)
		}
		want(t, f.post("/api/v1/instances/nope/cancel", ""), 404)
		want(t, f.post("/api/v1/instances/o3/signals/approve", `{"by":`), 400)

		// Entities, as memflow find.
		a = want(t, f.get(`/api/v1/entities/order?where=`+url.QueryEscape(`{"by":"ana"}`)), 200)
		if list := a.json(t)["instances"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != "o1" {
			t.Errorf("find by=ana: %s", a.body)
		}
		a = want(t, f.get(`/api/v1/entities/order?sort=item:desc&limit=2`), 200)
		if list := a.json(t)["instances"].([]any); len(list) != 2 || a.json(t)["next"] == nil {
			t.Errorf("find page: %s", a.body)
		}
		want(t, f.get(`/api/v1/entities/order?where=`+url.QueryEscape(`[{"path":"qty","op":"~","value":1}]`)), 400)

		// The catalogue and one flow with its picture.
		fl := want(t, f.get("/api/v1/flows"), 200).json(t)
		if len(fl["flows"].([]any)) != 2 {
			t.Errorf("flows: %v", fl)
		}
		one := want(t, f.get("/api/v1/flows/order"), 200).json(t)
		g := one["graph"].(map[string]any)
		if !strings.Contains(g["svg"].(string), `data-step="approval"`) || !strings.HasPrefix(g["mermaid"].(string), "flowchart") {
			t.Errorf("graph: %v", g)
		}
		if len(one["versions"].([]any)) != 1 || one["hooks"].([]any)[0] != "note" || one["input"] == nil {
			t.Errorf("flow: %v", one)
		}
		want(t, f.get("/api/v1/flows/nope"), 404)
		want(t, f.get("/api/v1/flows/order?version=nope"), 404)

		// Health, readiness, the document itself, unknown paths.
		want(t, f.get("/healthz"), 200)
		want(t, f.get("/readyz"), 200)
		want(t, f.get("/metrics"), 404)
		if a := want(t, f.get("/api/v1/openapi.json"), 200); !bytes.Equal(a.body, openapiJSON) {
			t.Error("openapi.json differs")
		}
		if a := f.get("/api/v1/nothing"); a.status != 404 || a.code(t) != "not_found" {
			t.Errorf("unknown endpoint: %d %s", a.status, a.body)
		}
	})
}

func jsonNumber(n int64) string { return strconv.FormatInt(n, 10) }

// eventStream reads one Server-Sent Events stream.
type eventStream struct {
	rows chan streamEvent
	end  chan string
}

func (f *fixture) events(id, lastID string) *eventStream {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/instances/"+id+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &eventStream{rows: make(chan streamEvent, 1000), end: make(chan string, 1)}
	go func() {
		defer resp.Body.Close()
		defer close(s.rows)
		sc := bufio.NewScanner(resp.Body)
		var event, data, id string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case line == "":
				switch event {
				case "history":
					var ev streamEvent
					json.Unmarshal([]byte(data), &ev)
					if jsonNumber(ev.Seq) != id {
						ev.Kind = "id " + id + " does not match seq"
					}
					s.rows <- ev
				case "end":
					var e struct{ Status string }
					json.Unmarshal([]byte(data), &e)
					s.end <- e.Status
					return
				}
				event, data, id = "", "", ""
			}
		}
	}()
	return s
}

// all reads rows until the end event (10 s at most).
func (s *eventStream) all(t testing.TB) ([]streamEvent, string) {
	t.Helper()
	var rows []streamEvent
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, ok := <-s.rows:
			if !ok {
				select {
				case e := <-s.end:
					return rows, e
				default:
					t.Fatalf("stream closed without an end after %d rows", len(rows))
				}
			}
			rows = append(rows, r)
		case <-timeout:
			t.Fatalf("no end event after %d rows", len(rows))
		}
	}
}

// With tokens, every API call needs one; the read token reads and
// validates but changes nothing; health and the console need none.
func TestTokens(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow",
		Options{Token: "write-secret", ReadToken: "read-secret"})
	for _, tc := range []struct {
		auth, method, path string
		status             int
		code               string
	}{
		{"", "GET", "/api/v1/instances", 401, "unauthorized"},
		{"wrong", "GET", "/api/v1/instances", 401, "unauthorized"},
		{"", "GET", "/metrics", 401, "unauthorized"},
		{"read-secret", "GET", "/api/v1/instances", 200, ""},
		{"read-secret", "POST", "/api/v1/validate", 200, ""},
		{"read-secret", "POST", "/api/v1/workflows/order/start", 403, "forbidden"},
		{"read-secret", "POST", "/api/v1/instances/x/cancel", 403, "forbidden"},
		{"read-secret", "PUT", "/api/v1/sources/x.yaml", 403, "forbidden"},
		{"write-secret", "POST", "/api/v1/workflows/order/start", 201, ""},
		{"write-secret", "GET", "/api/v1/instances", 200, ""},
		{"", "GET", "/healthz", 200, ""},
		{"", "GET", "/", 200, ""},
		{"", "GET", "/api/v1/openapi.json", 200, ""},
	} {
		f.auth = tc.auth
		body := ""
		if strings.HasSuffix(tc.path, "/start") {
			body = `{"args":{"item":"pen"}}`
		}
		a := f.do(tc.method, tc.path, "application/json", []byte(body))
		if a.status != tc.status || (tc.code != "" && a.code(t) != tc.code) {
			t.Errorf("%q %s %s: %d %s, want %d %s", tc.auth, tc.method, tc.path, a.status, a.body, tc.status, tc.code)
		}
		if bytes.Contains(a.body, []byte("secret")) {
			t.Errorf("%s %s: the answer names a token: %s", tc.method, tc.path, a.body)
		}
	}
}

// The editor's files: only the served flow files open; a save that does
// not load is refused with its diagnostics and leaves the file as it was;
// a good one replaces it.
func TestSources(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{AllowEdit: true})
	file := filepath.Join(f.dir, "order.yaml")
	enc := strings.ReplaceAll(file, "/", "%2F")
	a := want(t, f.get("/api/v1/sources"), 200).json(t)
	if fs := a["files"].([]any); len(fs) != 1 || fs[0] != file || a["editable"] != true {
		t.Errorf("sources: %v", a)
	}
	if a := want(t, f.get("/api/v1/sources/"+enc), 200); string(a.body) != orderFlow {
		t.Errorf("source: %s", a.body)
	}
	want(t, f.get("/api/v1/sources/"+strings.ReplaceAll(filepath.Join(f.dir, "..", "etc"), "/", "%2F")), 404)
	want(t, f.get("/api/v1/sources/%2Fetc%2Fpasswd"), 404)

	// Validate: a diagnostic at its line, then a clean file with its picture.
	broken := strings.Replace(orderFlow, "wait: approve", "wait: approve\n        tiemout: 1h", 1)
	v := want(t, f.do("POST", "/api/v1/validate?file="+enc, "application/yaml", []byte(broken)), 200).json(t)
	ds := v["diagnostics"].([]any)
	if v["ok"] != false || len(ds) == 0 || ds[0].(map[string]any)["line"] != 15.0 ||
		!strings.Contains(ds[0].(map[string]any)["message"].(string), "tiemout") {
		t.Errorf("validate broken: %v", v)
	}
	v = want(t, f.do("POST", "/api/v1/validate", "application/yaml", []byte(orderFlow)), 200).json(t)
	if v["ok"] != true || !strings.Contains(v["svg"].(string), "<svg") {
		t.Errorf("validate good: %v", v)
	}

	a2 := f.do("PUT", "/api/v1/sources/"+enc, "application/yaml", []byte(broken))
	if a2.status != 422 || a2.code(t) != "invalid_flow" {
		t.Errorf("save broken: %d %s", a2.status, a2.body)
	}
	if b, _ := os.ReadFile(file); string(b) != orderFlow {
		t.Error("a refused save changed the file")
	}
	changed := strings.Replace(orderFlow, "status: done", "status: finished", 1)
	want(t, f.do("PUT", "/api/v1/sources/"+enc, "application/yaml", []byte(changed)), 200)
	if b, _ := os.ReadFile(file); string(b) != changed {
		t.Errorf("saved file: %s", b)
	}

	g := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{})
	if a := g.do("PUT", "/api/v1/sources/"+strings.ReplaceAll(filepath.Join(g.dir, "order.yaml"), "/", "%2F"), "application/yaml", []byte(orderFlow)); a.status != 403 {
		t.Errorf("save without --allow-edit: %d %s", a.status, a.body)
	}
}

// A start that carries a traceparent joins the caller's trace: the
// instance's root span is a child of the caller's span.
func TestStartJoinsTheCallersTrace(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(ctx)
	eng, err := memflow.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), memflow.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	file := filepath.Join(t.TempDir(), "order.yaml")
	os.WriteFile(file, []byte(orderFlow), 0o644)
	if err := eng.LoadFlows(ctx, file); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(eng, Options{}))
	defer srv.Close()
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/workflows/order/start", strings.NewReader(`{"id":"t1","args":{"item":"pen"}}`))
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	var root bool
	for _, s := range spans.GetSpans() {
		if s.SpanContext.TraceID().String() != traceID {
			t.Errorf("span %q in trace %s, want the caller's %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
		if s.Name == "memflow.workflow order" {
			root = true
			if s.Parent.SpanID().String() != parentID {
				t.Errorf("root span's parent %s, want the caller's span %s", s.Parent.SpanID(), parentID)
			}
		}
	}
	if !root {
		t.Errorf("no root span among %d spans", len(spans.GetSpans()))
	}
}

// Transitions this process commits reach an event stream at once, without
// waiting for the poll (here an hour long).
func TestEventsWakeOnOwnCommits(t *testing.T) {
	eachStore(t, func(t *testing.T, url, app string) {
		f := newFixture(t, url, app, Options{Poll: time.Hour})
		want(t, f.post("/api/v1/workflows/order/start", `{"id":"w1","args":{"item":"pen"}}`), 201)
		eventually(t, "w1 waits", func() bool {
			return strings.Contains(string(f.get("/api/v1/instances/w1/status").body), `"doing":"signal"`)
		})
		stream := f.events("w1", "")
		want(t, f.post("/api/v1/instances/w1/signals/approve", `{"by":"ana"}`), 202)
		rows, end := stream.all(t)
		if end != "completed" || rows[len(rows)-1].Status != "completed" {
			t.Errorf("stream ended %q after %d rows", end, len(rows))
		}
	})
}

// Event streams are bounded: one past the limit is refused with 503 until
// another closes.
func TestEventStreamLimit(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{MaxStreams: 1})
	want(t, f.post("/api/v1/workflows/order/start", `{"id":"s1","args":{"item":"pen"}}`), 201)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/instances/s1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", resp, err)
	}
	if a := f.get("/api/v1/instances/s1/events"); a.status != 503 || a.code(t) != "unavailable" || a.header.Get("Retry-After") == "" {
		t.Errorf("second stream: %d %s", a.status, a.body)
	}
	cancel()
	resp.Body.Close()
	eventually(t, "the first stream's slot is free", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/instances/s1/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
