package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
)

// streamEvent is the data of one Server-Sent Event: a committed history
// row and the instance's status when it was sent.
type streamEvent struct {
	memflow.Event
	Status string `json:"status"`
}

// events streams an instance's history as Server-Sent Events: one event
// per history row (id: its seq, event: "history"), from the row after
// Last-Event-ID (or ?after) on, then an "end" event once the instance has
// ended and every row was sent. Rows committed by any process on the
// database arrive: the stream reads the rows after the last one sent at
// once when this process commits one of the instance's transitions, and
// every Options.Poll for the commits of other processes (one indexed query).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var last int64
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("after")
	}
	if from != "" {
		n, err := strconv.ParseInt(from, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, badInput("Last-Event-ID %q: want the seq of a history row", from))
			return
		}
		last = n
	}
	in, err := s.eng.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.streams.Add(1) > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable",
			fmt.Sprintf("this server already serves %d event streams: try again later", s.opts.MaxStreams))
		return
	}
	defer s.streams.Add(-1)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A retry hint, and a first line so the client knows it is connected.
	if !send("retry: 2000\n: %s\n\n", in.Status) {
		return
	}
	ctx := r.Context()
	tick := time.NewTicker(s.opts.Poll)
	defer tick.Stop()
	// This process's own commits wake the stream at once; the poll finds
	// those of other processes.
	woken, stopWatch := s.eng.WatchCommits(id)
	defer stopWatch()
	lastSent := time.Now()
	// Each row carries the status after it: running until the row that
	// ends the instance. The instance is read once, here: ended already
	// means the rows after last are all there is.
	endedAtStart := in.Status != memflow.StatusRunning
	status := memflow.StatusRunning
	for {
		evs, err := s.eng.HistoryAfter(ctx, id, last)
		if err != nil && !store.IsTransient(err) {
			return
		}
		for _, ev := range evs {
			if ev.Thread == "" && endKind(ev.Kind) {
				status = ev.Kind
			}
			b, err := json.Marshal(streamEvent{Event: ev, Status: status})
			if err != nil || !send("id: %d\nevent: history\ndata: %s\n\n", ev.Seq, b) {
				return
			}
			last, lastSent = ev.Seq, time.Now()
		}
		if len(evs) == memflow.HistoryPage {
			continue // more rows wait
		}
		if err == nil && (status != memflow.StatusRunning || endedAtStart && len(evs) == 0) {
			if status == memflow.StatusRunning {
				status = in.Status // resumed after the row that ended it
			}
			send("event: end\ndata: {\"status\":%q}\n\n", status)
			return
		}
		if time.Since(lastSent) > 15*time.Second {
			if !send(": ping\n\n") {
				return
			}
			lastSent = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-woken:
		case <-tick.C:
		}
	}
}

// endKind reports whether a history row of the main thread ends the
// instance.
func endKind(kind string) bool {
	return kind == memflow.StatusCompleted || kind == memflow.StatusFailed || kind == memflow.StatusCancelled
}
