// Package activities holds the registry of activity functions (plain Go
// functions with JSON-able input and output) and the built-in activities
// `log` and `http.request`. A Registry is a value passed to the compiler and
// the runtime; there is no global registry. An HTTPPolicy (allow-list,
// body cap) governs what http.request reaches: NewRegistryWithHTTP.
//
// Activity authors read the attempt's identity with InfoFrom(ctx) and mark
// retry semantics with NonRetryable, RetryAfter and typed *Error values.
//
// http.request sends the W3C traceparent of the span its context carries
// (the runtime's span of the attempt), so a traced service continues the
// instance's trace.
//
// activities imports the standard library and OpenTelemetry's propagation
// API only.
package activities
