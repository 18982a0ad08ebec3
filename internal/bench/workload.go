package bench

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/memflow/memflow"
)

//go:embed flows.yaml
var flowsYAML []byte

// fanoutHooks is the number of hooks the fanout workflow starts.
const fanoutHooks = 50

// workload starts one workflow and checks its result.
type workload struct {
	name string
	// run starts workflow number i, waits for its result and checks it. It
	// returns the workflow id.
	run func(ctx context.Context, eng *memflow.Engine, i int) (string, error)
}

// Workloads lists the workload names, sorted.
func Workloads() []string {
	names := make([]string, 0, len(workloads))
	for n := range workloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var workloads = map[string]workload{
	"one-activity": {name: "one-activity", run: runOne},
	"entity":       {name: "entity", run: runEntity},
	"fanout":       {name: "fanout", run: runFanout},
	"signal":       {name: "signal", run: runSignal},
}

// register adds the activities the bench flows call.
func register(eng *memflow.Engine) error {
	return eng.Register("bench.echo", func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
}

// loadFlows compiles the embedded flows with the normal loader (through a
// file in a temporary folder, as a user's flow would be).
func loadFlows(ctx context.Context, eng *memflow.Engine) error {
	dir, err := os.MkdirTemp("", "memflow-bench-flows-")
	if err != nil {
		return fmt.Errorf("bench flows: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(path, flowsYAML, 0o644); err != nil {
		return fmt.Errorf("bench flows: %w", err)
	}
	if err := eng.LoadFlows(ctx, path); err != nil {
		return fmt.Errorf("bench flows: %w", err)
	}
	return nil
}

// startAndWait starts workflow with args, waits for its result and decodes
// it into out.
func startAndWait(ctx context.Context, eng *memflow.Engine, workflow string, args any, out any) (string, error) {
	id, err := eng.Start(ctx, workflow, args)
	if err != nil {
		return "", err
	}
	return id, wait(ctx, eng, id, out)
}

func wait(ctx context.Context, eng *memflow.Engine, id string, out any) error {
	raw, err := eng.Result(ctx, id)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("workflow %s: result %s: %w", id, raw, err)
	}
	return nil
}

func runOne(ctx context.Context, eng *memflow.Engine, i int) (string, error) {
	var got struct{ I *int }
	id, err := startAndWait(ctx, eng, "benchOne", map[string]any{"i": i}, &got)
	if err != nil {
		return id, err
	}
	if got.I == nil || *got.I != i {
		return id, fmt.Errorf("workflow %s: echo returned %v, want i=%d", id, got.I, i)
	}
	return id, nil
}

func runEntity(ctx context.Context, eng *memflow.Engine, i int) (string, error) {
	var got struct {
		User  map[string]string
		Items []int
		N     *int
		Flags map[string]bool
		Last  *int
	}
	id, err := startAndWait(ctx, eng, "benchEntity", map[string]any{"i": i}, &got)
	if err != nil {
		return id, err
	}
	ok := got.User["name"] == "ana" && got.User["email"] == "a@x.io" && got.User["role"] == "admin" &&
		len(got.Items) == 3 && got.Items[0] == 1 && got.Items[2] == 3 && got.N != nil && *got.N == 6 &&
		got.Flags["seen"] && got.Last != nil && *got.Last == i
	if !ok {
		return id, fmt.Errorf("workflow %s: entity %+v is not what the ten commands make", id, got)
	}
	return id, nil
}

func runFanout(ctx context.Context, eng *memflow.Engine, i int) (string, error) {
	var got struct{ Parts, Sum int }
	id, err := startAndWait(ctx, eng, "benchFanout", map[string]any{"i": i}, &got)
	if err != nil {
		return id, err
	}
	want := fanoutHooks * (fanoutHooks - 1) / 2
	if got.Parts != fanoutHooks || got.Sum != want {
		return id, fmt.Errorf("workflow %s: lost update: entity has %d of %d hook subtrees (sum %d, want %d)",
			id, got.Parts, fanoutHooks, got.Sum, want)
	}
	return id, nil
}

func runSignal(ctx context.Context, eng *memflow.Engine, i int) (string, error) {
	id, err := eng.Start(ctx, "benchSignal", map[string]any{"i": i})
	if err != nil {
		return "", err
	}
	if err := eng.Signal(ctx, id, "go", map[string]any{"i": i}); err != nil {
		return id, err
	}
	var got struct{ I *int }
	if err := wait(ctx, eng, id, &got); err != nil {
		return id, err
	}
	if got.I == nil || *got.I != i {
		return id, fmt.Errorf("workflow %s: signal data %v, want i=%d", id, got.I, i)
	}
	return id, nil
}
