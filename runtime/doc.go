// Package runtime executes compiled state machines (compiler.Program)
// durably on a store.Store. It imports compiler (the state machine types and
// expressions), activities, internal/store, internal/metrics and
// OpenTelemetry's trace API; never the YAML front end.
//
// # Instances and threads
//
// An instance is a jobs row: the entity document in jobs.context and the
// runtime's cursor state in jobs.state (JSON, see instance in state.go).
// The state holds threads: the workflow's main thread, one thread per hook
// run (own input and steps scope, same entity) and one per branch of a
// parallel or forEach step (a copy of the parent's steps scope plus the
// item/index variables; a branch's output, in the step's output list, is the
// output of its last step that has an id or an output of its own: activity,
// hook, child, wait, parallel, forEach). Each thread has a cursor (state number), a tick
// (incremented on every state entry) and what it waits for, if anything.
// The state also keeps signals received before anyone waited for them, the
// pending joins of parallel/forEach steps, while-loop counters, started
// children and, for a child, the parent step awaiting it.
//
// # Transitions
//
// Everything that changes an instance happens in one store transaction that
// locks its jobs row: decode the state, apply one event (a task), run every
// runnable thread through consecutive non-blocking steps (entity commands,
// if/switch/while/try, when-skips, return, fail, signal emits,
// fire-and-forget hooks and children) until each blocks (activity, wait,
// sleep, join, awaited hook or child) or ends, then write the entity, the
// state, the status/result, the new tasks and one history row per step, and
// delete the task being handled. If that task was already deleted (another
// worker handled it after a lease expired) the transaction rolls back.
// A transaction runs at most 1000 steps, then continues in a new one.
//
// Entity commands evaluate their paths and values, apply to a fresh copy of
// the document with store.ApplyCommands and, when the entity type declares a
// schema, validate the result; any failure fails the step and keeps nothing
// of it. Schema failures (start, hook and child arguments, the entity) are
// reported by path as flows write it: `input: missing property "query"`,
// `input.count: want integer, got string`. Expressions see compiler.Env with the engine's injected clock; every
// evaluated value is normalised through JSON (whole numbers as int) so it
// reads the same before and after a resume.
//
// # Tasks
//
// Tasks are rows (store.Task) on the instance's task queue (the workflow's
// taskQueue, else its file's, else "default"), except the tasks of a thread
// running a hook whose graph names a taskQueue (its own or its file's):
// that thread's activities and timers go to the hook's queue, so a worker
// serving only that queue runs them. Timers are tasks with a due time. Kinds: run (start, continue a long run,
// or run threads a signal or hook from outside made runnable), activity,
// timer (sleep end, wait timeout, workflow or hook timeout), signal (from
// another instance), hook (from before hooks were started in the caller's
// transaction), child (a child instance ended) and cancel (a parent
// ended). A task names the thread and tick it was made for; when the thread
// has moved on it is dropped.
//
// # Activities
//
// An activity step evaluates its arguments in the transition that reaches it
// and enqueues an activity task carrying them. A worker claims the task,
// checks (without locking) that the thread still waits at that tick, runs
// the function outside any transaction with a context carrying the attempt's
// activities.Info (idempotency key "workflow/[thread/]step/iteration"), the
// per-attempt timeout and a cancel hook, then commits the result and
// advances the thread in one transaction, only if the thread still waits at
// that tick and the task still exists: the result is committed once and a
// committed activity never runs again. A failure is retried with exponential
// back-off (a new task row with a due time and the attempt count) unless it
// is non-retryable (activities.NonRetryable, or its type is listed in the
// step's nonRetryable) or attempts are exhausted (claims of crashed workers
// count as attempts; an attempt cut short by a graceful shutdown does not);
// then the step fails.
//
// # Failures
//
// A failing step jumps to the catch of its innermost try when that try is
// inside the same thread (error = {message, type, step, attempts});
// otherwise the thread fails. A failed branch fails its parallel/forEach step
// once the other branches ended (at once with failFast, which also stops
// them); a failed awaited hook fails the step awaiting it (also a hook step
// with signal: still waiting for the hook's signal); a failed main
// thread fails the instance at once and stops its hooks. A hook started
// from outside, or fire and forget, that fails is recorded in history only.
//
// # End of an instance
//
// An instance completes when its main thread has ended (its last step, or a
// return) and every hook running on it has ended too: until then the main
// thread is parked (wait "end") and the instance stays running, so a
// fire-and-forget hook started by the last step runs to its end. Hooks
// started from outside while it is parked count too. The result (the
// workflow's result expression, else the entity; or the return step's
// value) is computed when the instance completes, so it includes what the
// hooks wrote. A failure of the main thread, a workflow timeout or a cancel
// ends the instance at once and stops every hook.
//
// # Signals
//
// Signal delivers in a transaction of its own that locks the target
// (durable with no worker running): it hands the data to the oldest thread
// waiting for that name (a wait step, or a hook step with signal:), whose
// next steps a run task takes to a worker, or keeps it in the state for the
// first later wait of that name; signals to one instance thus arrive in the
// order their calls commit. A signal step aimed at another instance enqueues
// a signal task instead, so one transaction never locks two instances; the
// target takes all its signal tasks in one transition and delivers them in
// the order they were sent (enqueue time, then their order in the sending
// transition). Like Signal, it fails (type SignalUndeliverable,
// naming the target and its status) when the target does not exist or has
// ended, as read in the sender's transaction without a lock: a target that
// ends between that read and the delivery drops the signal, a race memflow
// accepts.
//
// # Children
//
// A child step inserts the child instance in the parent's transaction (a new
// row, so no lock is taken on another instance); the child's end enqueues a
// child task on the parent. A workflow id that an instance of the same
// workflow already holds is joined (idempotent start): its result is used at
// once if it ended, else the step registers as a watcher in its state
// (locking that row after the parent's; a child never locks its parent) and
// is notified when it ends. An id held by an instance of another workflow
// fails the step (type IDTaken), as Start returns *IDTakenError for it: an
// idempotent start never hands back another workflow's instance.
//
// A child without a workflowId gets `<parent>.<label>.<n>`, n counting the
// default-id children of the parent (instance.NextChild, committed with the
// transition), so every branch, iteration and hook run starts its own; a
// taken default id is skipped, never joined. The child's row, its count in
// the tree and the watcher it registers are written at commit (peers.go).
//
// Every instance records its root (itself for a top-level start), parent
// and depth (jobs.root_id, parent_id, depth). A child start counts against
// its root's descendants (store.Tx.AddDescendant, a counter row locked in
// the parent's transaction, so concurrent starts cannot pass the bound);
// past Limits.MaxDescendants or Limits.MaxDepth the step fails with type
// LimitExceeded. CancelTree (tree.go) closes a root's tree, so a child step
// running in it afterwards cancels its own instance, then cancels the
// tree's running instances in passes until none runs.
//
// Ending an instance enqueues cancel tasks for the children it awaited (a
// step that can no longer take their result). A detached child (await:
// false) is its own instance: it keeps running when its parent completes or
// fails; only cancelling the parent cancels it too.
//
// # Hooks from outside
//
// Hook creates the hook's thread in a transaction of its own that locks the
// instance and queues a run task for its steps: once Hook returns, the
// instance waits for the hook to end before it completes, so an accepted
// hook is never dropped.
//
// # Faults
//
// Each database call a worker makes for a task has its own timeout
// (Limits.DBTimeout). An infrastructure error (store.IsTransient) while
// committing is tried again on a fresh connection with a back-off that
// tracks the outage, and releases the task without counting an attempt when
// it persists. Steps touch no database (interp.go, peers.go), so a flow's
// catch never sees a database error: what fails is the commit, and the
// transition runs again. A task other
// than an activity claimed more than Limits.MaxTaskAttempts times (its
// workers died or failed) fails its instance with type InternalError.
// Leases are fenced by the claim's attempt count.
//
// # Traces
//
// Start makes the instance's root span (a child of the caller's span, if
// any) and keeps its W3C traceparent in the state (instance.Trace); every
// committed transition and every activity attempt is a span under that
// root, whichever process makes it, so an instance is one trace however
// many workers and restarts it spans (trace.go). Children join their
// parent's trace.
//
// # Workers
//
// Work claims up to Concurrency due tasks with a lease, runs each in a
// goroutine, and sleeps until a store wakeup, a finished task or the poll
// interval. A worker that dies leaves its tasks leased; after the lease they
// are claimable again. At shutdown Work stops claiming, lets in-flight tasks
// finish within the grace period, then cancels the remaining activities and
// hands their tasks back. Cancel stops in-flight activities of the instance
// on this worker at once and on other workers at their next poll. In-flight
// activities are tracked with their thread and tick (inflight), so a thread
// stopped without ending the instance (a hook run stopped by a cancel step)
// stops its activities the same way. A cancel step aimed at another instance
// enqueues a cancel task on it (cancel.go).
package runtime
