package schemas

import (
	"encoding/json"
	"testing"
)

func TestFlowSchemaIsDraft2020(t *testing.T) {
	var doc struct {
		Schema     string                     `json:"$schema"`
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(Flow(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema %q", doc.Schema)
	}
	for _, k := range []string{"memflow", "app", "taskQueue", "entities", "workflows", "hooks"} {
		if doc.Properties[k] == nil {
			t.Errorf("no property %q", k)
		}
	}
	for _, k := range []string{"step", "workflow", "hook", "retry", "duration"} {
		if doc.Defs[k] == nil {
			t.Errorf("no $defs/%s", k)
		}
	}
	// Flow returns a copy: callers cannot change the embedded schema.
	b := Flow()
	b[0] = 'x'
	if Flow()[0] == 'x' {
		t.Fatal("Flow shares its bytes")
	}
}
