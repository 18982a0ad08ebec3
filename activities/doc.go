// Package activities holds the registry of activity functions (plain Go
// functions with JSON-able input and output) and the built-in activities
// `log` and `http.request`. A Registry is a value passed to the compiler and
// the runtime; there is no global registry. An HTTPPolicy (allow-list,
// body cap) governs what http.request reaches: NewRegistryWithHTTP.
//
// Activity authors read the attempt's identity with InfoFrom(ctx) and mark
// retry semantics with NonRetryable, RetryAfter and typed *Error values.
//
// activities imports only the standard library.
package activities
