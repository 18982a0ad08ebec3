package memflow_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/memflow/memflow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const metricsFlow = `
memflow: v1
workflows:
  paid:
    entity: paid
    steps:
      - id: charge
        activity: test.flaky
        args: { key: "${ input.key }" }
        retry: { maxAttempts: 3, initialInterval: 10ms }
  parent:
    entity: parent
    steps:
      - workflow: kid
  kid:
    entity: kid
    steps:
      - set: { done: true }
  parked:
    entity: parked
    taskQueue: nobody
    steps:
      - activity: test.echo
`

// Known work moves the counters by exactly what it did: three instances
// whose activity fails once and then succeeds, two instances parked on a
// queue no worker serves. The numbers are read the way Prometheus reads
// them: over HTTP, in the text format. A child started by a step counts as
// a start of its workflow.
func TestMetricsCountKnownWork(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		reg := prometheus.NewRegistry()
		eng, err := memflow.Open(context.Background(), d.URL, memflow.Config{App: d.App, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		acts := newActs()
		acts.failures = 1
		acts.register(t, eng)
		loadFlow(t, eng, metricsFlow)
		ctx := testCtx(t)
		for i := range 2 {
			start(t, eng, "parked", map[string]any{"n": i})
		}
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		// The first scrape reads the ready tasks: the parked instances'.
		if got := scrape(t, srv.URL)[`memflow_tasks_ready{queue="nobody"}`]; got != 2 {
			t.Errorf("memflow_tasks_ready{queue=nobody} = %v, want 2", got)
		}

		work(t, eng, memflow.WorkerConfig{Queues: []string{"default"}})
		var ids []string
		for i := range 3 {
			ids = append(ids, start(t, eng, "paid", map[string]any{"key": fmt.Sprint("k", i)}))
		}
		ids = append(ids, start(t, eng, "parent", nil))
		for _, id := range ids {
			if _, err := eng.Result(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		m := scrape(t, srv.URL)
		for name, want := range map[string]float64{
			`memflow_workflows_started_total{workflow="paid"}`:                       3,
			`memflow_workflows_started_total{workflow="parked"}`:                     2,
			`memflow_workflows_ended_total{status="completed",workflow="paid"}`:      3,
			`memflow_workflows_started_total{workflow="parent"}`:                     1,
			`memflow_workflows_started_total{workflow="kid"}`:                        1,
			`memflow_workflows_ended_total{status="completed",workflow="kid"}`:       1,
			`memflow_workflows_ended_total{status="completed",workflow="parent"}`:    1,
			`memflow_activity_attempts_total{activity="test.flaky",outcome="error"}`: 3,
			`memflow_activity_attempts_total{activity="test.flaky",outcome="ok"}`:    3,
			`memflow_activity_seconds_count{activity="test.flaky"}`:                  6,
			// per paid instance: its start, the failed attempt, the result
			`memflow_transitions_total{workflow="paid"}`:   9,
			`memflow_transitions_total{workflow="parked"}`: 2,
			// the parent's start (which creates the child) and the child's
			// end reaching it; the child's one run
			`memflow_transitions_total{workflow="parent"}`: 2,
			`memflow_transitions_total{workflow="kid"}`:    1,
			`memflow_transition_seconds_count`:             14,
			`memflow_reloads_total{result="ok"}`:           1,
			`memflow_lease_expired_total`:                  0,
			`memflow_store_retries_total`:                  0,
		} {
			if got, ok := m[name]; !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
			}
		}
		if _, ok := m[`memflow_workflows_ended_total{status="completed",workflow="parked"}`]; ok {
			t.Errorf("parked instances counted as ended")
		}
	})
}

// scrape reads /metrics as Prometheus does and flattens it to
// `name{label="value",...}` -> value (histograms as _count).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	s := "{"
	for i, l := range m.GetLabel() {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	return s + "}"
}
