package otlprecv

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discard is an exporter that drops what it gets.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkSpan is the cost of one span shaped like the engine's
// transition spans (seven attributes): made and queued to a batch span
// processor whose exporter drops it, and exported over OTLP/HTTP to a
// receiver that decodes it (the export and the receiver run alongside, on
// the same cores).
func BenchmarkSpan(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, tp *sdktrace.TracerProvider) {
		tr := tp.Tracer("bench")
		b.ReportAllocs()
		for b.Loop() {
			_, s := tr.Start(ctx, "memflow.transition order")
			s.SetAttributes(attribute.String("memflow.app", "shop"), attribute.String("memflow.workflow", "order"),
				attribute.String("memflow.version", "3f2a9c1e"), attribute.String("memflow.instance", "5a1c0e7d9b3f4a2e8c6d0b1a"),
				attribute.String("memflow.task", "activity"), attribute.String("memflow.status", "running"),
				attribute.String("memflow.step", "charge"))
			s.End()
		}
		if err := tp.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("queued", func(b *testing.B) {
		run(b, sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{})))
	})
	b.Run("exported", func(b *testing.B) {
		r, err := Start(false)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(r.URL()))
		if err != nil {
			b.Fatal(err)
		}
		// Blocking: every span is exported, none dropped when the loop
		// outruns the exporter.
		run(b, sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBlocking())))
		if r.Count() < b.N || r.Err() != nil {
			b.Fatalf("received %d of %d spans, err %v", r.Count(), b.N, r.Err())
		}
	})
}
