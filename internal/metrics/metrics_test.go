package metrics

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Every memflow metric the Grafana dashboard and docs/operations.md query
// is one the engine registers, so a renamed metric cannot leave a panel
// empty.
func TestDashboardNamesExist(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, func(context.Context) (map[string]int, error) { return map[string]int{"q": 1}, nil }, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	exercise(m) // every vector gets a series, so Gather lists it
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	for _, doc := range []string{"../../docs/grafana-dashboard.json", "../../docs/operations.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`memflow_[a-z_]+`).FindAllString(string(b), -1)
		if len(names) < 5 {
			t.Fatalf("%s names only %v", doc, names)
		}
		for _, n := range names {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
			if !have[base] {
				t.Errorf("%s queries %s, which the engine does not register", doc, n)
			}
		}
	}
}

// A nil *Metrics records nothing and does not panic: engines without a
// registerer use it.
func TestNilMetrics(t *testing.T) {
	exercise(nil)
}

// exercise calls every method of m once.
func exercise(m *Metrics) {
	m.Started("w")
	m.Ended("w", "completed")
	m.Transition("w", time.Millisecond)
	m.Attempt("a", true, time.Millisecond)
	m.LeaseExpired()
	m.Reload(true)
	m.StoreRetry()
}
