package memflow_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
