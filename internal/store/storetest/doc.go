// Package storetest is the conformance suite every store.Store implementation
// runs unchanged: call Run from a test with a function that opens a fresh,
// empty store. It imports only the store package and the standard library.
package storetest
