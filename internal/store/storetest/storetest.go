package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// Run runs every behaviour of the Store contract. open must return a fresh,
// empty store for the calling test and arrange for it to be closed.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"InsertJobIdempotent", testInsertJob},
		{"UpdateJob", testUpdateJob},
		{"RollbackWritesNothing", testRollback},
		{"Commands", testCommands},
		{"FailedCommandsWriteNothing", testFailedCommands},
		{"LostUpdate", testLostUpdate},
		{"Tasks", testTasks},
		{"ClaimSkipLocked", testClaimSplit},
		{"ExtendLease", testExtendLease},
		{"ReleaseAndTake", testReleaseAndTake},
		{"CreateJob", testCreateJob}, {"WriteTransition", testWriteTransition},
		{"Wakeups", testWakeups},
		{"History", testHistory},
		{"FlowVersions", testFlowVersions},
		{"Catalogue", testCatalogue}, {"LoadReportsBounded", testLoadReportsBounded},
		{"Find", testFind},
		{"FindErrors", testFindErrors},
		{"FindOps", testFindOps}, {"FindOpErrors", testFindOpErrors}, {"FindSort", testFindSort},
		{"FindCursor", testFindCursor}, {"ArrayIndexKeptCurrent", testArrayIndexKeptCurrent},
		{"Tree", testTree},
		{"Descendants", testDescendants},
		{"PendingSignals", testPendingSignals},
		{"ExpiredJobs", testExpiredJobs},
		{"ListJobs", testListJobs}, {"JobTasksAndHistoryAfter", testJobTasksAndHistoryAfter},
		{"ClaimRoot", testClaimRoot}, {"Heartbeats", testHeartbeats}, {"ReadyTasks", testReadyTasks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// RunOpenRace opens the same app from 4 goroutines at once: provisioning
// must succeed for all of them and leave one working schema. The 4 stores
// then increment one counter concurrently, as 4 processes would: no update
// may be lost.
func RunOpenRace(t *testing.T, open func(ctx context.Context) (store.Store, error)) {
	ctx := context.Background()
	const n = 4
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = open(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		err := s.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.InsertJob(ctx, store.Job{ID: fmt.Sprintf("race-%d", i), Entity: "e"})
			return err
		})
		if err != nil {
			t.Fatalf("insert through store %d: %v", i, err)
		}
	}
	got, err := stores[0].Find(ctx, "e", nil, store.FindParams{})
	if err != nil || len(got) != n {
		t.Fatalf("find after racing opens: %d jobs, err %v; want %d", len(got), err, n)
	}
	const each = 50
	errs = make([]error, n)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs[i] = s.InTx(ctx, func(tx store.Tx) error {
					_, err := tx.Apply(ctx, "race-0", []store.Command{{Op: store.OpIncrement, Path: "n", Value: 1}})
					return err
				})
				if errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("increment through store %d: %v", i, err)
		}
	}
	if got := getDoc(t, stores[3], "race-0").(map[string]any)["n"]; got != float64(n*each) {
		t.Fatalf("counter = %v after %d increments through %d stores, want %d", got, n*each, n, n*each)
	}
}

func tx(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.InTx(context.Background(), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func insert(t *testing.T, s store.Store, j store.Job) {
	t.Helper()
	tx(t, s, func(tx store.Tx) error {
		created, err := tx.InsertJob(context.Background(), j)
		if err == nil && !created {
			err = fmt.Errorf("job %s already existed", j.ID)
		}
		return err
	})
}

func getDoc(t *testing.T, s store.Store, id string) any {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob %s: %v", id, err)
	}
	var v any
	if err := json.Unmarshal(j.Context, &v); err != nil {
		t.Fatalf("job %s context %q: %v", id, j.Context, err)
	}
	return v
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

func testInsertJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := store.Job{ID: "job-1", Entity: "user", Context: json.RawMessage(`{"a":1}`), Flow: "f", Version: "v1",
		TaskQueue: "q", Input: json.RawMessage(`{"n":5}`)}
	insert(t, s, in)
	tx(t, s, func(tx store.Tx) error {
		again := in
		again.Context = json.RawMessage(`{"a":2}`)
		created, err := tx.InsertJob(ctx, again)
		if err != nil {
			return err
		}
		if created {
			t.Errorf("second InsertJob of the same id reported created")
		}
		return nil
	})
	j, err := s.GetJob(ctx, "job-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(j.Context) != `{"a": 1}` && string(j.Context) != `{"a":1}` {
		t.Errorf("context = %s, want the first insert's {\"a\":1}", j.Context)
	}
	if j.Status != store.StatusRunning || j.Entity != "user" || j.Flow != "f" || j.Version != "v1" || j.TaskQueue != "q" {
		t.Errorf("job fields = %+v", j)
	}
	if j.CreatedAt.IsZero() || j.UpdatedAt.IsZero() || j.CompletedAt != nil {
		t.Errorf("timestamps: created %v updated %v completed %v", j.CreatedAt, j.UpdatedAt, j.CompletedAt)
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob(missing) err = %v, want ErrNotFound", err)
	}
	tx(t, s, func(tx store.Tx) error {
		_, err := tx.InsertJob(ctx, store.Job{ID: "bad", Entity: "user", Context: json.RawMessage(`{`)})
		if err == nil {
			t.Errorf("InsertJob with invalid JSON context succeeded")
		}
		return nil
	})
}

func testUpdateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "j", Entity: "e"})
	done := time.Now().UTC().Truncate(time.Millisecond)
	tx(t, s, func(tx store.Tx) error {
		j, err := tx.GetJob(ctx, "j", true)
		if err != nil {
			return err
		}
		j.Status, j.Result, j.State, j.CompletedAt = store.StatusCompleted, json.RawMessage(`{"ok":true}`), json.RawMessage(`[1]`), &done
		j.Context = json.RawMessage(`{"x":1}`)
		return tx.UpdateJob(ctx, j)
	})
	j, err := s.GetJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusCompleted || j.CompletedAt == nil || !j.CompletedAt.Equal(done) {
		t.Errorf("after update: status %q completed %v, want %q %v", j.Status, j.CompletedAt, store.StatusCompleted, done)
	}
	if !reflect.DeepEqual(getDoc(t, s, "j"), mustJSON(t, `{"x":1}`)) {
		t.Errorf("context = %s", j.Context)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateJob(ctx, &store.Job{ID: "missing"}) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateJob(missing) = %v, want ErrNotFound", err)
	}
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.InsertJob(ctx, store.Job{ID: "r", Entity: "e"}); err != nil {
			return err
		}
		if err := tx.EnqueueTasks(ctx, []store.Task{{JobID: "r", Queue: "q", Kind: "k"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx err = %v, want the callback's error", err)
	}
	if _, err := s.GetJob(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job of a rolled back tx: err %v, want ErrNotFound", err)
	}
	got, err := s.ClaimTasks(ctx, store.ClaimParams{Limit: 10, Lease: time.Minute, Worker: "w"})
	if err != nil || len(got) != 0 {
		t.Errorf("tasks after rollback: %v, %v", got, err)
	}
}

func testCommands(t *testing.T, s store.Store) {
	cases := []struct {
		name    string
		doc     string
		cmds    []store.Command
		want    string // the document after, when no error
		wantErr string // a substring of the error
	}{
		{"set root", `{"a":1}`, []store.Command{{Op: store.OpSet, Value: map[string]any{"user": map[string]any{"id": 123}}}}, `{"user":{"id":123}}`, ""},
		{"set path creates objects", `{}`, []store.Command{{Op: store.OpSet, Path: "a.b.c", Value: "x"}}, `{"a":{"b":{"c":"x"}}}`, ""},
		{"set array index", `{"items":[1,2]}`, []store.Command{{Op: store.OpSet, Path: "items.1", Value: 5}}, `{"items":[1,5]}`, ""},
		{"set numeric key on object", `{"m":{}}`, []store.Command{{Op: store.OpSet, Path: "m.0", Value: true}}, `{"m":{"0":true}}`, ""},
		{"set bracket key", `{}`, []store.Command{{Op: store.OpSet, Path: `user["a.b"]`, Value: 1}}, `{"user":{"a.b":1}}`, ""},
		{"set through a string", `{"a":"s"}`, []store.Command{{Op: store.OpSet, Path: "a.b", Value: 1}}, "", `set "a.b": found string "s" at "a", want an object or array`},
		{"set past array end", `{"items":[1]}`, []store.Command{{Op: store.OpSet, Path: "items.3", Value: 1}}, "", `set "items.3" index 3: array at "items" has 1 elements`},
		{"merge deep", `{"user":{"name":"J","tags":["a"],"n":{"x":1}}}`, []store.Command{{Op: store.OpMerge, Value: map[string]any{"user": map[string]any{"email": "j@x.io", "tags": []any{"b"}, "n": map[string]any{"y": 2}}}}},
			`{"user":{"name":"J","email":"j@x.io","tags":["b"],"n":{"x":1,"y":2}}}`, ""},
		{"merge at path", `{"a":{"b":1}}`, []store.Command{{Op: store.OpMerge, Path: "a", Value: map[string]any{"c": 2}}}, `{"a":{"b":1,"c":2}}`, ""},
		{"merge scalar replaces", `{"a":{"b":1}}`, []store.Command{{Op: store.OpMerge, Path: "a", Value: 3}}, `{"a":3}`, ""},
		{"append creates", `{}`, []store.Command{{Op: store.OpAppend, Path: "items", Value: map[string]any{"id": 1}}}, `{"items":[{"id":1}]}`, ""},
		{"append", `{"items":[1]}`, []store.Command{{Op: store.OpAppend, Path: "items", Value: 2}}, `{"items":[1,2]}`, ""},
		{"append to object", `{"items":{}}`, []store.Command{{Op: store.OpAppend, Path: "items", Value: 2}}, "", `append "items": found an object, want an array`},
		{"prepend", `{"items":[1]}`, []store.Command{{Op: store.OpPrepend, Path: "items", Value: 0}}, `{"items":[0,1]}`, ""},
		{"prepend to number", `{"items":4}`, []store.Command{{Op: store.OpPrepend, Path: "items", Value: 0}}, "", `prepend "items": found number 4, want an array`},
		{"remove", `{"items":[1,2,3]}`, []store.Command{{Op: store.OpRemove, Path: "items", Value: 1}}, `{"items":[1,3]}`, ""},
		{"remove past end", `{"items":[1,2]}`, []store.Command{{Op: store.OpRemove, Path: "items", Value: 5}}, "", `remove "items" index 5: array has 2 elements`},
		{"remove missing", `{}`, []store.Command{{Op: store.OpRemove, Path: "items", Value: 0}}, "", `remove "items": found nothing, want an array`},
		{"remove non-integer", `{"items":[1]}`, []store.Command{{Op: store.OpRemove, Path: "items", Value: "x"}}, "", `remove "items": index string "x" is not an integer`},
		{"increment missing", `{}`, []store.Command{{Op: store.OpIncrement, Path: "counter", Value: 5}}, `{"counter":5}`, ""},
		{"increment negative and fractional", `{"c":1}`, []store.Command{{Op: store.OpIncrement, Path: "c", Value: -3}, {Op: store.OpIncrement, Path: "c", Value: 0.5}}, `{"c":-1.5}`, ""},
		{"increment string", `{"counter":"abc"}`, []store.Command{{Op: store.OpIncrement, Path: "counter", Value: 1}}, "", `increment "counter": found string "abc", want a number`},
		{"increment by string", `{}`, []store.Command{{Op: store.OpIncrement, Path: "counter", Value: "1"}}, "", `increment "counter": amount string "1" is not a number`},
		{"toggle missing", `{}`, []store.Command{{Op: store.OpToggle, Path: "settings.enabled"}}, `{"settings":{"enabled":true}}`, ""},
		{"toggle", `{"on":true}`, []store.Command{{Op: store.OpToggle, Path: "on"}}, `{"on":false}`, ""},
		{"toggle number", `{"on":1}`, []store.Command{{Op: store.OpToggle, Path: "on"}}, "", `toggle "on": found number 1, want a boolean`},
		{"setIfNotExists sets", `{}`, []store.Command{{Op: store.OpSetIfNotExists, Path: "user.id", Value: 123}}, `{"user":{"id":123}}`, ""},
		{"setIfNotExists keeps", `{"user":{"id":1}}`, []store.Command{{Op: store.OpSetIfNotExists, Path: "user.id", Value: 123}}, `{"user":{"id":1}}`, ""},
		{"delete", `{"user":{"email":"e","id":1}}`, []store.Command{{Op: store.OpDelete, Path: "user.email"}}, `{"user":{"id":1}}`, ""},
		{"delete missing is a no-op", `{"a":1}`, []store.Command{{Op: store.OpDelete, Path: "x.y"}}, `{"a":1}`, ""},
		{"delete array element", `{"a":[1,2]}`, []store.Command{{Op: store.OpDelete, Path: "a.0"}}, `{"a":[2]}`, ""},
		{"delete root", `{"a":1}`, []store.Command{{Op: store.OpDelete}}, "", `delete "": delete needs a path`},
		{"get changes nothing", `{"a":1}`, []store.Command{{Op: store.OpGet, Path: "a"}}, `{"a":1}`, ""},
		{"bad path", `{}`, []store.Command{{Op: store.OpSet, Path: "a..b", Value: 1}}, "", `invalid path "a..b" at offset 2`},
		{"unknown op", `{}`, []store.Command{{Op: "frob", Path: "a"}}, "", `unknown command "frob"`},
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("cmd-%d", i)
			insert(t, s, store.Job{ID: id, Entity: "e", Context: json.RawMessage(c.doc)})
			var got json.RawMessage
			err := s.InTx(ctx, func(tx store.Tx) error {
				var err error
				got, err = tx.Apply(ctx, id, c.cmds)
				return err
			})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				if !errors.Is(err, store.ErrCommand) && !errors.Is(err, store.ErrPath) {
					t.Errorf("err %v wraps neither ErrCommand nor ErrPath", err)
				}
				if d := getDoc(t, s, id); !reflect.DeepEqual(d, mustJSON(t, c.doc)) {
					t.Errorf("document after a failed command = %v, want unchanged %s", d, c.doc)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := mustJSON(t, c.want)
			if d := mustJSON(t, string(got)); !reflect.DeepEqual(d, want) {
				t.Errorf("Apply returned %s, want %s", got, c.want)
			}
			if d := getDoc(t, s, id); !reflect.DeepEqual(d, want) {
				t.Errorf("stored document %v, want %s", d, c.want)
			}
		})
	}
}

func testFailedCommands(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "f", Entity: "e", Context: json.RawMessage(`{"counter":1,"items":[1,2]}`)})
	err := s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.Apply(ctx, "f", []store.Command{
			{Op: store.OpIncrement, Path: "counter", Value: 10},
			{Op: store.OpAppend, Path: "items", Value: 3},
			{Op: store.OpRemove, Path: "items", Value: 5},
		})
		return err
	})
	var ce *store.CommandError
	if !errors.As(err, &ce) || ce.Op != store.OpRemove || ce.Path != "items" || ce.Index != 5 {
		t.Fatalf("err = %v, want a *CommandError for remove items index 5", err)
	}
	if d := getDoc(t, s, "f"); !reflect.DeepEqual(d, mustJSON(t, `{"counter":1,"items":[1,2]}`)) {
		t.Errorf("document after a failed command list = %v, want it unchanged", d)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.Apply(ctx, "missing", []store.Command{{Op: store.OpSet, Value: 1}})
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply to a missing job: %v, want ErrNotFound", err)
	}
}

func testLostUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "counter", Entity: "e"})
	const workers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.InTx(ctx, func(tx store.Tx) error {
					_, err := tx.Apply(ctx, "counter", []store.Command{{Op: store.OpIncrement, Path: "n", Value: 1}})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	got := getDoc(t, s, "counter").(map[string]any)["n"]
	if got != float64(workers*each) {
		t.Fatalf("counter = %v after %d increments, want %d", got, workers*each, workers*each)
	}
	t.Logf("lost-update: %d goroutines x %d increments -> %v", workers, each, got)
}

// deleteTask deletes a claimed task in a transaction of its own and reports
// whether it was there: DeleteTask returned false, or (on a store that
// pipelines writes) the transaction failed with ErrTaskGone, both mean gone.
func deleteTask(t *testing.T, s store.Store, id int64, attempts int) bool {
	t.Helper()
	var ok bool
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		var err error
		ok, err = tx.DeleteTask(context.Background(), id, attempts)
		return err
	})
	if errors.Is(err, store.ErrTaskGone) {
		return false
	}
	if err != nil {
		t.Fatalf("DeleteTask(%d): %v", id, err)
	}
	return ok
}

func enqueue(t *testing.T, s store.Store, tasks ...store.Task) []store.Task {
	t.Helper()
	tx(t, s, func(tx store.Tx) error { return tx.EnqueueTasks(context.Background(), tasks) })
	return tasks
}

func ids(ts []store.Task) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func testTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tasks := enqueue(t, s,
		store.Task{JobID: "a", Queue: "q1", Kind: "step", Payload: json.RawMessage(`{"x":1}`), DueAt: now.Add(-2 * time.Second)},
		store.Task{JobID: "a", Queue: "q1", Kind: "timer", DueAt: now.Add(time.Hour)},
		store.Task{JobID: "b", Queue: "q2", Kind: "step", DueAt: now.Add(-time.Second)},
	)
	for _, tk := range tasks {
		if tk.ID <= 0 {
			t.Fatalf("enqueue assigned id %d, want a positive id", tk.ID)
		}
	}
	claim := func(at time.Time, queues ...string) []store.Task {
		t.Helper()
		got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: queues, Limit: 10, Lease: time.Minute, Worker: "w1", Now: at})
		if err != nil {
			t.Fatalf("ClaimTasks: %v", err)
		}
		return got
	}
	got := claim(now, "q1")
	if len(got) != 1 || got[0].ID != tasks[0].ID {
		t.Fatalf("claim q1 = %+v, want only the due task %d", got, tasks[0].ID)
	}
	c := got[0]
	if c.Attempts != 1 || c.Worker != "w1" || !c.LeaseUntil.Equal(now.Add(time.Minute)) || string(c.Payload) != `{"x": 1}` && string(c.Payload) != `{"x":1}` ||
		c.Kind != "step" || c.JobID != "a" || !c.DueAt.Equal(now.Add(-2*time.Second)) {
		t.Errorf("claimed task = %+v", c)
	}
	if got := claim(now, "q1"); len(got) != 0 {
		t.Errorf("claimed a leased task again: %+v", got)
	}
	if got := claim(now.Add(2*time.Minute), "q1"); len(got) != 1 || got[0].Attempts != 2 {
		t.Errorf("after lease expiry claim = %+v, want task %d with 2 attempts", got, tasks[0].ID)
	}
	if got := claim(now.Add(2 * time.Hour)); len(got) != 3 {
		t.Errorf("claim any queue two hours later = %+v, want all three (the first's lease expired)", got)
	}
	if !deleteTask(t, s, tasks[0].ID, 0) {
		t.Errorf("DeleteTask found nothing, want the task deleted")
	}
	if deleteTask(t, s, tasks[0].ID, 0) {
		t.Errorf("DeleteTask twice deleted again, want the task gone")
	}
	tx(t, s, func(tx store.Tx) error { return tx.RescheduleTask(ctx, tasks[2].ID, now.Add(10*time.Minute)) })
	if got := claim(now.Add(5*time.Minute), "q2"); len(got) != 0 {
		t.Errorf("rescheduled task claimed before its due time: %+v", got)
	}
	if got := claim(now.Add(11*time.Minute), "q2"); len(got) != 1 || got[0].ID != tasks[2].ID {
		t.Errorf("rescheduled task not claimable at its due time: %+v", got)
	}
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.RescheduleTask(ctx, 12345, now) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RescheduleTask(missing) = %v, want ErrNotFound", err)
	}
	tx(t, s, func(tx store.Tx) error { return tx.DeleteJobTasks(ctx, "a") })
	if got := claim(now.Add(24 * time.Hour)); len(got) != 1 || got[0].JobID != "b" {
		t.Errorf("after DeleteJobTasks(a): %+v, want only b's task", got)
	}
	if _, err := s.ClaimTasks(ctx, store.ClaimParams{Limit: 0, Lease: time.Minute}); err == nil {
		t.Errorf("ClaimTasks with limit 0 succeeded")
	}
}

func testClaimSplit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const total, claimers = 200, 4
	var tasks []store.Task
	for i := range total {
		tasks = append(tasks, store.Task{JobID: fmt.Sprintf("j%d", i), Queue: "q", Kind: "step"})
	}
	enqueue(t, s, tasks...)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for w := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("w%d", w)
			for {
				got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"q"}, Limit: 7, Lease: time.Hour, Worker: worker})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range got {
					if prev, dup := seen[tk.ID]; dup {
						errs <- fmt.Errorf("task %d claimed by %s and %s", tk.ID, prev, worker)
					}
					seen[tk.ID] = worker
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("claimed %d distinct tasks, want %d", len(seen), total)
	}
}

func testWakeups(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Wakeups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, store.Task{JobID: "j", Queue: "wake-q", Kind: "step"})
	timeout := time.After(30 * time.Second)
	for got := false; !got; {
		select {
		case q := <-ch:
			got = q == "wake-q"
		case <-timeout:
			t.Fatal("no wakeup for queue wake-q within 30s")
		}
	}
	cancel()
	for range ch { // closes when ctx ends
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	tx(t, s, func(tx store.Tx) error {
		return tx.AppendHistory(ctx, []store.HistoryEvent{{JobID: "h", Kind: "started"}, {JobID: "h", Kind: "step", Step: "a", State: 1, Detail: json.RawMessage(`{"out":1}`)}})
	})
	tx(t, s, func(tx store.Tx) error {
		return tx.AppendHistory(ctx, []store.HistoryEvent{{JobID: "h", Kind: "completed", Thread: "t1"}, {JobID: "other", Kind: "started"}})
	})
	if other, err := s.History(ctx, "other"); err != nil || len(other) != 1 || other[0].Seq != 1 {
		t.Errorf("history of other = %+v, %v; want one event numbered 1", other, err)
	}
	got, err := s.History(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, e := range got {
		if e.Seq != int64(i+1) || e.At.IsZero() || e.JobID != "h" {
			t.Errorf("event %d = %+v", i, e)
		}
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "started,step,completed" || got[1].Step != "a" || got[1].State != 1 || got[2].Thread != "t1" {
		t.Errorf("history = %+v", got)
	}
}

func testFlowVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	save := func(name, version, prog string, at time.Time) {
		t.Helper()
		if err := s.SaveFlowVersion(ctx, store.FlowVersion{Name: name, Version: version, Program: json.RawMessage(prog), File: name + ".yaml", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	save("order", "v1", `{"p":1}`, t0)
	save("order", "v2", `{"p":2}`, t0.Add(time.Hour))
	save("order", "v1", `{"p":"changed"}`, t0.Add(2*time.Hour)) // idempotent: ignored
	save("other", "x", `{}`, t0)
	v, err := s.GetFlowVersion(ctx, "order", "v1")
	if err != nil || v.File != "order.yaml" || !v.CreatedAt.Equal(t0) || !reflect.DeepEqual(mustJSON(t, string(v.Program)), mustJSON(t, `{"p":1}`)) {
		t.Errorf("GetFlowVersion = %+v, %v", v, err)
	}
	if v, err := s.LatestFlowVersion(ctx, "order"); err != nil || v.Version != "v2" {
		t.Errorf("LatestFlowVersion = %+v, %v; want v2", v, err)
	}
	save("order", "v3", `{"p":3}`, t0.Add(time.Hour)) // same time as v2: insertion order breaks the tie
	if v, err := s.LatestFlowVersion(ctx, "order"); err != nil || v.Version != "v3" {
		t.Errorf("LatestFlowVersion on a tie = %+v, %v; want v3", v, err)
	}
	if _, err := s.GetFlowVersion(ctx, "order", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFlowVersion(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.LatestFlowVersion(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestFlowVersion(missing) = %v, want ErrNotFound", err)
	}
	all, err := s.ListFlowVersions(ctx)
	if err != nil || len(all) != 4 {
		t.Errorf("ListFlowVersions = %d, %v; want 4", len(all), err)
	}
}

func testFind(t *testing.T, s store.Store) {
	ctx := context.Background()
	docs := map[string]string{
		"u1": `{"age":30,"name":"ann","premium":true,"addr":{"city":"paris"},"tags":["a","b"]}`,
		"u2": `{"age":40.5,"name":"bob","premium":false,"addr":{"city":"oslo"}}`,
		"u3": `{"age":"old","name":"cy","premium":null}`,
		"u4": `{"age":20,"name":"dee","addr":{"city":"paris"},"tags":["c"]}`,
	}
	for id, d := range docs {
		insert(t, s, store.Job{ID: id, Entity: "user", Context: json.RawMessage(d)})
	}
	insert(t, s, store.Job{ID: "o1", Entity: "other", Context: json.RawMessage(`{"age":30}`)})
	cases := []struct {
		f    store.Filter
		want string
	}{
		{nil, "u1,u2,u3,u4"},
		{store.Filter{{Path: "age", Op: "=", Value: 30}}, "u1"},
		{store.Filter{{Path: "age", Op: "=", Value: 40.5}}, "u2"},
		{store.Filter{{Path: "age", Op: "=", Value: "old"}}, "u3"},
		{store.Filter{{Path: "age", Op: "!=", Value: 30}}, "u2,u3,u4"},
		{store.Filter{{Path: "age", Op: "<", Value: 30}}, "u4"},
		{store.Filter{{Path: "age", Op: "<=", Value: 30}}, "u1,u4"},
		{store.Filter{{Path: "age", Op: ">", Value: 30}}, "u2"},
		{store.Filter{{Path: "age", Op: ">=", Value: 20}}, "u1,u2,u4"},
		{store.Filter{{Path: "name", Op: ">", Value: "bob"}}, "u3,u4"},
		{store.Filter{{Path: "premium", Op: "=", Value: true}}, "u1"},
		{store.Filter{{Path: "premium", Op: "=", Value: false}}, "u2"},
		{store.Filter{{Path: "premium", Op: "=", Value: nil}}, "u3"},
		{store.Filter{{Path: "addr.city", Op: "=", Value: "paris"}}, "u1,u4"},
		{store.Filter{{Path: "addr.city", Op: "=", Value: "paris"}, {Path: "age", Op: ">", Value: 25}}, "u1"},
		{store.Filter{{Path: "tags.0", Op: "=", Value: "c"}}, "u4"},
		{store.Filter{{Path: "missing", Op: "=", Value: 1}}, ""},
	}
	check := func(label string) {
		for _, c := range cases {
			got, err := s.Find(ctx, "user", c.f, store.FindParams{})
			if err != nil {
				t.Errorf("%s Find(%v): %v", label, c.f, err)
				continue
			}
			var gotIDs []string
			for _, j := range got {
				gotIDs = append(gotIDs, j.ID)
			}
			if strings.Join(gotIDs, ",") != c.want {
				t.Errorf("%s Find(%v) = %v, want %s", label, c.f, gotIDs, c.want)
			}
		}
	}
	check("unindexed")
	for range 2 { // idempotent
		for _, field := range []string{"age", "addr.city", "premium", "tags.0"} {
			if err := s.CreateIndex(ctx, "user", field); err != nil {
				t.Fatalf("CreateIndex(user, %s): %v", field, err)
			}
		}
	}
	check("indexed")
	page, err := s.Find(ctx, "user", nil, store.FindParams{Limit: 2, Offset: 1})
	if err != nil || len(page) != 2 || page[0].ID != "u2" || page[1].ID != "u3" {
		t.Errorf("Find page = %+v, %v; want u2, u3", page, err)
	}
}

func testFindErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	bad := []struct {
		entity string
		f      store.Filter
		want   string
	}{
		{"user", store.Filter{{Path: "a'; DROP TABLE jobs; --", Op: "=", Value: 1}}, "invalid path"},
		{"user", store.Filter{{Path: `a["x y"]`, Op: "=", Value: 1}}, `segment "x y"`},
		{"user", store.Filter{{Path: "", Op: "=", Value: 1}}, "a field path is required"},
		{"user", store.Filter{{Path: "a", Op: "LIKE", Value: 1}}, `unknown operator "LIKE"`},
		{"user", store.Filter{{Path: "a", Op: "<", Value: true}}, `operator "<" needs a number or a string`},
		{"user", store.Filter{{Path: "a", Op: "=", Value: map[string]any{}}}, "conditions compare numbers"},
		{"us'er", nil, `invalid entity type "us'er"`},
	}
	for _, b := range bad {
		if _, err := s.Find(ctx, b.entity, b.f, store.FindParams{}); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Find(%q, %v) err = %v, want %q", b.entity, b.f, err, b.want)
		}
	}
	paging := []struct {
		p    store.FindParams
		want string
	}{
		{store.FindParams{Limit: -1}, "find user: limit -1 is negative (0 means the default, 100)"},
		{store.FindParams{Offset: -5}, "find user: offset -5 is negative"},
		{store.FindParams{Limit: -1, Offset: -1}, "find user: limit -1 is negative"},
	}
	for _, pg := range paging {
		if got, err := s.Find(ctx, "user", nil, pg.p); err == nil || !strings.HasPrefix(err.Error(), pg.want) {
			t.Errorf("Find(user, %+v) = %d jobs, %v; want error %q", pg.p, len(got), err, pg.want)
		}
	}
	if err := s.CreateIndex(ctx, "user", "a.b c"); err == nil || !errors.Is(err, store.ErrPath) {
		t.Errorf("CreateIndex with a bad path: %v, want ErrPath", err)
	}
	if err := s.CreateIndex(ctx, "x'y", "a"); err == nil {
		t.Errorf("CreateIndex with a bad entity type succeeded")
	}
}
