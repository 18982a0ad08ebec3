package demo_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/flows/demo"
)

// Every demo activity is registered and answers deterministically.
func TestDemoActivities(t *testing.T) {
	r := activities.NewRegistry()
	if err := demo.Register(r); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string]string{
		"research.perspective":    `{"stance":"skeptical","query":"q"}`,
		"research.verify":         `{"query":"q"}`,
		"research.synthesize":     `{"perspectives":{"optimistic":{"confidence":0.8},"skeptical":{"confidence":0.4}}}`,
		"pipeline.loadImagePages": `{"documentId":"d"}`,
		"pipeline.extractPage":    `{"ref":"r","page":2}`,
		"pipeline.validate":       `{"info":[{"page":1,"text":"t"},{"page":2}]}`,
		"pipeline.notify":         `{"documentId":"d","status":"approved"}`,
	} {
		fn, ok := r.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		a, err := fn(context.Background(), json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := fn(context.Background(), json.RawMessage(args))
		if string(a) != string(b) {
			t.Errorf("%s is not deterministic: %s vs %s", name, a, b)
		}
	}
	fn, _ := r.Lookup("research.synthesize")
	out, _ := fn(context.Background(), json.RawMessage(`{"perspectives":{"optimistic":{"confidence":0.8},"skeptical":{"confidence":0.4}}}`))
	var s demo.SynthesisResult
	if err := json.Unmarshal(out, &s); err != nil || s.Confidence != 0.6 {
		t.Errorf("synthesis %s: %v", out, err)
	}
	fn, _ = r.Lookup("pipeline.validate")
	out, _ = fn(context.Background(), json.RawMessage(`{"info":[{"page":1,"text":"t"},{"page":2}]}`))
	var v demo.ValidateResult
	if err := json.Unmarshal(out, &v); err != nil || v.Valid || len(v.Issues) != 1 {
		t.Errorf("validate %s: %v", out, err)
	}
}
