package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	long := `{"text":"` + strings.Repeat("x", 200) + `"}`
	for _, tc := range []struct {
		ev   memflow.Event
		want string
	}{
		{memflow.Event{At: start, Kind: "started", Detail: json.RawMessage(`{"workflow":"agent","input":{}}`)},
			"   0.000s  → agent started"},
		{memflow.Event{At: at(21), Kind: "step", Thread: "t4", Step: "step-1",
			Detail: json.RawMessage(`{"hook":"optimistic","desc":"merge perspectives","output":null,"tick":2}`)},
			"   0.021s  optimistic › merge perspectives"},
		{memflow.Event{At: at(21), Kind: "step", Thread: "t4", Step: "view",
			Detail: json.RawMessage(`{"hook":"optimistic","desc":"view: activity research.perspective","output":{"confidence":0.51}}`)},
			`   0.021s  optimistic › view: activity research.perspective -> {"confidence":0.51}`},
		{memflow.Event{At: at(22), Kind: "step", Step: "step-0", Detail: json.RawMessage(`{"desc":"log","output":` + long + `}`)},
			`   0.022s  log -> {"text":"` + strings.Repeat("x", maxShown-10) + "…"},
		// A row written before rows carried a desc shows its step label.
		{memflow.Event{At: at(1), Kind: "step", Step: "view", Detail: json.RawMessage(`{"output":1}`)},
			"   0.001s  view -> 1"},
		{memflow.Event{At: at(0), Kind: "hook-started", Thread: "t4", Detail: json.RawMessage(`{"hook":"optimistic","input":{}}`)},
			"   0.000s  → hook optimistic started"},
		{memflow.Event{At: at(30), Kind: "retry", Thread: "t4", Step: "view",
			Detail: json.RawMessage(`{"hook":"optimistic","desc":"view: activity a.b","error":{"message":"boom"},"in":"1s"}`)},
			"   0.030s  ↻ optimistic › view: activity a.b failed: boom; retrying in 1s"},
		{memflow.Event{At: at(31), Kind: "error", Step: "step-0", Detail: json.RawMessage(`{"desc":"fail no luck","message":"no luck","type":"Error"}`)},
			"   0.031s  ✗ fail no luck: no luck"},
		{memflow.Event{At: at(43), Kind: "completed", Detail: json.RawMessage(`{"result":{}}`)},
			"   0.043s  ✓ completed in 43ms"},
		{memflow.Event{At: at(44), Kind: "failed", Detail: json.RawMessage(`{"message":"no luck","type":"Error"}`)},
			"   0.044s  ✗ failed: no luck"},
	} {
		got := progressLine(tc.ev, start)
		if got != tc.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tc.ev.Kind, tc.ev.Detail, got, tc.want)
		}
		if strings.Contains(got, "t4") {
			t.Errorf("%q names a thread id", got)
		}
	}
}
