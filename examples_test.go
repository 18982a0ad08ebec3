package memflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/flows/demo"
)

// The two example flows run end to end with the demo activities.
func TestExampleFlows(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		if err := demo.Register(eng); err != nil {
			t.Fatal(err)
		}
		if err := eng.LoadFlows(ctx, "flows/examples"); err != nil {
			t.Fatal(err)
		}
		work(t, eng, memflow.WorkerConfig{})

		id := start(t, eng, "researchAgent", map[string]any{"query": "is solid-state battery tech ready?"})
		res := result(t, eng, id).(map[string]any)
		if res["status"] != "completed" || len(res["findings"].([]any)) != 2 {
			t.Errorf("research result %v", res)
		}
		persp := res["perspectives"].(map[string]any)
		for _, k := range []string{"optimistic", "skeptical", "synthesis"} {
			if persp[k] == nil {
				t.Errorf("perspective %s missing in %v", k, persp)
			}
		}
		premium, err := eng.Find(ctx, "research-agent", []memflow.Condition{memflow.Where("isPremium", false)}, memflow.FindOptions{})
		if err != nil || len(premium) != 1 || premium[0].ID != id {
			t.Errorf("find by isPremium: %v %v", premium, err)
		}
		if _, err := eng.Start(ctx, "researchAgent", map[string]any{"query": ""}); err == nil {
			t.Error("an empty query was accepted")
		}

		doc := start(t, eng, "documentProcessingPipeline", map[string]any{"documentId": "d-7"})
		eventually(t, "the approval wait", func() bool {
			return strings.Contains(string(mustEntity(t, eng, doc)), "awaiting-approval")
		})
		if err := eng.Signal(ctx, doc, "approval", map[string]any{"approved": true, "by": "ana"}); err != nil {
			t.Fatal(err)
		}
		out := result(t, eng, doc).(map[string]any)
		if out["status"] != "completed" || out["approvedBy"] != "ana" || len(out["extractedInfo"].([]any)) != 3 ||
			len(out["pageSignals"].(map[string]any)) != 3 {
			t.Errorf("pipeline result %v", out)
		}

		rejected := start(t, eng, "documentProcessingPipeline", map[string]any{"documentId": "d-8"})
		if err := eng.Signal(ctx, rejected, "approval", map[string]any{"approved": false, "by": "bo"}); err != nil {
			t.Fatal(err)
		}
		if we := failure(t, eng, rejected); !strings.Contains(we.Message, "rejected by bo") {
			t.Errorf("rejection: %v", we)
		}
	})
}
