package memflow_test

import (
	"testing"

	"github.com/memflow/memflow"
)

// A poison expression (one that would build gigabytes) fails its step with
// error type LimitExceeded, which a catch sees; the worker that ran it goes
// on to run the next workflow. Before the limits the worker died with
// "fatal error: out of memory".
func TestPoisonExpressionIsCaught(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  doubling:
    entity: doc
    steps:
      - try:
          - set: { n: "${ len(reduce(1..40, #acc + #acc, 'xx')) }" }
        catch:
          - set: { type: "${ error.type }", message: "${ error.message }" }
  json:
    entity: doc
    steps:
      - try:
          - set: { n: "${ len(reduce(1..60, toJSON([#acc, #acc]), 'x')) }" }
        catch:
          - set: { type: "${ error.type }" }
  uncaught:
    entity: doc
    steps:
      - set: { s: "${ repeat('x', 1000000000000) }" }
  fine:
    entity: doc
    steps:
      - set: { s: "${ repeat('ab', 2) + input.tail }" }
`)
		work(t, eng, memflow.WorkerConfig{})

		res := result(t, eng, start(t, eng, "doubling", nil)).(map[string]any)
		if res["type"] != "LimitExceeded" {
			t.Errorf("error.type = %v, want LimitExceeded (%v)", res["type"], res["message"])
		}
		if !contains(res["message"], "flow.yaml:7:27: ") || !contains(res["message"], "MaxExprValueBytes") {
			t.Errorf("error.message does not name the expression's line and the limit: %v", res["message"])
		}
		jsonEq(t, result(t, eng, start(t, eng, "json", nil)), `{"type":"LimitExceeded"}`)

		we := failure(t, eng, start(t, eng, "uncaught", nil))
		if we.Status != "failed" || !contains(we.Message, "flow.yaml:20:23: ") || !contains(we.Message, "limit exceeded") {
			t.Errorf("uncaught poison: %v, want a failure naming the expression and the limit", we)
		}

		// The same worker still runs workflows.
		jsonEq(t, result(t, eng, start(t, eng, "fine", map[string]any{"tail": "!"})), `{"s":"abab!"}`)
	})
}
