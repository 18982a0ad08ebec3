package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracing is the tracer provider the command's engine sends its spans to,
// set up from the standard OTEL_* environment variables; nil provider when
// tracing is off (the engine then uses the global provider, a no-op).
type tracing struct {
	tp *sdktrace.TracerProvider
}

// tracingFromEnv turns tracing on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, unless OTEL_SDK_DISABLED is
// true or OTEL_TRACES_EXPORTER is none: spans go through a batch span
// processor to the OTLP/HTTP exporter (which reads the other
// OTEL_EXPORTER_OTLP_* variables: headers, timeout, compression,
// certificates), sampled as OTEL_TRACES_SAMPLER says (default: every
// trace, or as its parent was), with service.name from OTEL_SERVICE_NAME
// (default "memflow") and OTEL_RESOURCE_ATTRIBUTES.
func tracingFromEnv(ctx context.Context) (*tracing, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return &tracing{}, nil
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return &tracing{}, nil
	}
	switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return &tracing{}, nil
	default:
		return nil, usageErr("OTEL_TRACES_EXPORTER=%s: memflow exports traces with otlp only (or none)", exp)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(os.Getenv(v)); p != "" {
			if p != "http/protobuf" {
				return nil, usageErr("%s=%s: memflow exports traces over OTLP/HTTP with protobuf only: set http/protobuf or unset it", v, p)
			}
			break // the traces variable wins over the general one
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the default name.
	res, err := sdkresource.New(ctx,
		sdkresource.WithAttributes(attribute.String("service.name", "memflow")),
		sdkresource.WithHost(), sdkresource.WithProcessPID(), sdkresource.WithTelemetrySDK(),
		sdkresource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource from OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return &tracing{tp: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// provider is the tracer provider for the engine (nil when off).
func (t *tracing) provider() trace.TracerProvider {
	if t.tp == nil {
		return nil
	}
	return t.tp
}

// parent is ctx with the span named by the TRACEPARENT (and TRACESTATE)
// environment variables, when tracing is on: a `memflow start` run by a
// traced script or CI job starts the instance in that job's trace.
func (t *tracing) parent(ctx context.Context) context.Context {
	tp := os.Getenv("TRACEPARENT")
	if t.tp == nil || tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp, "tracestate": os.Getenv("TRACESTATE")})
}

// shutdown exports the spans still buffered, within ctx.
func (t *tracing) shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: export spans at exit: %w", err)
	}
	return nil
}
