package memflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/runtime"
)

// deepValue is an array nested depth levels deep.
func deepValue(depth int) any {
	var v any = []any{}
	for range depth - 1 {
		v = []any{v}
	}
	return v
}

const limitsFlow = `
memflow: v1
workflows:
  deepResult:
    entity: limits
    steps:
      - activity: t.deep
  deepEntity:
    entity: limits
    steps:
      - setIfNotExists: { a.b: "${ input.v }" }
  exact:
    entity: limits
    steps:
      - set: { n: "${ input.n }" }
      - id: more
        wait: more
      - merge: { m: "${ steps.more.m }" }
      - return: { n: "${ input.n }", m: "${ steps.more.m }" }
hooks:
  h:
    steps:
      - merge: { h: "${ input }" }
`

// openLimits opens an engine with limitsFlow loaded and its activity
// registered; it is closed when the test ends.
func openLimits(t *testing.T, url, app string) *memflow.Engine {
	t.Helper()
	eng, err := memflow.Open(context.Background(), url, memflow.Config{App: app})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if err := eng.Register("t.deep", func(ctx context.Context) (any, error) {
		return deepValue(runtime.MaxNesting + 1), nil
	}); err != nil {
		t.Fatal(err)
	}
	loadFlow(t, eng, limitsFlow)
	return eng
}

// Every way a value enters the store refuses one nested deeper than
// runtime.MaxNesting: start and hook arguments and signal data at the call,
// an activity's result and an entity write by failing the step.
func TestNestingDepthEveryEntry(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := openLimits(t, d.URL, d.App)
		work(t, eng, memflow.WorkerConfig{})
		ctx := testCtx(t)
		tooDeep := "nested 101 levels deep; the limit is 100"

		if _, err := eng.Start(ctx, "deepEntity", map[string]any{"v": deepValue(runtime.MaxNesting)}); !errors.Is(err, memflow.ErrInvalidInput) || !strings.Contains(err.Error(), tooDeep) {
			t.Errorf("start arguments: %v", err)
		}
		id := start(t, eng, "exact", map[string]any{"n": 1})
		if err := eng.Signal(ctx, id, "more", deepValue(runtime.MaxNesting+1)); err == nil || !strings.Contains(err.Error(), tooDeep) {
			t.Errorf("signal data: %v", err)
		}
		if err := eng.Hook(ctx, id, "h", deepValue(runtime.MaxNesting+1)); err == nil || !strings.Contains(err.Error(), tooDeep) {
			t.Errorf("hook arguments: %v", err)
		}
		if we := failure(t, eng, start(t, eng, "deepResult", nil)); !strings.Contains(we.Message, tooDeep) {
			t.Errorf("activity result: %s", we.Message)
		}
		// Arguments at the limit are accepted; the entity holding them two
		// levels down is not.
		we := failure(t, eng, start(t, eng, "deepEntity", map[string]any{"v": deepValue(runtime.MaxNesting - 1)}))
		if !strings.Contains(we.Message, "entity: value is "+tooDeep) {
			t.Errorf("entity write: %s", we.Message)
		}
		if err := eng.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
}

// The Go API keeps whole numbers exact to the int64 range, whether given as
// raw JSON or Go integers, and refuses those beyond it.
func TestGoAPIIntegers(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := openLimits(t, d.URL, d.App)
		ctx := testCtx(t)
		id := start(t, eng, "exact", json.RawMessage(`{"n": 9007199254740993}`))
		if err := eng.Signal(ctx, id, "more", map[string]any{"m": int64(math.MinInt64)}); err != nil {
			t.Fatal(err)
		}
		work(t, eng, memflow.WorkerConfig{})
		raw, err := eng.Result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var compact strings.Builder
		compact.Write(raw)
		if got := strings.ReplaceAll(compact.String(), " ", ""); got != `{"m":-9223372036854775808,"n":9007199254740993}` {
			t.Errorf("result %s", raw)
		}
		in, err := eng.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.ReplaceAll(string(in.Entity), " ", ""); !strings.Contains(s, `"n":9007199254740993`) {
			t.Errorf("entity %s", in.Entity)
		}
		_, err = eng.Start(ctx, "exact", json.RawMessage(`{"n": 123456789012345678901234567890}`))
		if !errors.Is(err, memflow.ErrInvalidInput) || !strings.Contains(err.Error(), "whole number 123456789012345678901234567890 at .n is outside the 64-bit integer range") {
			t.Errorf("start beyond int64: %v", err)
		}
		id2 := start(t, eng, "exact", map[string]any{"n": 1})
		if err := eng.Signal(ctx, id2, "more", uint64(math.MaxUint64)); err == nil || !strings.Contains(err.Error(), "18446744073709551615") {
			t.Errorf("signal beyond int64: %v", err)
		}
		if _, err := eng.Find(ctx, "limits", nil, memflow.FindOptions{Limit: -1}); err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("find with a negative limit: %v", err)
		}
	})
}

// A wait rides out connections the server terminates (as on a restart or
// an administrator's pg_terminate_backend) and returns the result once the
// instance completes. Before, the first poll on a dead connection failed
// Result with "terminating connection due to administrator command".
func TestResultRidesOutTerminatedConnections(t *testing.T) {
	url := pgtest.Database(t) // its own database: terminating its sessions touches no other test
	ctx := testCtx(t)
	waiter := openLimits(t, url, "")
	id := start(t, waiter, "exact", map[string]any{"n": 1})

	type res struct {
		raw json.RawMessage
		err error
	}
	done := make(chan res, 1)
	go func() {
		raw, err := waiter.Result(ctx, id)
		done <- res{raw, err}
	}()

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for round := range 3 {
		var killed []int32
		if err := admin.QueryRow(ctx, `SELECT coalesce(array_agg(pid), '{}') FROM (
  SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid()) k`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if len(killed) == 0 {
			t.Fatalf("round %d: the waiter holds no session to terminate", round)
		}
		// The wait goes on: its poll runs again on a new session.
		eventually(t, "the wait's poll on a new session", func() bool {
			select {
			case r := <-done:
				t.Fatalf("round %d: Result returned during the outage: %s %v", round, r.raw, r.err)
			default:
			}
			var n int
			err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT pid = ANY($1)
  AND query LIKE '%FROM jobs WHERE id%'`, killed).Scan(&n)
			return err == nil && n > 0
		})
		select {
		case r := <-done:
			t.Fatalf("round %d: Result returned during the outage: %s %v", round, r.raw, r.err)
		default:
		}
	}

	// Another process signals and works on the instance.
	worker := openLimits(t, url, "")
	if err := worker.Signal(ctx, id, "more", map[string]any{"m": 2}); err != nil {
		t.Fatal(err)
	}
	stop := work(t, worker, memflow.WorkerConfig{})
	defer stop()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Result: %v", r.err)
		}
		jsonEq(t, decode(t, r.raw), `{"n": 1, "m": 2}`)
	case <-time.After(30 * time.Second):
		t.Fatal("Result did not return after the instance completed")
	}
}
