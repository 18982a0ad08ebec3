package memflow_test

import (
	"strings"
	"testing"

	"github.com/memflow/memflow"
)

// A command step's output is the value at its path after the step; a step
// of several commands outputs a map from each path to its value. multiply
// multiplies in place.
func TestCommandOutputs(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  cmds:
    entity: doc
    steps:
      - id: s
        set: { count: 1, price: 10, user: { name: a }, list: [] }
      - id: inc
        increment: { count: 4 }
      - id: mul
        multiply: { price: 2.5 }
      - id: mulInt
        multiply: { count: 3 }
      - id: merged
        merge: { user: { age: 3 } }
      - id: app
        append: { list: x }
      - id: tog
        toggle: flag
      - id: two
        increment: { a: 1, b: 2 }
      - id: del
        delete: user.name
      - id: sine
        setIfNotExists: { count: 99 }
    result:
      s: ${ steps.s.count }
      inc: ${ steps.inc }
      mul: ${ steps.mul }
      mulInt: ${ steps.mulInt }
      merged: ${ steps.merged }
      app: ${ steps.app }
      tog: ${ steps.tog }
      two: ${ steps.two }
      del: ${ steps.del }
      sine: ${ steps.sine }
      entity: ${ entity }
  bad:
    entity: doc
    steps:
      - multiply: { missing: 2 }
`)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "cmds", nil)), `{"s":1,"inc":5,"mul":25,"mulInt":15,
"merged":{"count":15,"price":25,"user":{"name":"a","age":3},"list":[]},"app":["x"],"tog":true,
"two":{"a":1,"b":2},"del":null,"sine":15,
"entity":{"count":15,"price":25,"user":{"age":3},"list":["x"],"flag":true,"a":1,"b":2}}`)
		we := failure(t, eng, start(t, eng, "bad", nil))
		if !strings.Contains(we.Message, `multiply "missing": found nothing, want a number`) {
			t.Errorf("multiply of a missing field: %v", we.Message)
		}
	})
}
