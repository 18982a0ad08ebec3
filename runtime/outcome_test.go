package runtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

func TestEndHubRemembersRecentSmallOutcomes(t *testing.T) {
	e := &Engine{}
	for i := range recentSize + 1 {
		e.ends.ended(&store.Job{ID: fmt.Sprint("j", i), Status: store.StatusCompleted, Result: json.RawMessage(`1`)})
	}
	if _, ok := e.EndedHere("j0"); ok {
		t.Error("the oldest outcome is still kept past the bound")
	}
	if o, ok := e.EndedHere(fmt.Sprint("j", recentSize)); !ok || o.Status != store.StatusCompleted || string(o.Result) != "1" {
		t.Errorf("newest outcome %+v, %v", o, ok)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", recentResultBytes) + `"`)
	e.ends.ended(&store.Job{ID: "big", Status: store.StatusCompleted, Result: big})
	if _, ok := e.EndedHere("big"); ok {
		t.Error("an outcome with a large result is kept")
	}
	ch, stop := e.WatchEnd("w")
	defer stop()
	e.ends.ended(&store.Job{ID: "w", Status: store.StatusFailed, Error: "boom"})
	if o := <-ch; o.Status != store.StatusFailed || o.Error != "boom" {
		t.Errorf("waiter got %+v", o)
	}
}
