package memflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

// reloads collects what a watcher reports.
type reloads struct {
	mu   sync.Mutex
	list []memflow.Reload
}

func (r *reloads) add(x memflow.Reload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, x)
}

func (r *reloads) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// next waits for a report after the first n and returns it with its index.
func (r *reloads) next(t *testing.T, n int) (memflow.Reload, int) {
	t.Helper()
	eventually(t, "a reload report", func() bool { return r.count() > n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list[n], n + 1
}

// watchDir watches dir with eng until the test ends and waits for the
// initial load.
func watchDir(t *testing.T, eng *memflow.Engine, dir string) *reloads {
	t.Helper()
	r := &reloads{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- eng.Watch(ctx, memflow.WatchConfig{Paths: []string{dir}, Quiet: 50 * time.Millisecond, OnReload: r.add})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch: %v", err)
		}
	})
	first, _ := r.next(t, 0)
	if !first.First || !first.OK() {
		t.Fatalf("initial load = %+v, want a first successful load", first)
	}
	return r
}

// saveAtomically writes src the way editors do: a temporary file in the same
// folder renamed over path.
func saveAtomically(t *testing.T, path, src string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, src)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func change(r memflow.Reload, name string) (memflow.FlowChange, bool) {
	for _, c := range r.Changes {
		if c.Name == name {
			return c, true
		}
	}
	return memflow.FlowChange{}, false
}

const editedV1 = `
memflow: v1
workflows:
  edited:
    entity: doc
    steps:
      - set: { v: 1, log: [] }
      - wait: go
      - append: { log: end }
`

// v2 adds a step after the wait.
const editedV2 = `
memflow: v1
workflows:
  edited:
    entity: doc
    steps:
      - set: { v: 1, log: [] }
      - wait: go
      - append: { log: added-in-v2 }
      - append: { log: end }
`

const yamlBroken = `
memflow: v1
workflows:
  edited:
    entity: doc
    steps:
      - set: { v: 1, log: [
      - wait: go
`

const unknownActivity = `
memflow: v1
workflows:
  edited:
    entity: doc
    steps:
      - set: { v: 1, log: [] }
      - activity: test.nope
`

const editedV3 = `
memflow: v1
workflows:
  edited:
    entity: doc
    steps:
      - set: { v: 3, log: [] }
      - wait: go
      - append: { log: v3 }
`

const otherFlow = `
memflow: v1
workflows:
  other:
    entity: doc
    steps:
      - set: { other: true }
      - wait: done
`

// TestHotReload edits a watched flow while an instance waits on its first
// version: new starts take each good edit at once, the waiting instance
// finishes on its version, broken edits change nothing and are reported with
// positions, and a deleted file stops new starts, also for an engine that
// only shares the database.
func TestHotReload(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		dir := t.TempDir()
		flow, other := filepath.Join(dir, "flow.yaml"), filepath.Join(dir, "sub", "other.yaml")
		writeFile(t, flow, editedV1)
		if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, other, otherFlow)
		eng := d.open(t, newActs())
		stopWork := work(t, eng, memflow.WorkerConfig{})
		r := watchDir(t, eng, dir)
		seen := 1

		old := start(t, eng, "edited", nil)
		eventually(t, "the first instance to wait", func() bool {
			in, err := eng.Get(ctx, old)
			if err != nil {
				return false
			}
			doc, _ := decode(t, in.Entity).(map[string]any)
			return doc["v"] == float64(1) // set before the wait, in the same commit

		})
		v1 := instance(t, eng, old).Version

		saveAtomically(t, flow, editedV2)
		rep, seen := r.next(t, seen)
		c, ok := change(rep, "edited")
		if !rep.OK() || !ok || c.From != v1 || c.To == "" || c.To == v1 {
			t.Fatalf("reload after the edit = %+v, want edited %s -> a new version", rep, v1)
		}
		if _, ok := change(rep, "other"); ok {
			t.Errorf("an unchanged flow is listed as changed: %+v", rep.Changes)
		}
		v2 := c.To
		if !strings.Contains(rep.Summary(), "reload: 1 flow changed: edited "+v1[:8]+"->"+v2[:8]) {
			t.Errorf("summary %q", rep.Summary())
		}

		fresh := start(t, eng, "edited", nil)
		if got := instance(t, eng, fresh).Version; got != v2 {
			t.Fatalf("a new start runs version %s, want %s", got, v2)
		}
		signal(t, eng, fresh, "go")
		jsonEq(t, result(t, eng, fresh), `{"v":1,"log":["added-in-v2","end"]}`)
		signal(t, eng, old, "go")
		jsonEq(t, result(t, eng, old), `{"v":1,"log":["end"]}`) // no added step: it stayed on v1
		if got := instance(t, eng, old).Version; got != v1 {
			t.Errorf("the old instance's version is %s, want %s", got, v1)
		}

		// Broken edits: nothing changes; errors carry their positions.
		for _, bad := range []struct {
			src  string
			want string
		}{
			{yamlBroken, `flow\.yaml:\d+:\d+: invalid YAML`},
			{unknownActivity, `flow\.yaml:7:19: unknown activity "test\.nope"`},
		} {
			saveAtomically(t, flow, bad.src)
			rep, seen = r.next(t, seen)
			if rep.OK() || !matchesAny(rep.Errors, bad.want) {
				t.Fatalf("reload of a broken flow = %+v, want an error matching %s", rep, bad.want)
			}
			if !strings.HasPrefix(rep.Summary(), "reload failed, keeping the previous flows: ") {
				t.Errorf("summary %q", rep.Summary())
			}
			st, err := eng.Flows(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.LastError == nil || !matchesAny(st.LastError.Errors, bad.want) {
				t.Errorf("Flows().LastError = %+v, want the errors recorded", st.LastError)
			}
			if f := servingFlow(st, "edited"); f.Version != v2 || f.Removed {
				t.Errorf("after a broken edit the catalogue serves %+v, want %s", f, v2)
			}
			id := start(t, eng, "edited", nil)
			if got := instance(t, eng, id).Version; got != v2 {
				t.Errorf("after a broken edit a start runs %s, want %s", got, v2)
			}
			signal(t, eng, id, "go")
			result(t, eng, id)
		}

		saveAtomically(t, flow, editedV3)
		rep, seen = r.next(t, seen)
		c, _ = change(rep, "edited")
		if !rep.OK() || c.From != v2 {
			t.Fatalf("reload of the fixed flow = %+v, want edited %s -> v3", rep, v2)
		}
		v3 := c.To
		st, err := eng.Flows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.LastError != nil || !st.LastLoad.OK {
			t.Errorf("after the fix Flows() still reports an error: %+v", st.LastError)
		}

		// Delete a file: its workflow takes no new starts, here and in a
		// second engine that never loaded or watched anything.
		otherVersion := servingFlow(st, "other").Version
		pinned := start(t, eng, "other", nil)
		eventually(t, "the other instance to wait", func() bool {
			doc, _ := decode(t, instance(t, eng, pinned).Entity).(map[string]any)
			return doc["other"] == true
		})
		if err := os.Remove(other); err != nil {
			t.Fatal(err)
		}
		rep, _ = r.next(t, seen)
		if c, ok := change(rep, "other"); !rep.OK() || !ok || c.To != "" || c.From != otherVersion {
			t.Fatalf("reload after a delete = %+v, want other removed", rep)
		}
		if !strings.Contains(rep.Summary(), "1 removed: other") {
			t.Errorf("summary %q", rep.Summary())
		}
		second := d.open(t, nil)
		for name, e := range map[string]*memflow.Engine{"watching engine": eng, "second engine": second} {
			_, err := e.Start(ctx, "other", nil)
			var re *memflow.RetiredError
			if !errors.As(err, &re) || !errors.Is(err, memflow.ErrRetired) || !memflow.IsNotFound(err) {
				t.Fatalf("%s: start of a removed workflow = %v, want a RetiredError", name, err)
			}
			want := fmt.Sprintf(`workflow "other" was removed from the flows (last version %s, file %s`, otherVersion, other)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q\nwant it to contain %q", name, err, want)
			}
		}
		// An instance of the removed flow still finishes, on its version,
		// even on a worker that never saw the file.
		stopWork()
		work(t, second, memflow.WorkerConfig{})
		signal(t, eng, pinned, "done")
		jsonEq(t, result(t, eng, pinned), `{"other":true}`)
		if got := instance(t, eng, pinned).Version; got != otherVersion {
			t.Errorf("the removed flow's instance ran %s, want %s", got, otherVersion)
		}
		id, err := second.Start(ctx, "edited", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := instance(t, second, id).Version; got != v3 {
			t.Errorf("the second engine starts version %s, want %s", got, v3)
		}
		st, err = second.Flows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f := servingFlow(st, "other"); !f.Removed || f.RemovedAt == nil {
			t.Errorf("Flows() lists other as %+v, want removed", f)
		}

		// The file comes back: it serves again.
		writeFile(t, other, otherFlow)
		eventually(t, "other to serve again", func() bool {
			_, err := second.Start(ctx, "other", nil)
			return err == nil
		})
	})
}

// TestReloadUnderLoad reloads while 50 instances run: none is lost, all
// complete on the version they started with.
func TestReloadUnderLoad(t *testing.T) {
	const n = 50
	eachStore(t, func(t *testing.T, d db) {
		dir := t.TempDir()
		flow := filepath.Join(dir, "flow.yaml")
		src := func(tag string) string {
			return fmt.Sprintf(`
memflow: v1
workflows:
  busy:
    entity: doc
    steps:
      - id: a
        activity: test.echo
        args: { n: 1 }
      - wait: go
      - id: b
        activity: test.echo
        args: { n: 2 }
      - set: { tag: %s }
`, tag)
		}
		writeFile(t, flow, src("v1"))
		eng := d.open(t, newActs())
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		r := watchDir(t, eng, dir)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = start(t, eng, "busy", nil)
		}
		saveAtomically(t, flow, src("v2")) // while the instances run their first steps
		rep, _ := r.next(t, 1)
		if !rep.OK() || len(rep.Changes) != 1 {
			t.Fatalf("reload = %+v", rep)
		}
		for _, id := range ids {
			signal(t, eng, id, "go")
		}
		for _, id := range ids {
			jsonEq(t, result(t, eng, id), `{"tag":"v1"}`)
		}
		fresh := start(t, eng, "busy", nil)
		signal(t, eng, fresh, "go")
		jsonEq(t, result(t, eng, fresh), `{"tag":"v2"}`)
	})
}

// TestLoadFlowsRecordsFailure: a failed LoadFlows (no watcher) is visible
// through Flows, with positions, and serves nothing.
func TestLoadFlowsRecordsFailure(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, nil)
		path := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, path, unknownActivity)
		err := eng.LoadFlows(ctx, path)
		var fe *memflow.FlowError
		if !errors.As(err, &fe) {
			t.Fatalf("LoadFlows = %v, want a FlowError", err)
		}
		st, err := eng.Flows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Flows) != 0 || st.LastError == nil || !matchesAny(st.LastError.Errors, `bad\.yaml:7:19: unknown activity "test\.nope"`) {
			t.Errorf("Flows() = %+v", st)
		}
		empty := t.TempDir()
		if err := eng.LoadFlows(ctx, empty); err == nil || !strings.Contains(err.Error(), "no flow files") {
			t.Errorf("loading an empty folder = %v, want a no-flow-files error", err)
		}
	})
}

func matchesAny(lines []string, pattern string) bool {
	re := regexp.MustCompile(pattern)
	return slices.ContainsFunc(lines, re.MatchString)
}

func servingFlow(st *memflow.FlowStatus, name string) memflow.ServingFlow {
	for _, f := range st.Flows {
		if f.Name == name {
			return f
		}
	}
	return memflow.ServingFlow{}
}

func instance(t *testing.T, eng *memflow.Engine, id string) *memflow.Instance {
	t.Helper()
	in, err := eng.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func signal(t *testing.T, eng *memflow.Engine, id, name string) {
	t.Helper()
	if err := eng.Signal(context.Background(), id, name, nil); err != nil {
		t.Fatalf("signal %s to %s: %v", name, id, err)
	}
}

// TestWatchStartsBroken: a watcher whose flows do not load at first keeps
// serving what the database serves, reports the errors, and loads the flows
// once they are fixed.
func TestWatchStartsBroken(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		dir := t.TempDir()
		flow := filepath.Join(dir, "flow.yaml")
		writeFile(t, flow, editedV1)
		eng := d.open(t, newActs())
		if err := eng.LoadFlows(ctx, dir); err != nil { // a previous run served v1
			t.Fatal(err)
		}
		writeFile(t, flow, unknownActivity)
		r := &reloads{}
		wctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- eng.Watch(wctx, memflow.WatchConfig{Paths: []string{dir}, Quiet: 20 * time.Millisecond, OnReload: r.add})
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("watch: %v", err)
			}
		}()
		first, seen := r.next(t, 0)
		if first.OK() || !first.First || !strings.HasPrefix(first.Summary(), "load failed, keeping the previous flows: 1 error") {
			t.Fatalf("first load = %+v (%s)", first, first.Summary())
		}
		if _, err := eng.Start(ctx, "edited", nil); err != nil {
			t.Errorf("the previous version stopped serving: %v", err)
		}
		saveAtomically(t, flow, editedV3)
		rep, _ := r.next(t, seen)
		if c, ok := change(rep, "edited"); !rep.OK() || !ok || c.From == "" {
			t.Errorf("reload after the fix = %+v", rep)
		}
	})
}

// TestReloadScope: reloading one folder retires only workflows whose files
// were under it; flows loaded from elsewhere keep serving. An unchanged
// reload reports no change.
func TestReloadScope(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		a, b := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(a, "edited.yaml"), editedV1)
		writeFile(t, filepath.Join(b, "other.yaml"), otherFlow)
		eng := d.open(t, nil)
		if err := eng.LoadFlows(ctx, b); err != nil {
			t.Fatal(err)
		}
		r, err := eng.ReloadFlows(ctx, a)
		if err != nil || len(r.Changes) != 1 || r.Changes[0].Name != "edited" || r.Changes[0].From != "" {
			t.Fatalf("first reload of a = %+v, %v", r, err)
		}
		r, err = eng.ReloadFlows(ctx, a)
		if err != nil || len(r.Changes) != 0 || r.Summary() != "reload: no flow changed (1 flow serving)" {
			t.Errorf("unchanged reload = %+v (%s), %v", r, r.Summary(), err)
		}
		writeFile(t, filepath.Join(a, "edited.yaml"), strings.ReplaceAll(editedV1, "edited", "renamed"))
		r, err = eng.ReloadFlows(ctx, a)
		if err != nil || len(r.Changes) != 2 {
			t.Fatalf("reload after a rename = %+v, %v", r, err)
		}
		if r.Summary() != "reload: 1 flow changed: renamed (new) "+r.Changes[0].To[:8]+"; 1 removed: edited" {
			t.Errorf("reload after a rename = %s, %v", r.Summary(), err)
		}
		if _, err := eng.Start(ctx, "other", nil); err != nil {
			t.Errorf("a flow outside the reloaded folder stopped serving: %v", err)
		}
		if _, err := eng.Start(ctx, "edited", nil); !errors.Is(err, memflow.ErrRetired) {
			t.Errorf("start of the renamed-away workflow = %v, want ErrRetired", err)
		}
	})
}

// TestRetiredChild: a child step whose workflow left the flows fails with the
// reason, not with "neither loaded nor stored".
func TestRetiredChild(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		dir := t.TempDir()
		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "parent.yaml"), `
memflow: v1
workflows:
  parent:
    entity: doc
    steps:
      - workflow: kid
`)
		kid := filepath.Join(sub, "kid.yaml")
		writeFile(t, kid, "memflow: v1\nworkflows:\n  kid:\n    entity: doc\n    steps:\n      - set: { kid: true }\n")
		eng := d.open(t, nil)
		if _, err := eng.ReloadFlows(ctx, dir); err != nil {
			t.Fatal(err)
		}
		kidVersion := servingFlow(mustFlows(t, eng), "kid").Version
		if err := os.Remove(kid); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(sub, "other.yaml"), otherFlow)
		if r, err := eng.ReloadFlows(ctx, sub); err != nil || !strings.Contains(r.Summary(), "removed: kid") {
			t.Fatalf("reload without kid = %s, %v", r.Summary(), err)
		}
		work(t, eng, memflow.WorkerConfig{})
		we := failure(t, eng, start(t, eng, "parent", nil))
		want := fmt.Sprintf(`child workflow "kid" was removed from the flows (last version %s, file %s`, kidVersion, kid)
		if !strings.Contains(we.Message, want) || strings.Contains(we.Message, "neither") {
			t.Errorf("parent failed with %q\nwant it to contain %q", we.Message, want)
		}
	})
}

func mustFlows(t *testing.T, eng *memflow.Engine) *memflow.FlowStatus {
	t.Helper()
	st, err := eng.Flows(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// An engine reuses the version its last start of a workflow used, so each
// start costs no extra read; a load made by another engine must still reach
// its very next start (the start transaction checks the catalogue).
func TestStartSeesOtherEnginesLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		dir := t.TempDir()
		flow := filepath.Join(dir, "flow.yaml")
		writeFile(t, flow, editedV1)
		a, b := d.open(t, nil), d.open(t, nil)
		if _, err := a.ReloadFlows(ctx, dir); err != nil {
			t.Fatal(err)
		}
		first := start(t, a, "edited", nil)
		v1 := instance(t, a, first).Version

		writeFile(t, flow, editedV2)
		rep, err := b.ReloadFlows(ctx, dir)
		if err != nil || !rep.OK() {
			t.Fatalf("reload in the other engine: %v %v", rep, err)
		}
		second := start(t, a, "edited", nil)
		if v2 := instance(t, a, second).Version; v2 == v1 {
			t.Errorf("after another engine loaded v2, this engine started v1 (%s) again", v1)
		}

		if err := os.Remove(flow); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "keep.yaml"), otherFlow) // an empty folder retires nothing
		if rep, err := b.ReloadFlows(ctx, dir); err != nil || !rep.OK() {
			t.Fatalf("reload without the flow: %v %v", rep, err)
		}
		if _, err := a.Start(ctx, "edited", nil); !errors.Is(err, memflow.ErrRetired) {
			t.Errorf("start after another engine removed the flow = %v, want ErrRetired", err)
		}
	})
}

const parentKid = `
memflow: v1
workflows:
  parent:
    entity: doc
    steps:
      - wait: go
      - workflow: kid
        workflowId: kid-${ workflow.id }
  kid:
    entity: doc
    steps:
      - set: { v: KID_VERSION }
`

// A child step reuses the child program its engine resolved before, so a
// task costs no catalogue read; a load made by another engine must still
// decide which version the next child starts on.
func TestChildSeesOtherEnginesLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		dir := t.TempDir()
		flow := filepath.Join(dir, "flow.yaml")
		writeFile(t, flow, strings.ReplaceAll(parentKid, "KID_VERSION", "1"))
		a, b := d.open(t, nil), d.open(t, nil)
		if _, err := a.ReloadFlows(ctx, dir); err != nil {
			t.Fatal(err)
		}
		work(t, a, memflow.WorkerConfig{})
		kidEntity := func(parent string) any {
			t.Helper()
			if err := a.Signal(ctx, parent, "go", nil); err != nil {
				t.Fatal(err)
			}
			result(t, a, parent)
			return decode(t, mustEntity(t, a, "kid-"+parent)).(map[string]any)["v"]
		}
		first := start(t, a, "parent", nil)
		second := start(t, a, "parent", nil) // parked in its wait on the same version
		if v := kidEntity(first); v != 1.0 {
			t.Fatalf("first child set v=%v, want 1", v)
		}

		writeFile(t, flow, strings.ReplaceAll(parentKid, "KID_VERSION", "2"))
		if rep, err := b.ReloadFlows(ctx, dir); err != nil || !rep.OK() {
			t.Fatalf("reload in the other engine: %v %v", rep, err)
		}
		if v := kidEntity(second); v != 2.0 {
			t.Errorf("after another engine loaded kid v2, the next child set v=%v, want 2", v)
		}
	})
}
