package memflow_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow"
)

// LoadFlows before Register says that activities are checked at load, and
// which ones were registered; registering and loading again works.
func TestLoadBeforeRegisterSaysRegisterFirst(t *testing.T) {
	d := sqliteDB(t)
	eng := d.open(t, nil)
	path := filepath.Join(t.TempDir(), "mail.yaml")
	writeFile(t, path, `
memflow: v1
workflows:
  mail:
    entity: mail
    steps:
      - activity: email.send
`)
	err := eng.LoadFlows(testCtx(t), path)
	var fe *memflow.FlowError
	want := "flows are checked against the activities registered when they load: call Engine.Register for each activity before LoadFlows (registered: http.request, log)"
	if !errors.As(err, &fe) || fe.Hint != want || !strings.HasSuffix(err.Error(), "\n"+want) || !strings.Contains(err.Error(), `unknown activity "email.send"`) {
		t.Fatalf("err = %v\nwant the hint %q", err, want)
	}
	if err := eng.Register("email.send", func(ctx context.Context) (string, error) { return "sent", nil }); err != nil {
		t.Fatal(err)
	}
	if err := eng.LoadFlows(testCtx(t), path); err != nil {
		t.Fatalf("after Register: %v", err)
	}
	// Other load errors carry no such hint.
	writeFile(t, path, "memflow: v1\nworkflows:\n  mail:\n    entity: mail\n    steps:\n      - fail: ${ nope( }\n")
	if err := eng.LoadFlows(testCtx(t), path); !errors.As(err, &fe) || fe.Hint != "" {
		t.Errorf("hint on an unrelated error: %v", err)
	}
}

type shipment struct {
	Order  string `json:"order"`
	Status string `json:"status"`
	Count  int64  `json:"count"`
}

// ResultAs and EntityAs decode into Go types on both stores; failures keep
// their types and a result that does not fit names the type.
func TestResultAsEntityAs(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  ship:
    entity: shipment
    steps:
      - set: { order: "${ input.order }", status: packed, count: 9007199254740993 }
      - if: ${ input.order == "bad" }
        then: [ { fail: "no such order" } ]
      - return: { order: "${ input.order }", status: shipped, count: 2 }
`)
		work(t, eng, memflow.WorkerConfig{})
		ctx := testCtx(t)
		id := start(t, eng, "ship", map[string]any{"order": "o-1"})
		res, err := memflow.ResultAs[shipment](ctx, eng, id)
		if err != nil || res != (shipment{Order: "o-1", Status: "shipped", Count: 2}) {
			t.Errorf("ResultAs = %+v, %v", res, err)
		}
		ent, err := memflow.EntityAs[shipment](ctx, eng, id)
		if err != nil || ent != (shipment{Order: "o-1", Status: "packed", Count: 9007199254740993}) {
			t.Errorf("EntityAs = %+v, %v", ent, err)
		}
		if _, err := memflow.ResultAs[[]string](ctx, eng, id); err == nil || !strings.Contains(err.Error(), `result of "`+id+`" as []string: `) {
			t.Errorf("ResultAs into the wrong type: %v", err)
		}
		bad := start(t, eng, "ship", map[string]any{"order": "bad"})
		var we *memflow.WorkflowError
		if _, err := memflow.ResultAs[shipment](ctx, eng, bad); !errors.As(err, &we) || we.Message != "no such order" {
			t.Errorf("failed instance: %v", err)
		}
		if _, err := memflow.EntityAs[shipment](ctx, eng, "nope"); !memflow.IsNotFound(err) || err.Error() != `no instance "nope"` {
			t.Errorf("unknown id: %v", err)
		}
	})
}
