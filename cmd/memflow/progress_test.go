package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// Branch rows show what they did with templated paths rendered and their
// counter; a fan-out's end says done without a list of nulls.
func TestProgressLineFanOut(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		ev   memflow.Event
		want string
	}{
		{memflow.Event{At: start, Kind: "step", Thread: "t2", Step: "step-5",
			Detail: json.RawMessage(`{"branch":2,"branches":300,"desc":"increment byName.${ item }","did":"increment byName.ana","output":null}`)},
			"   0.000s  increment byName.ana (2/300)"},
		{memflow.Event{At: start, Kind: "step", Step: "step-1",
			Detail: json.RawMessage(`{"desc":"forEach input.names","output":[null,null,null]}`)},
			"   0.000s  forEach input.names done"},
		{memflow.Event{At: start, Kind: "step", Step: "par",
			Detail: json.RawMessage(`{"desc":"par: parallel ×3","output":[null,null,null]}`)},
			"   0.000s  par: parallel ×3 done"},
		{memflow.Event{At: start, Kind: "step", Step: "par",
			Detail: json.RawMessage(`{"desc":"par: parallel ×2","output":[1,null]}`)},
			"   0.000s  par: parallel ×2 done -> [1,null]"},
		{memflow.Event{At: start, Kind: "step", Step: "step-3",
			Detail: json.RawMessage(`{"desc":"hook notify (no wait)","output":null}`)},
			"   0.000s  hook notify (no wait)"},
		{memflow.Event{At: start, Kind: "step", Step: "kid",
			Detail: json.RawMessage(`{"desc":"kid: workflow child","output":{"ok":true}}`)},
			`   0.000s  kid: workflow child done -> {"ok":true}`},
		// A step whose id reads like a kind is not taken for one.
		{memflow.Event{At: start, Kind: "step", Step: "hook",
			Detail: json.RawMessage(`{"desc":"hook: activity a.b","output":1}`)},
			"   0.000s  hook: activity a.b -> 1"},
	} {
		if got := progressLine(tc.ev, start); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.ev.Detail, got, tc.want)
		}
	}
}

// On a terminal the rows of one fan-out fold into one line rewritten in
// place; into a pipe every row is its own line. A hook step's row right
// after the hook's completed row is left out unless it has a result.
func TestProgressPrinterFolds(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var evs []memflow.Event
	evs = append(evs, memflow.Event{At: start, Kind: "started", Detail: json.RawMessage(`{"workflow":"fan"}`)})
	for i := 1; i <= 300; i++ {
		evs = append(evs, memflow.Event{At: start, Kind: "step", Step: "step-5", Detail: json.RawMessage(
			fmt.Sprintf(`{"branch":%d,"branches":300,"desc":"increment byName.${ item }","did":"increment byName.n%d","output":null}`, i, i))})
	}
	evs = append(evs,
		memflow.Event{At: start, Kind: "step", Step: "step-1", Detail: json.RawMessage(`{"desc":"forEach input.names","output":[]}`)},
		memflow.Event{At: start, Kind: "hook-completed", Detail: json.RawMessage(`{"hook":"poke"}`)},
		memflow.Event{At: start, Kind: "step", Step: "step-2", Detail: json.RawMessage(`{"desc":"hook poke","output":null}`)},
		memflow.Event{At: start, Kind: "hook-completed", Detail: json.RawMessage(`{"hook":"poke"}`)},
		memflow.Event{At: start, Kind: "step", Step: "step-3", Detail: json.RawMessage(`{"desc":"hook poke","output":{"n":1}}`)},
	)
	var pipe bytes.Buffer
	p := newProgressPrinter(&pipe)
	for _, ev := range evs {
		p.print(ev, start)
	}
	p.end()
	lines := strings.Split(strings.TrimSuffix(pipe.String(), "\n"), "\n")
	if len(lines) != 1+300+1+1+1+1 || lines[2] != "   0.000s  increment byName.n2 (2/300)" || strings.Contains(pipe.String(), "\r") {
		t.Errorf("pipe: %d lines, line 3 %q", len(lines), lines[2])
	}
	if strings.Contains(pipe.String(), "hook poke done\n") || !strings.Contains(pipe.String(), `hook poke done -> {"n":1}`) {
		t.Errorf("hook rows:\n%s", pipe.String())
	}
	var tty bytes.Buffer
	p = &progressPrinter{w: &tty, tty: true}
	for _, ev := range evs {
		p.print(ev, start)
	}
	p.end()
	out := tty.String()
	if n := strings.Count(out, "\n"); n != 1+1+1+1+1+1 {
		t.Errorf("terminal: %d lines, want the 300 branch rows on one:\n%q", n, out)
	}
	if strings.Count(out, "\r\033[K") != 299 || !strings.Contains(out, "\r\033[K   0.000s  increment byName.n300 (300/300)\n") {
		t.Errorf("terminal: the folded line does not end on the last row:\n%q", out[len(out)-300:])
	}
}

// A run's progress renders templated paths, counts the branches and shows
// no list of nulls, on both stores (the runtime writes the rows).
func TestRunProgressOfFanOuts(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow := filepath.Join(t.TempDir(), "fan.yaml")
		os.WriteFile(flow, []byte(`memflow: v1
workflows:
  fan:
    entity: counter
    steps:
      - set: { byName: {} }
      - forEach: ${ input.names }
        as: item
        steps:
          - increment: { "byName.${ item }": 1 }
      - id: par
        parallel:
          - steps: [ { merge: { a: 1 } } ]
          - steps: [ { merge: { b: 1 } } ]
          - steps: [ { merge: { c: 1 } } ]
      - hook: poke
      - return: ${ entity.byName }
hooks:
  poke:
    steps:
      - merge: { poked: true }
`), 0o644)
		code, out, errs := cli(t, append([]string{"run", flow, "--args", `{"names":["ana","bo","ana"]}`}, s.flags()...)...)
		if code != 0 || !strings.Contains(out, `"ana": 2`) {
			t.Fatalf("exit %d %s %s", code, out, errs)
		}
		for _, want := range []string{
			"  increment byName.ana -> 1 (1/3)\n", "  increment byName.bo -> 1 (2/3)\n", "  increment byName.ana -> 2 (3/3)\n",
			"  forEach input.names done\n", "  merge b -> {", "  par: parallel ×3 done\n", "✓ hook poke completed\n",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("progress lacks %q:\n%s", want, errs)
			}
		}
		for _, bad := range []string{"${ item }", "null", "hook poke done"} {
			if strings.Contains(errs, bad) {
				t.Errorf("progress shows %q:\n%s", bad, errs)
			}
		}
	})
}
