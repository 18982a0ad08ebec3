package flowtest_test

import (
	"context"
	"fmt"

	"github.com/memflow/memflow/flowtest"
)

// A Go test of a flow: mock its activities, start it, send the signal it
// waits for, and let the virtual clock run through its 30-day sleep.
func Example() {
	ctx := context.Background()
	h, err := flowtest.New(ctx, flowtest.Options{}, "testdata/order.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	h.Mock("payments.charge", flowtest.Returns(map[string]any{"chargeId": "ch-1"}))
	h.Mock("shipping.book", flowtest.Returns(map[string]any{"trackingId": "T-1"}))

	id, _ := h.Start(ctx, "order", map[string]any{"orderId": "o-1", "amount": 120})
	st, _ := h.Engine().Status(ctx, id)
	fmt.Println("waits for:", st.Threads[0].Signal)

	h.Signal(ctx, id, "approval", map[string]any{"approved": true})
	if err := h.Run(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, _ := h.Engine().Result(ctx, id)
	fmt.Println("result:", string(res))
	fmt.Println("virtual days passed:", int(h.Now().Sub(flowtest.DefaultClock).Hours()/24))
	fmt.Println("charge calls:", len(h.Calls("payments.charge")))
	// Output:
	// waits for: approval
	// result: {"shipped":true,"trackingId":"T-1"}
	// virtual days passed: 30
	// charge calls: 1
}
