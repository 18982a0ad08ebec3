package storetest

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// testListJobs pins ListJobs: newest first by (created_at, id), filtered by
// workflow and status, paged by keyset cursors that skip nothing and repeat
// nothing, also across jobs created at the same instant; the documents are
// not read.
func testListJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	add := func(id, flow, status string, tick int) {
		insert(t, s, store.Job{ID: id, Entity: "e", Flow: flow, Status: status, CreatedAt: at.Add(time.Duration(tick) * time.Millisecond),
			Context: []byte(`{"big":"document"}`)})
	}
	add("a1", "alpha", "", 1)
	add("b1", "beta", store.StatusCompleted, 2)
	add("a2", "alpha", store.StatusCompleted, 3)
	add("a3", "alpha", "", 3) // same instant as a2: id breaks the tie
	add("b2", "beta", "", 4)
	add("a4", "alpha", store.StatusFailed, 5)

	ids := func(jobs []store.Job) []string {
		out := []string{}
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	list := func(p store.ListParams, want ...string) []store.Job {
		t.Helper()
		jobs, err := s.ListJobs(ctx, p)
		if err != nil {
			t.Fatalf("ListJobs(%+v): %v", p, err)
		}
		if want == nil {
			want = []string{}
		}
		if got := ids(jobs); !reflect.DeepEqual(got, want) {
			t.Errorf("ListJobs(flow %q status %q after %v limit %d) = %v, want %v", p.Flow, p.Status, p.After, p.Limit, got, want)
		}
		return jobs
	}
	all := list(store.ListParams{}, "a4", "b2", "a3", "a2", "b1", "a1")
	if all[0].Flow != "alpha" || all[0].Status != store.StatusFailed || all[0].Context != nil || all[0].State != nil {
		t.Errorf("listed job %+v: want flow and status, no documents", all[0])
	}
	list(store.ListParams{Flow: "alpha"}, "a4", "a3", "a2", "a1")
	list(store.ListParams{Status: store.StatusRunning}, "b2", "a3", "a1")
	list(store.ListParams{Flow: "beta", Status: store.StatusCompleted}, "b1")
	list(store.ListParams{Flow: "gamma"})
	list(store.ListParams{Entity: "e", Flow: "beta"}, "b2", "b1")
	list(store.ListParams{Entity: "other"})
	list(store.ListParams{IDPrefix: "a"}, "a4", "a3", "a2", "a1")
	list(store.ListParams{IDPrefix: "b1", Status: store.StatusCompleted}, "b1")
	list(store.ListParams{IDPrefix: "%"}) // a prefix is text, not a pattern
	for flow, want := range map[string]map[string]int{
		"":      {store.StatusRunning: 3, store.StatusCompleted: 2, store.StatusFailed: 1},
		"alpha": {store.StatusRunning: 2, store.StatusCompleted: 1, store.StatusFailed: 1},
		"gamma": {},
	} {
		got, err := s.CountJobs(ctx, flow)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CountJobs(%q) = %v, want %v", flow, got, want)
		}
	}

	// Pages of 2, through the cursor's text form as the CLI passes it.
	var got []string
	var after *store.Cursor
	for range 10 {
		page, err := s.ListJobs(ctx, store.ListParams{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page)...)
		if len(page) < 2 {
			break
		}
		if after, err = store.ParseCursor(store.CursorOf(page[len(page)-1]).String()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"a4", "b2", "a3", "a2", "b1", "a1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pages of 2 = %v, want %v", got, want)
	}
	// A cursor between a2 and a3 (same instant) resumes exactly there.
	list(store.ListParams{Flow: "alpha", After: store.CursorOf(all[2])}, "a2", "a1")

	for _, bad := range []int{-1, store.MaxListLimit + 1} {
		if _, err := s.ListJobs(ctx, store.ListParams{Limit: bad}); err == nil {
			t.Errorf("ListJobs limit %d: want an error", bad)
		}
	}
	if _, err := store.ParseCursor("x.y"); err == nil {
		t.Error("ParseCursor(x.y): want an error")
	}
}

// testJobTasksAndHistoryAfter pins the reads status and history --follow
// use: a job's pending tasks by due time, and the history rows after a seq.
func testJobTasksAndHistoryAfter(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "j", Entity: "e"})
	insert(t, s, store.Job{ID: "k", Entity: "e"})
	now := time.Now().UTC().Truncate(time.Millisecond)
	enqueue(t, s,
		store.Task{JobID: "j", Queue: "q", Kind: "timer", DueAt: now.Add(time.Hour), Payload: []byte(`{"timer":"wait"}`)},
		store.Task{JobID: "k", Queue: "q", Kind: "run"},
		store.Task{JobID: "j", Queue: "q2", Kind: "activity", DueAt: now},
	)
	tasks, err := s.JobTasks(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].Kind != "activity" || tasks[0].Queue != "q2" || tasks[1].Kind != "timer" || !tasks[1].DueAt.Equal(now.Add(time.Hour)) {
		t.Errorf("JobTasks(j) = %+v, want the activity then the timer due in an hour", tasks)
	}
	if tasks, err := s.JobTasks(ctx, "none"); err != nil || len(tasks) != 0 {
		t.Errorf("JobTasks(none) = %v, %v", tasks, err)
	}

	var evs []store.HistoryEvent
	for i := range 5 {
		evs = append(evs, store.HistoryEvent{JobID: "j", At: now, Kind: "step", Step: string(rune('a' + i))})
	}
	tx(t, s, func(tx store.Tx) error { return tx.AppendHistory(ctx, evs) })
	all, err := s.History(ctx, "j")
	if err != nil || len(all) != 5 {
		t.Fatalf("History: %d rows, %v", len(all), err)
	}
	after, err := s.HistoryAfter(ctx, "j", all[1].Seq, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[0].Seq != all[2].Seq || after[1].Step != "d" {
		t.Errorf("HistoryAfter(seq %d, 2) = %+v, want rows c and d", all[1].Seq, after)
	}
	if rest, err := s.HistoryAfter(ctx, "j", all[4].Seq, 0); err != nil || len(rest) != 0 {
		t.Errorf("HistoryAfter(last) = %v, %v; want none", rest, err)
	}
}

// testClaimRoot pins ClaimParams.Root: a claim restricted to a tree takes
// the tasks of the root and of the instances under it, never another
// tree's, with or without a queue filter.
func testClaimRoot(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "r", Entity: "e"})
	insert(t, s, store.Job{ID: "r.c", Entity: "e", Root: "r", Parent: "r", Depth: 1})
	insert(t, s, store.Job{ID: "r.c.g", Entity: "e", Root: "r", Parent: "r.c", Depth: 2})
	insert(t, s, store.Job{ID: "other", Entity: "e"})
	insert(t, s, store.Job{ID: "other.c", Entity: "e", Root: "other", Parent: "other", Depth: 1})
	enqueue(t, s,
		store.Task{JobID: "r", Queue: "q", Kind: "run"},
		store.Task{JobID: "r.c", Queue: "q", Kind: "run"},
		store.Task{JobID: "r.c.g", Queue: "q2", Kind: "run"},
		store.Task{JobID: "other", Queue: "q", Kind: "run"},
		store.Task{JobID: "other.c", Queue: "q2", Kind: "run"},
	)
	claim := func(p store.ClaimParams) []string {
		t.Helper()
		p.Limit, p.Lease, p.Worker = 10, time.Minute, "w"
		got, err := s.ClaimTasks(ctx, p)
		if err != nil {
			t.Fatalf("ClaimTasks(%+v): %v", p, err)
		}
		jobs := []string{}
		for _, task := range got {
			jobs = append(jobs, task.JobID)
		}
		return sorted(jobs)
	}
	if got := claim(store.ClaimParams{Root: "r", Queues: []string{"q2"}}); !reflect.DeepEqual(got, []string{"r.c.g"}) {
		t.Errorf("claim root r, queue q2 = %v, want [r.c.g]", got)
	}
	if got := claim(store.ClaimParams{Root: "r"}); !reflect.DeepEqual(got, []string{"r", "r.c"}) {
		t.Errorf("claim root r = %v, want [r r.c]", got)
	}
	if got := claim(store.ClaimParams{Root: "r"}); len(got) != 0 {
		t.Errorf("claim root r again = %v, want none", got)
	}
	if got := claim(store.ClaimParams{}); !reflect.DeepEqual(got, []string{"other", "other.c"}) {
		t.Errorf("claim any = %v, want the other tree's tasks", got)
	}
}

// testHeartbeats pins the workers table: a claim records its worker's
// queues and tree, at most every HeartbeatEvery, and RecentWorkers lists
// the workers seen since a time.
func testHeartbeats(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	claim := func(worker string, queues []string, root string, at time.Time) {
		t.Helper()
		if _, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: queues, Root: root, Limit: 1, Lease: time.Minute, Worker: worker, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(since time.Time) map[string]store.WorkerSeen {
		t.Helper()
		ws, err := s.RecentWorkers(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]store.WorkerSeen{}
		for _, w := range ws {
			out[w.ID] = w
		}
		return out
	}
	if ws := seen(time.Time{}); len(ws) != 0 {
		t.Fatalf("workers before any claim: %v", ws)
	}
	claim("all", nil, "", now)
	claim("some", []string{"q1", "q2"}, "", now)
	claim("tree", nil, "r", now)
	ws := seen(now.Add(-time.Second))
	if len(ws) != 3 || len(ws["all"].Queues) != 0 || !reflect.DeepEqual(ws["some"].Queues, []string{"q1", "q2"}) ||
		ws["tree"].Root != "r" || !ws["all"].LastSeen.Equal(now) {
		t.Fatalf("RecentWorkers = %+v", ws)
	}
	for _, c := range []struct {
		worker, queue, root string
		want                bool
	}{
		{"all", "x", "any", true}, {"some", "q2", "any", true}, {"some", "x", "any", false},
		{"tree", "x", "r", true}, {"tree", "x", "other", false},
	} {
		if got := ws[c.worker].Serves(c.queue, c.root); got != c.want {
			t.Errorf("%s.Serves(%q, %q) = %v, want %v", c.worker, c.queue, c.root, got, c.want)
		}
	}
	// Within HeartbeatEvery a claim writes nothing; after it, it does.
	claim("all", nil, "", now.Add(store.HeartbeatEvery/2))
	if w := seen(now.Add(-time.Second))["all"]; !w.LastSeen.Equal(now) {
		t.Errorf("heartbeat written again after %s: last seen %v, want %v", store.HeartbeatEvery/2, w.LastSeen, now)
	}
	later := now.Add(store.HeartbeatEvery + time.Second)
	claim("all", nil, "", later)
	ws = seen(now.Add(time.Second))
	if len(ws) != 1 || !ws["all"].LastSeen.Equal(later) {
		t.Errorf("workers seen since the first claims = %+v, want only all at %v", ws, later)
	}
}

func sorted(l []string) []string {
	sort.Strings(l)
	return l
}

// testReadyTasks pins ReadyTasks: per queue, the tasks due now that no live
// lease holds; a future task and a leased one are not ready.
func testReadyTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if n, err := s.ReadyTasks(ctx, now); err != nil || len(n) != 0 {
		t.Fatalf("ReadyTasks on an empty app = %v, %v", n, err)
	}
	insert(t, s, store.Job{ID: "j", Entity: "e"})
	enqueue(t, s,
		store.Task{JobID: "j", Queue: "a", Kind: "run", DueAt: now.Add(-time.Second)},
		store.Task{JobID: "j", Queue: "a", Kind: "run", DueAt: now.Add(-time.Second)},
		store.Task{JobID: "j", Queue: "b", Kind: "run", DueAt: now.Add(-time.Second)},
		store.Task{JobID: "j", Queue: "b", Kind: "timer", DueAt: now.Add(time.Hour)},
		store.Task{JobID: "j", Queue: "c", Kind: "run", DueAt: now.Add(-time.Second)},
	)
	claimed, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"c"}, Limit: 1, Lease: time.Minute, Worker: "w", Now: now})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim c: %v, %v", claimed, err)
	}
	n, err := s.ReadyTasks(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n, map[string]int{"a": 2, "b": 1}) {
		t.Errorf("ReadyTasks = %v, want a:2 b:1 (the future timer and the leased task are not ready)", n)
	}
	if n, _ := s.ReadyTasks(ctx, now.Add(2*time.Hour)); !reflect.DeepEqual(n, map[string]int{"a": 2, "b": 2, "c": 1}) {
		t.Errorf("ReadyTasks two hours on = %v, want a:2 b:2 c:1", n)
	}
}
