// Package bench measures memflow end to end: it runs a workload of workflows
// (one-activity, entity, fanout, signal) against a real store through the
// public Engine API, checks that every workflow produced the right result,
// and reports throughput, start-to-result latency, commits per workflow and
// the database's own commit limit measured in the same run.
//
// bench may import the memflow root package, internal/store (for the
// schema name of an app) and internal/otlprecv (the receiver of its spans
// with tracing on); nothing imports bench but cmd/memflow.
package bench
