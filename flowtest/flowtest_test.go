package flowtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/flowtest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// orderHarness is a harness over testdata/order.yaml, closed when the test
// ends.
func orderHarness(t *testing.T) *flowtest.Harness {
	t.Helper()
	h, err := flowtest.New(ctxT(t), flowtest.Options{}, "testdata/order.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func runFile(t *testing.T, path string, opts flowtest.RunOptions) map[string]flowtest.CaseResult {
	t.Helper()
	f, ds := flowtest.LoadFile(path)
	if ds.HasErrors() {
		t.Fatalf("load %s: %v", path, ds)
	}
	rs, err := flowtest.Run(ctxT(t), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]flowtest.CaseResult{}
	for _, r := range rs {
		out[r.Case] = r
	}
	return out
}

// Every case of pass.test.yaml passes: mocks as values, templates over args
// and sequences with failures; signals on the first wait and at a virtual
// time; retries, week-long waits and a 30-day sleep on the virtual clock.
func TestPassingCases(t *testing.T) {
	rs := runFile(t, "testdata/pass.test.yaml", flowtest.RunOptions{})
	if len(rs) != 6 {
		t.Fatalf("ran %d cases, want 6", len(rs))
	}
	for name, r := range rs {
		if !r.Passed {
			t.Errorf("case %q failed: %v", name, r.Failures)
		}
	}
}

// Cases that should fail are reported as failing, with the message and the
// test file's line and column of what failed.
func TestFailingCases(t *testing.T) {
	rs := runFile(t, "testdata/fail.test.yaml", flowtest.RunOptions{})
	want := map[string][]string{
		"wrong result": {`testdata/fail.test.yaml:14:44: result.trackingId differs
  - want: "T-1"
  + got:  "T-9"`},
		"unmocked activity": {
			"testdata/fail.test.yaml:15:11: activity payments.charge was called but the case has no mock for it (add it under activities:)",
			`testdata/fail.test.yaml:19:15: status: want completed, got failed ({"attempts":1,"message":"Unmocked: activity payments.charge has no mock in this test","step":"charge","type":"Unmocked"})`,
		},
		"signal never arrives": {
			"testdata/fail.test.yaml:26:15: signal aproval was never sent: the instance ended first",
			`testdata/fail.test.yaml:29:15: status: want completed, got failed ({"message":"wait for signal \"approval\" timed out","step":"approve","type":"Timeout"})`,
		},
	}
	for name, msgs := range want {
		r, ok := rs[name]
		if !ok {
			t.Errorf("case %q did not run", name)
			continue
		}
		if r.Passed {
			t.Errorf("case %q passed; want it to fail", name)
		}
		var got []string
		for _, f := range r.Failures {
			got = append(got, f.String())
		}
		if strings.Join(got, "\n") != strings.Join(msgs, "\n") {
			t.Errorf("case %q failures:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(msgs, "\n"))
		}
	}
}

// A typo in a test file's key is a load error at its line, like a flow's.
func TestLoadErrors(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"typo": {"memflow-test: v1\nflows: [order.yaml]\ncases:\n  - name: x\n    workflow: order\n    expcet: {}\n",
			`testdata/x.test.yaml:6:5: unknown key "expcet"`},
		"no workflow": {"memflow-test: v1\nflows: [order.yaml]\ncases:\n  - name: x\n",
			`testdata/x.test.yaml:4:11: case "x" names neither a workflow nor a hook to start`},
		"missing flows": {"memflow-test: v1\nflows: [nope.yaml]\ncases:\n  - name: x\n    workflow: order\n",
			`testdata/x.test.yaml:2:8: flows: testdata/nope.yaml does not exist`},
		"bad at": {"memflow-test: v1\nflows: order.yaml\ncases:\n  - name: x\n    workflow: order\n    signals: [{name: s, at: soon}]\n",
			`testdata/x.test.yaml:6:29: at: bad duration "soon": use Go syntax such as 90m or 2h30m, or days such as 7d`},
		"hook without instance": {"memflow-test: v1\nflows: order.yaml\ncases:\n  - name: x\n    hook: h\n    instance: nobody\n",
			"testdata/x.test.yaml:6:15: instance \"nobody\" is not the id of an earlier case (give that case `id: nobody`)"},
		"bad answer": {"memflow-test: v1\nflows: order.yaml\ncases:\n  - name: x\n    workflow: order\n    activities:\n      payments.charge: { return: 1 }\n",
			`testdata/x.test.yaml:7:26: unknown key "return"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, ds := flowtest.ParseFile("testdata/x.test.yaml", []byte(c.src))
			if !ds.HasErrors() {
				t.Fatal("loaded; want an error")
			}
			if got := ds[0].String(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// --run selects cases by name; coverage lists the steps no selected case
// reached, with their lines.
func TestMatchAndCover(t *testing.T) {
	cov := flowtest.NewCoverage()
	rs := runFile(t, "testdata/pass.test.yaml", flowtest.RunOptions{Match: regexp.MustCompile("declined"), Cover: cov})
	if len(rs) != 1 || !rs["a declined card fails at once"].Passed {
		t.Fatalf("results: %+v", rs)
	}
	got := strings.Join(cov.Unreached(), "\n")
	want := `testdata/order.yaml:17: step merge never ran
testdata/order.yaml:18: step approve never ran
testdata/order.yaml:21: step if never ran
testdata/order.yaml:23: step fail never ran
testdata/order.yaml:24: step cool never ran
testdata/order.yaml:26: step ship never ran
testdata/order.yaml:29: step merge never ran
testdata/order.yaml:34: step set never ran
testdata/order.yaml:35: step done never ran
testdata/order.yaml:41: step append never ran`
	if got != want {
		t.Errorf("unreached:\n%s\nwant:\n%s", got, want)
	}
	cov = flowtest.NewCoverage()
	runFile(t, "testdata/pass.test.yaml", flowtest.RunOptions{Cover: cov})
	if un := cov.Unreached(); len(un) != 0 {
		t.Errorf("every step of order.yaml runs in pass.test.yaml; unreached: %v", un)
	}
}

// The Go harness: mocks as Go functions, the virtual clock, signals,
// results, entities and calls.
func TestHarness(t *testing.T) {
	ctx := ctxT(t)
	h := orderHarness(t)
	if err := h.Mock("payments.charge", flowtest.Returns(map[string]any{"chargeId": "c"})); err != nil {
		t.Fatal(err)
	}
	if err := h.Mock("shipping.book", func(ctx context.Context, args json.RawMessage) (any, error) {
		var a struct{ OrderID string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return map[string]any{"trackingId": "T-" + a.OrderID}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Mock("no.such", flowtest.Returns(1)); err == nil || !strings.Contains(err.Error(), "no loaded flow calls this activity") {
		t.Errorf("mock of an activity no flow calls: %v", err)
	}
	id, err := h.Start(ctx, "order", map[string]any{"orderId": "o-9", "amount": 3})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Engine().Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != memflow.StatusRunning || len(st.Threads) != 1 || st.Threads[0].Signal != "approval" {
		t.Fatalf("after start: %+v, want waiting for approval", st)
	}
	if !h.Now().Equal(flowtest.DefaultClock) {
		t.Errorf("clock moved to %s while the instance waits for a signal with nothing else due... want %s", h.Now(), flowtest.DefaultClock)
	}
	if err := h.Signal(ctx, id, "approval", map[string]any{"approved": true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Engine().Status(ctx, id); st.Status != memflow.StatusRunning || st.Threads[0].Doing != memflow.DoingSleep {
		t.Fatalf("after the signal: %+v, want asleep", st)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := h.Engine().Result(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != `{"shipped":true,"trackingId":"T-o-9"}` {
		t.Errorf("result %s", res)
	}
	if want := flowtest.DefaultClock.Add(720 * time.Hour); !h.Now().Equal(want) {
		t.Errorf("clock at %s after the 30-day sleep, want %s", h.Now(), want)
	}
	calls := h.Calls("")
	if len(calls) != 2 || calls[0].Activity != "payments.charge" || calls[1].Activity != "shipping.book" || calls[1].Step != "ship" {
		t.Errorf("calls %+v", calls)
	}
}

// Advance stops the clock: a timer due later stays pending.
func TestHarnessAdvance(t *testing.T) {
	ctx := ctxT(t)
	h := orderHarness(t)
	h.Mock("payments.charge", flowtest.Sequence(flowtest.Fails("Gateway", "down"), flowtest.Returns(map[string]any{"chargeId": "c"})))
	id, err := h.Engine().Start(ctx, "order", map[string]any{"orderId": "o", "amount": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Advance(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Calls("payments.charge")); n != 1 {
		t.Fatalf("%d charge calls within a minute, want 1 (the retry waits 10m)", n)
	}
	if err := h.Advance(ctx, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Calls("payments.charge")); n != 2 {
		t.Fatalf("%d charge calls after 11 minutes, want 2", n)
	}
	in, err := h.Engine().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(in.Entity), `"status":"charged"`) {
		t.Errorf("entity %s", in.Entity)
	}
}

// A flow that does not load is a FlowError naming its line.
func TestHarnessFlowError(t *testing.T) {
	_, err := flowtest.New(ctxT(t), flowtest.Options{}, "testdata/pass.test.yaml")
	var fe *memflow.FlowError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "pass.test.yaml") {
		t.Fatalf("err %v, want a FlowError", err)
	}
}

// BenchmarkTimeSkipping runs a case that waits almost 7 days for a signal
// and then sleeps 30 days, all on the virtual clock: the entity's shippedAt
// proves the virtual time that passed.
func BenchmarkTimeSkipping(b *testing.B) {
	f, ds := flowtest.ParseFile("testdata/bench.test.yaml", []byte(`memflow-test: v1
flows: [order.yaml]
cases:
  - name: a week of waiting and a month asleep
    workflow: order
    input: { orderId: o, amount: 1 }
    activities:
      payments.charge: { returns: { chargeId: c } }
      shipping.book: { returns: { trackingId: t } }
    signals:
      - { name: approval, at: 167h, data: { approved: true } }
    expect:
      status: completed
      entity: { shippedAt: "2030-02-06T23:00:00.000000000Z" }
`))
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	ctx := ctxT(b)
	for b.Loop() {
		rs, err := flowtest.Run(ctx, f, flowtest.RunOptions{})
		if err != nil || len(rs) != 1 || !rs[0].Passed {
			b.Fatalf("%v %+v", err, rs)
		}
	}
}
