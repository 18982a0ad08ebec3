package memflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/memflow/memflow"
)

const commandsFlow = `
memflow: v1
workflows:
  commands:
    entity: doc
    steps:
      - set: { user: { name: ana }, items: [b], n: 1, flags: {}, gone: x }
      - merge: { user: { email: a@x.io } }
      - append: { items: c }
      - prepend: { items: a }
      - remove: { items: 1 }
      - increment: { n: 2.5 }
      - toggle: flags.on
      - setIfNotExists: { "user.name": bob, "user.role": admin }
      - delete: gone
      - id: skipped
        when: ${ entity.n < 0 }
        set: { wiped: true }
      - merge: { sawSkip: "${ steps.skipped == nil }", page: "p-${ entity.n }" }
`

func TestEntityCommands(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, commandsFlow)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "commands", nil)
		jsonEq(t, result(t, eng, id), `{"user":{"name":"ana","email":"a@x.io","role":"admin"},
			"items":["a","c"],"n":3.5,"flags":{"on":true},"sawSkip":true,"page":"p-3.5"}`)
	})
}

const controlFlow = `
memflow: v1
workflows:
  control:
    entity: doc
    input: { type: object, properties: { n: { type: integer }, kind: { type: string } } }
    steps:
      - set: { log: [], i: 0 }
      - if: ${ input.n % 2 == 1 }
        then:
          - append: { log: odd }
        else:
          - append: { log: even }
      - switch:
          - when: ${ input.kind == "pdf" }
            steps:
              - append: { log: pdf }
          - default:
              - append: { log: other }
      - while: ${ entity.i < input.n }
        maxIterations: 10
        steps:
          - increment: { i: 1 }
      - try:
          - increment: { log: 1 }
        catch:
          - append: { log: "caught ${ error.type }" }
      - id: t
        try:
          - fail: "boom ${ input.n }"
        catch:
          - merge: { failMessage: "${ error.message }", failType: "${ error.type }" }
      - return: "${ {log: entity.log, i: entity.i, msg: entity.failMessage, type: entity.failType} }"
      - set: { unreachable: true }
`

func TestControlFlow(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, controlFlow)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "control", map[string]any{"n": 5, "kind": "pdf"})
		res := result(t, eng, id)
		jsonEq(t, res, `{"log":["odd","pdf","caught CommandError"],"i":5,"msg":"boom 5","type":"Fail"}`)
		id = start(t, eng, "control", map[string]any{"n": 20, "kind": "txt"})
		we := failure(t, eng, id)
		if !strings.Contains(we.Message, "maxIterations 10") {
			t.Errorf("want a maxIterations failure, got %q", we.Message)
		}
		// Input is validated before anything is written.
		_, err := eng.Start(context.Background(), "control", map[string]any{"n": "five"}, memflow.WithID("bad"))
		if err == nil || !strings.Contains(err.Error(), "invalid input") {
			t.Fatalf("want invalid input, got %v", err)
		}
		if _, err := eng.Get(context.Background(), "bad"); !memflow.IsNotFound(err) {
			t.Errorf("an invalid start wrote an instance: %v", err)
		}
	})
}

const fanFlow = `
memflow: v1
workflows:
  fan:
    entity: doc
    steps:
      - set: { hits: 0, seen: [] }
      - id: par
        parallel:
          - steps:
              - id: a
                activity: test.echo
                args: { v: 1 }
          - steps:
              - id: b
                activity: test.echo
                args: { v: 2 }
          - hook: bump
            args: { by: 10 }
      - id: each
        forEach: ${ [1, 2, 3, 4, 5] }
        as: x
        concurrency: 2
        steps:
          - id: echoed
            activity: test.echo
            args: { x: "${ x * 10 }", i: "${ index }" }
          - append: { seen: "${ x }" }
      - id: hooks
        forEach: ${ ["a", "b"] }
        hook: bump
        args: { by: "${ index + 1 }" }
      - hook: bump
        args: { by: 100 }
        await: false
    result: "${ {par: steps.par, each: steps.each, hooks: steps.hooks, seen: len(entity.seen)} }"
hooks:
  bump:
    input: { type: object, required: [by] }
    steps:
      - increment: { hits: "${ input.by }" }
    result: ${ input.by }
`

func TestParallelAndForEach(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		eng := d.open(t, acts)
		loadFlow(t, eng, fanFlow)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "fan", nil)
		jsonEq(t, result(t, eng, id), `{"par":[{"v":1},{"v":2},10],
			"each":[{"x":10,"i":0},{"x":20,"i":1},{"x":30,"i":2},{"x":40,"i":3},{"x":50,"i":4}],
			"hooks":[1,2],"seen":5}`)
		ent := decode(t, mustEntity(t, eng, id)).(map[string]any)
		if hits := ent["hits"].(float64); hits != 13 && hits != 113 {
			t.Errorf("hits = %v, want 13 (or 113 when the fire-and-forget hook ran before the end)", hits)
		}
	})
}

func mustEntity(t *testing.T, eng *memflow.Engine, id string) []byte {
	t.Helper()
	raw, err := eng.Entity(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

const failFlow = `
memflow: v1
workflows:
  branchFail:
    entity: doc
    steps:
      - set: { done: [] }
      - try:
          - parallel:
              - steps:
                  - id: bad
                    activity: test.typed
                    retry: { maxAttempts: 5, initialInterval: 10ms, nonRetryable: [ValidationError] }
              - steps:
                  - activity: test.echo
                    args: 1
                  - append: { done: other }
        catch:
          - merge: { caught: "${ error }" }
  fatal:
    entity: doc
    steps:
      - activity: test.fatal
  flaky:
    entity: doc
    steps:
      - id: f
        activity: test.flaky
        args: { key: flaky }
        retry: { maxAttempts: 3, initialInterval: 10ms }
      - merge: { f: "${ steps.f }" }
  hookFail:
    entity: doc
    steps:
      - try:
          - hook: failing
        catch:
          - merge: { hookError: "${ error.message }" }
hooks:
  failing:
    steps:
      - fail: "hook gave up"
`

func TestFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		acts.failures = 2
		eng := d.open(t, acts)
		loadFlow(t, eng, failFlow)
		work(t, eng, memflow.WorkerConfig{})

		// A failing branch fails the parallel step after the others ended.
		id := start(t, eng, "branchFail", nil)
		jsonEq(t, result(t, eng, id), `{"done":["other"],"caught":{"message":"ValidationError: bad order",
			"type":"ValidationError","step":"bad","attempts":1}}`)
		if n := acts.count("typed"); n != 1 {
			t.Errorf("non-retryable type ran %d times, want 1", n)
		}

		// NonRetryable fails at once; the workflow fails with the message.
		id = start(t, eng, "fatal", nil)
		if we := failure(t, eng, id); we.Status != memflow.StatusFailed || !strings.Contains(we.Message, "card declined") {
			t.Errorf("got %+v", we)
		}
		if n := acts.count("fatal"); n != 1 {
			t.Errorf("NonRetryable ran %d times, want 1", n)
		}

		// Retries with back-off until it succeeds; same idempotency key.
		id = start(t, eng, "flaky", nil, memflow.WithID("flaky-1"))
		res := result(t, eng, id).(map[string]any)["f"].(map[string]any)
		if res["calls"].(float64) != 3 || res["attempt"].(float64) != 3 || res["key"] != "flaky-1/f/1" {
			t.Errorf("flaky result %v", res)
		}

		// A failing awaited hook fails the step awaiting it.
		id = start(t, eng, "hookFail", nil)
		jsonEq(t, result(t, eng, id), `{"hookError":"hook gave up"}`)
	})
}

const waitFlow = `
memflow: v1
workflows:
  waiter:
    entity: doc
    steps:
      - id: first
        wait: go-${ workflow.id }
      - id: second
        wait: again
        timeout: 50ms
    result: ${ steps.first }
  napper:
    entity: doc
    steps:
      - sleep: 30ms
      - sleep: { until: "${ now() }" }
      - signal: self
        data: { hello: 1 }
      - id: got
        wait: self
      - signal: poke
        to: ${ input.other }
        data: 7
    result: ${ steps.got }
  poked:
    entity: doc
    steps:
      - id: p
        wait: poke
    result: ${ steps.p }
  parent:
    entity: doc
    steps:
      - id: kid2
        workflow: napper
        args: { other: "kid-${ workflow.id }" }
        await: false
      - id: kid
        workflow: poked
        workflowId: kid-${ workflow.id }
    result: ${ steps.kid }
  slow:
    entity: doc
    timeout: 50ms
    steps:
      - wait: never
`

func TestSignalsTimersChildren(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, waitFlow)
		work(t, eng, memflow.WorkerConfig{})
		ctx := context.Background()

		id := start(t, eng, "waiter", nil, memflow.WithID("w1"))
		if err := eng.Signal(ctx, id, "go-w1", map[string]any{"ok": true}); err != nil {
			t.Fatal(err)
		}
		we := failure(t, eng, id)
		if !strings.Contains(we.Message, `wait for signal "again" timed out`) {
			t.Errorf("want a wait timeout, got %q", we.Message)
		}

		// A parent awaits a child that another workflow signals.
		pid := start(t, eng, "parent", nil, memflow.WithID("p1"))
		jsonEq(t, result(t, eng, pid), `7`)

		id = start(t, eng, "slow", nil)
		if we := failure(t, eng, id); !strings.Contains(we.Message, "timed out") {
			t.Errorf("want a workflow timeout, got %q", we.Message)
		}
	})
}

func TestCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		acts.gate = make(chan struct{})
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  blocked:
    entity: doc
    steps:
      - activity: test.block
        timeout: 1m
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "blocked", nil)
		eventually(t, "the activity to start", func() bool { return acts.count("block") == 1 })
		if err := eng.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if we := failure(t, eng, id); we.Status != memflow.StatusCancelled {
			t.Errorf("status %s, want cancelled", we.Status)
		}
		eventually(t, "the running activity to be cancelled", func() bool { return acts.count("block-cancelled") == 1 })
	})
}
