package memflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/memflow/memflow"
)

// EntityAt replays the patches the transitions stored: after every history
// row it gives the entity that row's transition left, numbers exact, and
// the last row gives the entity now.
func TestEntityTimeTravel(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, newActs())
		loadFlow(t, eng, `memflow: v1
workflows:
  travel:
    entity: trip
    steps:
      - set: { big: 9007199254740993, legs: [], where: home }
      - id: go
        wait: go
      - merge: { where: "${ steps.go.to }" }
      - append: { legs: "${ steps.go.to }" }
      - delete: [ big ]
`)
		work(t, eng, memflow.WorkerConfig{})
		ctx := testCtx(t)
		id, err := eng.Start(ctx, "travel", nil, memflow.WithID("trip-1"))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the wait", func() bool {
			st, err := eng.Status(ctx, id)
			return err == nil && len(st.Threads) > 0 && st.Threads[0].Doing == memflow.DoingSignal
		})
		if err := eng.Signal(ctx, id, "go", map[string]any{"to": "lisbon"}); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Result(ctx, id); err != nil {
			t.Fatal(err)
		}
		hist, err := eng.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		at := func(seq int64) string {
			t.Helper()
			b, err := eng.EntityAt(ctx, id, seq)
			if err != nil {
				t.Fatalf("EntityAt(%d): %v", seq, err)
			}
			var v any
			json.Unmarshal(b, &v)
			out, _ := json.Marshal(v)
			return string(b) + " " + string(out)
		}
		var afterSet, afterMerge, afterDelete int64
		for _, h := range hist {
			var det struct{ Desc string }
			json.Unmarshal(h.Detail, &det)
			switch {
			case h.Kind == "step" && afterSet == 0:
				afterSet = h.Seq
			case h.Kind == "step" && len(det.Desc) > 5 && det.Desc[:5] == "merge":
				afterMerge = h.Seq
			case h.Kind == "step" && len(det.Desc) > 6 && det.Desc[:6] == "delete":
				afterDelete = h.Seq
			}
		}
		if afterSet == 0 || afterMerge == 0 || afterDelete == 0 {
			t.Fatalf("history rows not found: %+v", hist)
		}
		if got := string(must(eng.EntityAt(ctx, id, 1))); got != "{}" && got != "null" {
			t.Errorf("after start: %s", got)
		}
		for seq, want := range map[int64]string{
			afterSet:    `{"big":9007199254740993,"legs":[],"where":"home"}`,
			afterMerge:  `{"big":9007199254740993,"legs":[],"where":"lisbon"}`,
			afterDelete: `{"legs":["lisbon"],"where":"lisbon"}`,
		} {
			got := must(eng.EntityAt(ctx, id, seq))
			if !jsonEqualExact(got, want) {
				t.Errorf("after row %d: %s, want %s (%s)", seq, got, want, at(seq))
			}
		}
		now, _ := eng.Entity(ctx, id)
		last := hist[len(hist)-1].Seq
		if got := must(eng.EntityAt(ctx, id, last)); !jsonEqualExact(got, string(now)) {
			t.Errorf("after the last row: %s, the entity is %s", got, now)
		}
		if _, err := eng.EntityAt(ctx, id, last+1); !errors.Is(err, memflow.ErrNotFound) {
			t.Errorf("beyond the history: %v", err)
		}
		if _, err := eng.EntityAt(ctx, "nope", 1); !errors.Is(err, memflow.ErrNotFound) {
			t.Errorf("unknown instance: %v", err)
		}
	})
}

func must(b json.RawMessage, err error) json.RawMessage {
	if err != nil {
		panic(err)
	}
	return b
}

// jsonEqualExact compares two JSON documents with numbers as written.
func jsonEqualExact(a json.RawMessage, b string) bool {
	norm := func(s []byte) string {
		d := json.NewDecoder(bytes.NewReader(s))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return "invalid"
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm([]byte(b))
}
