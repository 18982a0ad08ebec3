package runtime

import (
	"context"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// This file records the engine's OpenTelemetry spans. An instance's trace
// begins with its root span, "memflow.workflow <workflow>", which Start
// makes (a child of the caller's span when ctx carries one) and ends when it
// returns. The root's traceparent is kept in the instance's state
// (instance.Trace), so every later span of the instance is the root's child,
// whichever process makes it and however much later:
//
//   - "memflow.transition <workflow>": one committed transition, from its
//     begin to its commit (made after the commit, with its start time, so a
//     transaction tried again is one span);
//   - "memflow.activity <activity>": one activity attempt; the activity's
//     context carries it, and http.request sends it as traceparent.
//
// A child instance started by a step joins its parent's trace: its spans are
// children of the parent's root. An instance started before tracing was on
// has no root: each of its spans begins a trace of its own. With the global
// tracer provider left unset every span is a no-op.

// tracerName is the engine's instrumentation scope.
const tracerName = "github.com/memflow/memflow"

// Span attributes.
const (
	attrApp       = attribute.Key("memflow.app")
	attrWorkflow  = attribute.Key("memflow.workflow")
	attrVersion   = attribute.Key("memflow.version")
	attrInstance  = attribute.Key("memflow.instance")
	attrStep      = attribute.Key("memflow.step")
	attrThread    = attribute.Key("memflow.thread")
	attrAttempt   = attribute.Key("memflow.attempt")
	attrActivity  = attribute.Key("memflow.activity")
	attrTask      = attribute.Key("memflow.task")   // what a transition handled: start, run, activity, timer, signal...
	attrStatus    = attribute.Key("memflow.status") // the instance's status after a transition
	attrErrorType = attribute.Key("memflow.error.type")
	attrCreated   = attribute.Key("memflow.created") // false: a start that found the instance already there
)

// traceparent encodes sc as W3C trace context ("" when sc is invalid).
func traceparent(sc trace.SpanContext) (parent, state string) {
	if !sc.IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	return c["traceparent"], c["tracestate"]
}

// traced returns ctx with in's root span as the remote parent of the spans
// begun under it; ctx itself when in has no root.
func (in *instance) traced(ctx context.Context) context.Context {
	if in == nil || in.Trace == "" {
		return ctx
	}
	c := propagation.MapCarrier{"traceparent": in.Trace}
	if in.TraceState != "" {
		c["tracestate"] = in.TraceState
	}
	return propagation.TraceContext{}.Extract(ctx, c)
}

// startSpan begins the root span of a start of workflow as id; its context
// goes into the new instance's state (jobOpts.trace).
func (e *Engine) startSpan(ctx context.Context, workflow, id string) (context.Context, trace.Span) {
	ctx, span := e.tr.Start(ctx, "memflow.workflow "+workflow)
	if span.IsRecording() {
		span.SetAttributes(attrApp.String(e.app), attrWorkflow.String(workflow), attrInstance.String(id))
	}
	return ctx, span
}

// endStart ends a start's root span with its outcome.
func endStart(span trace.Span, created bool, err error) {
	if span.IsRecording() {
		switch {
		case err != nil:
			span.SetStatus(codes.Error, err.Error())
		case !created:
			span.SetAttributes(attrCreated.Bool(false))
		}
	}
	span.End()
}

// traceTransition records x, a transition committed after it began at
// began, as a span under its instance's root. task names what it handled;
// from, when valid, is the caller's span (a signal, hook or cancel sent
// from outside), linked.
func (e *Engine) traceTransition(x *txn, task string, began time.Time, from trace.SpanContext) {
	opts := []trace.SpanStartOption{trace.WithTimestamp(began)}
	if from.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: from}))
	}
	_, span := e.tr.Start(x.in.traced(context.Background()), "memflow.transition "+x.job.Flow, opts...)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{attrApp.String(e.app), attrWorkflow.String(x.job.Flow),
			attrVersion.String(x.job.Version), attrInstance.String(x.job.ID), attrTask.String(task),
			attrStatus.String(x.job.Status)}
		for _, ev := range x.events {
			if ev.Step != "" {
				attrs = append(attrs, attrStep.String(ev.Step))
				break
			}
		}
		span.SetAttributes(attrs...)
		for _, ev := range x.events {
			switch ev.Kind {
			case "error", "retry", "hook-failed":
				// A failed step, caught or not, and an attempt to be
				// tried again: what the trace reader looks for.
				span.AddEvent("memflow."+ev.Kind, trace.WithTimestamp(ev.At), trace.WithAttributes(
					attrStep.String(ev.Step), attribute.String("memflow.detail", string(ev.Detail))))
			}
		}
		if x.job.Status == store.StatusFailed {
			span.SetStatus(codes.Error, x.job.Error)
		}
	}
	span.End()
}

// attemptSpan begins the span of an attempt of activity step s of job; the
// returned context carries it to the activity.
func (e *Engine) attemptSpan(ctx context.Context, in *instance, job *store.Job, s *compiler.State, thread string, attempt int) (context.Context, trace.Span) {
	ctx, span := e.tr.Start(in.traced(ctx), "memflow.activity "+s.Activity)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{attrApp.String(e.app), attrWorkflow.String(job.Flow),
			attrVersion.String(job.Version), attrInstance.String(job.ID), attrStep.String(s.Label),
			attrActivity.String(s.Activity), attrAttempt.Int(attempt)}
		if thread != "" {
			attrs = append(attrs, attrThread.String(thread))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetAttributes(attrErrorType.String(attemptErrorType(err)))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
