package memflow_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/otlprecv"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracedEngine opens an engine on d whose spans go to r through an SDK
// provider of their own (process names it in the spans' resource), as a
// separate process would send them. Its flush shuts the provider down,
// exporting what it holds; it runs at the test's end too.
func tracedEngine(t *testing.T, d db, r *otlprecv.Receiver, process string, clock func() time.Time) (*memflow.Engine, *sdktrace.TracerProvider, func()) {
	t.Helper()
	tp, err := r.Provider(context.Background(), attribute.String("service.name", "memflow"), attribute.String("test.process", process))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	flush := func() {
		once.Do(func() {
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Errorf("flush spans of %s: %v", process, err)
			}
		})
	}
	t.Cleanup(flush)
	eng, err := memflow.Open(context.Background(), d.URL, memflow.Config{App: d.App, TracerProvider: tp, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, tp, flush
}

func receiver(t *testing.T) *otlprecv.Receiver {
	t.Helper()
	r, err := otlprecv.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if err := r.Err(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// registerTraced registers trace.flaky: it fails on its first call and
// returns, on later calls, the trace and span ids its context carries.
func registerTraced(t *testing.T, eng *memflow.Engine, calls *int) {
	t.Helper()
	var mu sync.Mutex
	err := eng.Register("trace.flaky", func(ctx context.Context) (map[string]any, error) {
		mu.Lock()
		*calls++
		n := *calls
		mu.Unlock()
		if n == 1 {
			return nil, fmt.Errorf("flaky failure %d", n)
		}
		sc := trace.SpanFromContext(ctx).SpanContext()
		return map[string]any{"trace": sc.TraceID().String(), "span": sc.SpanID().String()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const tracedFlow = `
memflow: v1
workflows:
  traced:
    entity: traced
    result: "${ steps.charge }"
    steps:
      - id: charge
        activity: trace.flaky
        retry: { maxAttempts: 3, initialInterval: 1h, maxInterval: 1h }
`

// One instance is one trace, whichever process commits its transitions:
// the activity fails on the first worker and its retry, an hour later, runs
// on a second engine opened after the first was closed (its clock two hours
// ahead, so the retry is due). Every span shares the trace of the caller
// that started the instance; the instance's root span is the caller's
// child, and every transition and attempt, from either process, is the
// root's child. The activity sees its attempt's span in its context.
func TestTraceOneInstanceAcrossRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		r := receiver(t)
		calls := 0
		engA, tpA, flushA := tracedEngine(t, d, r, "A", nil)
		registerTraced(t, engA, &calls)
		loadFlow(t, engA, tracedFlow)

		ctx, caller := tpA.Tracer("test").Start(testCtx(t), "caller")
		id, err := engA.Start(ctx, "traced", nil, memflow.WithID("order-1"))
		if err != nil {
			t.Fatal(err)
		}
		caller.End()
		stopA := work(t, engA, memflow.WorkerConfig{})
		// The first attempt failed and its retry is committed: a history
		// row of kind retry.
		eventually(t, "the retry of the first attempt", func() bool {
			evs, err := engA.History(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(evs, func(ev memflow.Event) bool { return ev.Kind == "retry" })
		})
		stopA()
		engA.Close()
		flushA()

		later := func() time.Time { return time.Now().Add(2 * time.Hour) }
		engB, _, flushB := tracedEngine(t, d, r, "B", later)
		registerTraced(t, engB, &calls)
		stopB := work(t, engB, memflow.WorkerConfig{})
		res := result(t, engB, id).(map[string]any)
		stopB() // its last transition's span is made after the result is told
		flushB()

		var spans []otlprecv.Span
		for _, s := range r.Spans() {
			if s.Attrs["memflow.instance"] == id || s.Name == "caller" {
				spans = append(spans, s)
			}
		}
		dump := func() string {
			var b strings.Builder
			for _, s := range spans {
				fmt.Fprintf(&b, "\n  %s %s parent %s trace %s %v (%s)", s.SpanID, s.Name, s.ParentID, s.TraceID, s.Attrs, s.Resource["test.process"])
			}
			return b.String()
		}
		find := func(name string) []otlprecv.Span {
			var out []otlprecv.Span
			for _, s := range spans {
				if s.Name == name {
					out = append(out, s)
				}
			}
			return out
		}
		callers, roots := find("caller"), find("memflow.workflow traced")
		if len(callers) != 1 || len(roots) != 1 {
			t.Fatalf("want one caller span and one root span, got %d and %d:%s", len(callers), len(roots), dump())
		}
		root := roots[0]
		traceID := callers[0].TraceID
		for _, s := range spans {
			if s.TraceID != traceID {
				t.Errorf("span %s %s is in trace %s, want the caller's %s", s.SpanID, s.Name, s.TraceID, traceID)
			}
		}
		if root.ParentID != callers[0].SpanID {
			t.Errorf("root span's parent = %q, want the caller's span %s", root.ParentID, callers[0].SpanID)
		}
		for k, want := range map[string]any{"memflow.app": d.App, "memflow.workflow": "traced", "memflow.instance": id} {
			if root.Attrs[k] != want {
				t.Errorf("root span %s = %v, want %v", k, root.Attrs[k], want)
			}
		}
		for _, s := range spans {
			if s.Name != "caller" && s.Name != root.Name && s.ParentID != root.SpanID {
				t.Errorf("span %s %s: parent %q, want the root span %s", s.SpanID, s.Name, s.ParentID, root.SpanID)
			}
		}

		// The attempts: the first failed on A, the second ran on B and is
		// the span the activity saw.
		attempts := find("memflow.activity trace.flaky")
		if len(attempts) != 2 {
			t.Fatalf("want 2 attempt spans, got %d:%s", len(attempts), dump())
		}
		slices.SortFunc(attempts, func(a, b otlprecv.Span) int {
			return int(a.Attrs["memflow.attempt"].(int64) - b.Attrs["memflow.attempt"].(int64))
		})
		first, second := attempts[0], attempts[1]
		for i, s := range attempts {
			for k, want := range map[string]any{"memflow.app": d.App, "memflow.workflow": "traced", "memflow.instance": id,
				"memflow.step": "charge", "memflow.activity": "trace.flaky", "memflow.attempt": int64(i + 1)} {
				if s.Attrs[k] != want {
					t.Errorf("attempt %d span: %s = %v, want %v", i+1, k, s.Attrs[k], want)
				}
			}
		}
		if !first.Error || !strings.Contains(first.Message, "flaky failure 1") || first.Attrs["memflow.error.type"] != "ActivityError" {
			t.Errorf("first attempt: error %v %q, type %v; want an error status with the activity's message", first.Error, first.Message, first.Attrs["memflow.error.type"])
		}
		if second.Error {
			t.Errorf("second attempt has an error status: %q", second.Message)
		}
		if first.Resource["test.process"] != "A" || second.Resource["test.process"] != "B" {
			t.Errorf("attempts ran on %v and %v, want A then B", first.Resource["test.process"], second.Resource["test.process"])
		}
		if res["trace"] != traceID || res["span"] != second.SpanID {
			t.Errorf("the activity saw span %v of trace %v, want its attempt's span %s of trace %s", res["span"], res["trace"], second.SpanID, traceID)
		}

		// The transitions: the start, the failed attempt's (retry
		// scheduled) on A; the second attempt's, which completes, on B.
		transitions := find("memflow.transition traced")
		slices.SortFunc(transitions, func(a, b otlprecv.Span) int { return a.Start.Compare(b.Start) })
		type tr struct{ task, status, process string }
		var got []tr
		for _, s := range transitions {
			got = append(got, tr{fmt.Sprint(s.Attrs["memflow.task"]), fmt.Sprint(s.Attrs["memflow.status"]), fmt.Sprint(s.Resource["test.process"])})
		}
		want := []tr{{"start", "running", "A"}, {"activity", "running", "A"}, {"activity", "completed", "B"}}
		if !slices.Equal(got, want) {
			t.Fatalf("transitions (task, status, process) = %v, want %v:%s", got, want, dump())
		}
		if !slices.ContainsFunc(transitions[1].Events, func(e otlprecv.Event) bool { return e.Name == "memflow.retry" }) {
			t.Errorf("the failed attempt's transition has no memflow.retry event: %v", transitions[1].Events)
		}
		for i, s := range transitions {
			if s.Attrs["memflow.app"] != d.App || s.Attrs["memflow.workflow"] != "traced" {
				t.Errorf("transition %d: app %v workflow %v, want %s and traced", i, s.Attrs["memflow.app"], s.Attrs["memflow.workflow"], d.App)
			}
			if i > 0 && s.Attrs["memflow.step"] != "charge" {
				t.Errorf("transition %d: step %v, want charge", i, s.Attrs["memflow.step"])
			}
		}
	})
}

const httpTracedFlow = `
memflow: v1
workflows:
  calls:
    entity: calls
    steps:
      - id: call
        activity: http.request
        args: { url: "${ input.url }" }
`

// http.request sends the attempt's span as traceparent: the called service
// continues the instance's trace under the attempt.
func TestTraceHTTPRequestSendsTraceparent(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		r := receiver(t)
		got := make(chan string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			select {
			case got <- req.Header.Get("traceparent"):
			default:
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true}`)
		}))
		defer srv.Close()
		eng, _, flush := tracedEngine(t, d, r, "A", nil)
		loadFlow(t, eng, httpTracedFlow)
		stop := work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "calls", map[string]any{"url": srv.URL})
		result(t, eng, id)
		stop()
		flush()
		header := <-got
		var attempt *otlprecv.Span
		for _, s := range r.Spans() {
			if s.Name == "memflow.activity http.request" && s.Attrs["memflow.instance"] == id {
				attempt = &s
			}
		}
		if attempt == nil {
			t.Fatalf("no http.request attempt span among %d spans", len(r.Spans()))
		}
		want := fmt.Sprintf("00-%s-%s-01", attempt.TraceID, attempt.SpanID)
		if header != want {
			t.Errorf("traceparent = %q, want %q (the attempt's span)", header, want)
		}
	})
}
