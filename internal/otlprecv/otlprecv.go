// Package otlprecv is an OTLP/HTTP trace receiver inside the process: it
// accepts POST /v1/traces with protobuf bodies, as the otlptracehttp
// exporter sends them, on a loopback port, and keeps the spans it receives
// (or only counts them). The engine's tracing tests read the span trees it
// keeps; memflow bench --traces exports every span to it to measure what
// tracing costs.
//
// It imports OpenTelemetry's SDK, its OTLP/HTTP exporter and the OTLP
// protobuf types, and nothing of memflow.
package otlprecv

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span, its ids in lowercase hex ("" for no parent).
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Start, End                time.Time
	Attrs                     map[string]any // string, int64, float64, bool or []any
	Resource                  map[string]any // the resource of the process that sent it
	Events                    []Event
	Links                     []string // span ids of linked spans
	Error                     bool     // status code error
	Message                   string   // status message
}

// Event is a span event.
type Event struct {
	Name  string
	Attrs map[string]any
}

// Receiver is an OTLP/HTTP trace endpoint on a loopback port. Close it.
type Receiver struct {
	srv  *http.Server
	ln   net.Listener
	keep bool
	done chan struct{}

	mu    sync.Mutex
	cond  chan struct{} // closed and replaced when spans arrive
	spans []Span
	count int
	err   error // the first request that could not be read
}

// Start listens on 127.0.0.1; keep tells whether spans are kept (else only
// counted).
func Start(keep bool) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("otlp receiver: %w", err)
	}
	r := &Receiver{ln: ln, keep: keep, done: make(chan struct{}), cond: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.traces)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// URL is the traces endpoint, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// otlptracehttp.WithEndpointURL.
func (r *Receiver) URL() string { return "http://" + r.ln.Addr().String() + "/v1/traces" }

// Endpoint is the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter
// adds /v1/traces).
func (r *Receiver) Endpoint() string { return "http://" + r.ln.Addr().String() }

// Close stops the receiver.
func (r *Receiver) Close() error {
	err := r.srv.Close()
	<-r.done
	return err
}

// Spans returns the spans kept so far, in the order received.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Count is how many spans were received.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Err is the first request the receiver could not decode, if any.
func (r *Receiver) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Wait waits until cond holds for the spans kept (checked on every arrival)
// or ctx ends.
func (r *Receiver) Wait(ctx context.Context, cond func([]Span) bool) error {
	for {
		r.mu.Lock()
		ok, ch := cond(r.spans), r.cond
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Provider is an SDK tracer provider exporting every span to r through the
// OTLP/HTTP exporter and a batch span processor, with a resource of attrs.
// Shut it down to flush what it holds.
func (r *Receiver) Provider(ctx context.Context, attrs ...attribute.KeyValue) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(r.URL()))
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(sdkresource.NewSchemaless(attrs...))), nil
}

func (r *Receiver) traces(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(w, err)
			return
		}
		defer gz.Close()
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		r.fail(w, err)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &msg); err != nil {
		r.fail(w, err)
		return
	}
	var got []Span
	n := 0
	for _, rs := range msg.GetResourceSpans() {
		var res map[string]any
		if r.keep {
			res = attrMap(rs.GetResource().GetAttributes())
		}
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
			if !r.keep {
				continue
			}
			for _, s := range ss.GetSpans() {
				got = append(got, span(s, res))
			}
		}
	}
	r.mu.Lock()
	r.count += n
	r.spans = append(r.spans, got...)
	close(r.cond)
	r.cond = make(chan struct{})
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *Receiver) fail(w http.ResponseWriter, err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = errors.New("otlp receiver: " + err.Error())
	}
	r.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func span(s *tracepb.Span, res map[string]any) Span {
	out := Span{TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(),
		Start: time.Unix(0, int64(s.GetStartTimeUnixNano())), End: time.Unix(0, int64(s.GetEndTimeUnixNano())),
		Attrs: attrMap(s.GetAttributes()), Resource: res,
		Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR, Message: s.GetStatus().GetMessage()}
	for _, ev := range s.GetEvents() {
		out.Events = append(out.Events, Event{Name: ev.GetName(), Attrs: attrMap(ev.GetAttributes())})
	}
	for _, l := range s.GetLinks() {
		out.Links = append(out.Links, hex.EncodeToString(l.GetSpanId()))
	}
	return out
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	}
	return nil
}
