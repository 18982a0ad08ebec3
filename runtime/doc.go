// Package runtime executes compiled state machines durably: workers claim
// tasks from the store, run activities outside the transaction, and commit
// each step transition (entity change, output, cursor, next tasks, history)
// in one transaction. It imports compiler (the state machine types),
// activities and the store; never the YAML parser.
package runtime
