package compiler

import (
	"testing"
	"time"
)

func TestValueEval(t *testing.T) {
	raw := map[string]any{
		"id":   `${ input.documentId ?? ("doc-" + string(now().Unix())) }`,
		"page": "page-${ index + 1 }-done",
		"n":    "${ input.n % 2 }",
	}
	v, err := NewValue(raw, Pos{File: "f.yaml", Line: 1, Col: 1}, []string{"index"})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Unix(1700000000, 0) }
	out, err := v.Eval(&Env{Input: map[string]any{"n": 5}, Vars: map[string]any{"index": 2}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	if m["id"] != "doc-1700000000" || m["page"] != "page-3-done" || m["n"] != 1 {
		t.Fatalf("got %#v", m)
	}
	if _, err := NewExpr("nosuch.x", Pos{}, nil); err == nil {
		t.Fatal("unknown name compiled")
	}
}
