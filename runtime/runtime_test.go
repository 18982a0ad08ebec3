package runtime

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/memflow/memflow/compiler"
)

func TestBackoff(t *testing.T) {
	r := &compiler.Retry{InitialMS: 100, Coefficient: 2, MaxMS: 1000}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		3: 400 * time.Millisecond, 5: time.Second, 50: time.Second} {
		if got := backoff(r, attempt); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
	if got := backoff(&compiler.Retry{}, 1); got != time.Second {
		t.Errorf("defaults: %s", got)
	}
}

func TestDecodeValueWholeNumbers(t *testing.T) {
	v, err := decodeValue([]byte(`{"n":5,"f":1.5,"big":1e3,"l":[2,2.25]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if _, ok := m["n"].(int); !ok {
		t.Errorf("n is %T", m["n"])
	}
	if m["f"] != 1.5 || m["big"] != 1000 || m["l"].([]any)[0] != 2 {
		t.Errorf("got %#v", m)
	}
	if _, _, err := jsonify(make(chan int)); err == nil {
		t.Error("jsonify accepted a channel")
	}
}

// The state survives its JSON round trip with whole numbers as int.
func TestInstanceRoundTrip(t *testing.T) {
	in := newInstance(time.Unix(0, 0).UTC())
	m := in.newThread(threadMain, "", 0, map[string]any{"n": 5})
	m.Steps["a"] = []any{1, "x"}
	h := in.newThread(threadHook, "bump", 2, nil)
	h.Parent, h.Slot = m.ID, 1
	m.Join = &join{Results: []any{nil, 3}, Running: 1}
	in.Signals = map[string][]any{"go": {map[string]any{"k": 7}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeInstance(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Threads["main"].Input.(map[string]any)["n"] != 5 || out.Threads["t1"].Parent != "main" ||
		out.Threads["main"].Join.Results[1] != 3 || out.Signals["go"][0].(map[string]any)["k"] != 7 {
		t.Errorf("round trip lost data: %s", b)
	}
	if ts := out.threadsByNum(); len(ts) != 2 || ts[0].ID != "main" {
		t.Errorf("order %v", ts)
	}
}

func TestWorkerConfigDefaults(t *testing.T) {
	c := WorkerConfig{}
	if err := c.defaults(); err != nil || c.Concurrency != 10 || c.Lease != 30*time.Second || c.Heartbeat != 10*time.Second || c.ID == "" {
		t.Errorf("defaults %+v %v", c, err)
	}
	c = WorkerConfig{Concurrency: -1}
	if err := c.defaults(); err == nil {
		t.Error("negative concurrency accepted")
	}
}

// The delay before trying a failing database again follows how long it has
// been failing, not how many tries were made: brief outages cost little.
func TestOutageDelayTracksTheOutage(t *testing.T) {
	for down, want := range map[time.Duration]time.Duration{
		0:                      50 * time.Millisecond,
		100 * time.Millisecond: 50 * time.Millisecond,
		time.Second:            250 * time.Millisecond,
		8 * time.Second:        2 * time.Second,
		time.Minute:            5 * time.Second,
	} {
		if got := outageDelay(down); got != want {
			t.Errorf("after %s down: %s, want %s", down, got, want)
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{MaxDepth: 3}
	if err := l.defaults(); err != nil || l.MaxDepth != 3 || l.MaxDescendants != DefaultMaxDescendants ||
		l.MaxHistory != DefaultMaxHistory || l.DBTimeout != DefaultDBTimeout || l.MaxTaskAttempts != DefaultMaxTaskAttempts {
		t.Errorf("defaults %+v %v", l, err)
	}
	if err := (&Limits{MaxHistory: -1}).defaults(); err == nil {
		t.Error("a negative limit was accepted")
	}
}
