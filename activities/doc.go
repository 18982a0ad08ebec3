// Package activities holds the registry of activity functions (plain Go
// functions with JSON-able input and output) and the built-in activities.
// A Registry is a value passed to the compiler and the runtime; there is no
// global registry.
package activities
