package memflow_test

import (
	"testing"
	"time"

	"github.com/memflow/memflow"
)

// now() and workflow.startedAt read as RFC 3339 text in UTC with exactly
// nine fraction digits, whole values and interpolations alike, at any
// depth, so stored times sort as text.
func TestNowFixedWidth(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
		eng, err := memflow.Open(ctx, d.URL, memflow.Config{App: d.App, Clock: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		loadFlow(t, eng, `
memflow: v1
workflows:
  times:
    entity: doc
    steps:
      - set:
          whole: ${ now() }
          text: "at ${ now() }"
          nested: { list: ["${ now() }"] }
          started: ${ workflow.startedAt }
    result: ${ entity }
`)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "times", nil)), `{"whole":"2026-01-02T02:04:05.000000000Z",
"text":"at 2026-01-02T02:04:05.000000000Z","nested":{"list":["2026-01-02T02:04:05.000000000Z"]},
"started":"2026-01-02T02:04:05.000000000Z"}`)
	})
}
