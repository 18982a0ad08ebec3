// Package metrics holds the engine's Prometheus metrics. A nil *Metrics is
// valid and records nothing, so an engine without a registerer pays a nil
// check per event and nothing else. Labels are bounded: workflow, activity,
// queue, status and outcome names come from flows, never instance ids.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's counters, gauges and histograms.
type Metrics struct {
	started       *prometheus.CounterVec
	ended         *prometheus.CounterVec
	transitions   *prometheus.CounterVec
	transitionSec prometheus.Histogram
	attempts      *prometheus.CounterVec
	activitySec   *prometheus.HistogramVec
	leaseExpired  prometheus.Counter
	reloads       *prometheus.CounterVec
	storeRetries  prometheus.Counter
}

// ReadyFunc counts the tasks due now per queue (one cheap store query).
type ReadyFunc func(ctx context.Context) (map[string]int, error)

// New registers the metrics with reg; ready, when set, feeds the
// memflow_tasks_ready gauge, read at most once per readyEvery however often
// Prometheus scrapes.
func New(reg prometheus.Registerer, ready ReadyFunc, readyEvery time.Duration) (*Metrics, error) {
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memflow_workflows_started_total",
			Help: "Instances started, by workflow."}, []string{"workflow"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memflow_workflows_ended_total",
			Help: "Instances ended, by workflow and status (completed, failed, cancelled)."}, []string{"workflow", "status"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memflow_transitions_total",
			Help: "Transitions committed, by workflow."}, []string{"workflow"}),
		transitionSec: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "memflow_transition_seconds",
			Help:    "Time to run and commit one transition (the database transaction included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memflow_activity_attempts_total",
			Help: "Activity attempts, by activity and outcome (ok, error)."}, []string{"activity", "outcome"}),
		activitySec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "memflow_activity_seconds",
			Help:    "Time one activity attempt ran.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"activity"}),
		leaseExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "memflow_lease_expired_total",
			Help: "Tasks claimed again after the lease of the worker holding them expired."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memflow_reloads_total",
			Help: "Flow loads and reloads, by result (ok, error)."}, []string{"result"}),
		storeRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "memflow_store_retries_total",
			Help: "Database operations tried again after an infrastructure error."}),
	}
	cs := []prometheus.Collector{m.started, m.ended, m.transitions, m.transitionSec, m.attempts, m.activitySec,
		m.leaseExpired, m.reloads, m.storeRetries}
	if ready != nil {
		cs = append(cs, &readyCollector{read: ready, every: readyEvery,
			desc: prometheus.NewDesc("memflow_tasks_ready", "Tasks due now and not held by a worker, by queue.", []string{"queue"}, nil)})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Started counts a start of workflow.
func (m *Metrics) Started(workflow string) {
	if m != nil {
		m.started.WithLabelValues(workflow).Inc()
	}
}

// Ended counts an instance of workflow that ended with status.
func (m *Metrics) Ended(workflow, status string) {
	if m != nil {
		m.ended.WithLabelValues(workflow, status).Inc()
	}
}

// Transition counts a committed transition of workflow that took d.
func (m *Metrics) Transition(workflow string, d time.Duration) {
	if m != nil {
		m.transitions.WithLabelValues(workflow).Inc()
		m.transitionSec.Observe(d.Seconds())
	}
}

// Attempt counts an attempt of activity that ran d and ended ok or not.
func (m *Metrics) Attempt(activity string, ok bool, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "error"
	}
	m.attempts.WithLabelValues(activity, outcome).Inc()
	m.activitySec.WithLabelValues(activity).Observe(d.Seconds())
}

// LeaseExpired counts a task claimed again after its lease expired.
func (m *Metrics) LeaseExpired() {
	if m != nil {
		m.leaseExpired.Inc()
	}
}

// Reload counts a flow load that succeeded or failed.
func (m *Metrics) Reload(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	m.reloads.WithLabelValues(r).Inc()
}

// StoreRetry counts a database operation tried again.
func (m *Metrics) StoreRetry() {
	if m != nil {
		m.storeRetries.Inc()
	}
}

// readyCollector reports the ready tasks per queue, from a reading at most
// every long old: scrapes in between get the cached numbers.
type readyCollector struct {
	read  ReadyFunc
	every time.Duration
	desc  *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last map[string]int
}

func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.last == nil || time.Since(c.at) >= c.every {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if n, err := c.read(ctx); err == nil {
			c.last, c.at = n, time.Now()
		}
		cancel()
	}
	last := c.last
	c.mu.Unlock()
	for q, n := range last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), q)
	}
}
