package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/otlprecv"
)

const tracedHello = `memflow: v1
workflows:
  hello:
    entity: greeting
    steps:
      - id: say
        activity: log
        args: { message: hi }
      - set: { text: hi }
`

// runTraced runs `memflow run` on tracedHello with the environment env
// (set for the test) and returns its exit status and the spans r received
// by the time it exited.
func runTraced(t *testing.T, r *otlprecv.Receiver, env map[string]string) (int, string, []otlprecv.Span) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	flow := filepath.Join(t.TempDir(), "hello.yaml")
	if err := os.WriteFile(flow, []byte(tracedHello), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", flow, "--db", db, "--quiet"}, &stdout, &stderr)
	return code, stderr.String(), r.Spans()
}

func traceReceiver(t *testing.T) *otlprecv.Receiver {
	t.Helper()
	r, err := otlprecv.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a command exports its engine's
// spans over OTLP/HTTP before it exits, as service "memflow" with the
// resource attributes of OTEL_RESOURCE_ATTRIBUTES; an instance started by
// a process whose TRACEPARENT names a span is that span's child.
func TestTracesFromEnvironment(t *testing.T) {
	r := traceReceiver(t)
	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	code, stderr, spans := runTraced(t, r, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": r.Endpoint(),
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment=test",
		"TRACEPARENT":                 "00-" + parentTrace + "-" + parentSpan + "-01",
	})
	if code != 0 {
		t.Fatalf("run exit %d:\n%s", code, stderr)
	}
	names := map[string]int{}
	var root *otlprecv.Span
	for i, s := range spans {
		names[s.Name]++
		if s.Name == "memflow.workflow hello" {
			root = &spans[i]
		}
		if s.TraceID != parentTrace {
			t.Errorf("span %s in trace %s, want TRACEPARENT's %s", s.Name, s.TraceID, parentTrace)
		}
		if s.Resource["service.name"] != "memflow" || s.Resource["deployment.environment"] != "test" {
			t.Errorf("span %s resource %v, want service.name memflow and deployment.environment test", s.Name, s.Resource)
		}
	}
	if root == nil || names["memflow.activity log"] != 1 || names["memflow.transition hello"] < 2 {
		t.Fatalf("spans %v: want the root, the log attempt and the transitions", names)
	}
	if root.ParentID != parentSpan {
		t.Errorf("root span's parent %q, want TRACEPARENT's span %s", root.ParentID, parentSpan)
	}
	if err := r.Err(); err != nil {
		t.Error(err)
	}
}

// OTEL_SDK_DISABLED=true keeps tracing off whatever the endpoint says; a
// protocol memflow cannot export with is a usage error.
func TestTracesOffOrRefused(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		r := traceReceiver(t)
		code, stderr, spans := runTraced(t, r, map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": r.URL(),
			"OTEL_SDK_DISABLED":                  "true",
		})
		if code != 0 || len(spans) != 0 {
			t.Errorf("exit %d, %d spans, want 0 and none:\n%s", code, len(spans), stderr)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		r := traceReceiver(t)
		code, stderr, _ := runTraced(t, r, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": r.Endpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		})
		if code != 2 || !strings.Contains(stderr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc") {
			t.Errorf("exit %d, want 2 with a message naming the variable:\n%s", code, stderr)
		}
	})
}
