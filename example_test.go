package memflow_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/memflow/memflow"
)

// Greeting is the input of the greet activity.
type Greeting struct {
	Name string `json:"name"`
}

func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dir, _ := os.MkdirTemp("", "memflow-example")
	defer os.RemoveAll(dir)

	eng, err := memflow.Open(ctx, "sqlite:"+filepath.Join(dir, "memflow.db"), memflow.Config{App: "example"})
	if err != nil {
		panic(err)
	}
	defer eng.Close()

	// Activities are plain Go functions.
	_ = eng.Register("greet", func(ctx context.Context, in Greeting) (string, error) {
		return "hello, " + strings.ToUpper(in.Name), nil
	})

	flow := `
memflow: v1
workflows:
  hello:
    entity: greeting
    input: { type: object, required: [name] }
    steps:
      - set: { name: "${ input.name }", status: greeting }
      - id: text
        activity: greet
        args: { name: "${ input.name }" }
      - id: ok
        wait: confirm
      - merge: { text: "${ steps.text }", confirmed: "${ steps.ok }", status: done }
`
	path := filepath.Join(dir, "hello.yaml")
	_ = os.WriteFile(path, []byte(flow), 0o644)
	if err := eng.LoadFlows(ctx, path); err != nil {
		panic(err)
	}

	workers := make(chan error, 1)
	go func() { workers <- eng.Run(ctx, memflow.WorkerConfig{}) }()

	id, err := eng.Start(ctx, "hello", map[string]any{"name": "ana"}, memflow.WithID("hello-ana"))
	if err != nil {
		panic(err)
	}
	// Signals are durable: this one waits until the flow reaches its wait.
	_ = eng.Signal(ctx, id, "confirm", true)

	result, err := eng.Result(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(result))
	stop()
	<-workers
	// Output: {"confirmed":true,"name":"ana","status":"done","text":"hello, ANA"}
}

// Order is what the order flow's entity and result hold.
type Order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Total  int    `json:"total"`
}

// ResultAs and EntityAs decode an instance's result and entity into Go
// types. Result waits for the end but runs nothing: a worker must serve the
// instance (here Run in this process), and the context bounds the wait.
func ExampleResultAs() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dir, _ := os.MkdirTemp("", "memflow-example")
	defer os.RemoveAll(dir)
	eng, err := memflow.Open(ctx, "sqlite:"+filepath.Join(dir, "memflow.db"), memflow.Config{App: "example"})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	path := filepath.Join(dir, "order.yaml")
	_ = os.WriteFile(path, []byte(`
memflow: v1
workflows:
  order:
    entity: order
    steps:
      - set: { id: "${ input.id }", status: placed, total: "${ input.total }" }
      - return: { id: "${ input.id }", status: shipped, total: "${ input.total * 2 }" }
`), 0o644)
	if err := eng.LoadFlows(ctx, path); err != nil {
		panic(err)
	}
	workers := make(chan error, 1)
	go func() { workers <- eng.Run(ctx, memflow.WorkerConfig{}) }()
	id, err := eng.Start(ctx, "order", map[string]any{"id": "o-7", "total": 21})
	if err != nil {
		panic(err)
	}

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := memflow.ResultAs[Order](wctx, eng, id)
	if err != nil {
		panic(err)
	}
	ent, err := memflow.EntityAs[Order](ctx, eng, id)
	if err != nil {
		panic(err)
	}
	fmt.Printf("result %s %s %d; entity %s %s %d\n", res.ID, res.Status, res.Total, ent.ID, ent.Status, ent.Total)
	stop()
	<-workers
	// Output: result o-7 shipped 42; entity o-7 placed 21
}
