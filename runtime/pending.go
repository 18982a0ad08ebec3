package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// This file keeps signals sent to an instance id that does not exist yet
// (store.PendingSignal) and hands them to the instance when it is created.

// pending is signal name sent at now to id, which no instance holds, as
// kept until Limits.PendingSignalTTL.
func (e *Engine) pending(id, name string, raw []byte, now time.Time) store.PendingSignal {
	return store.PendingSignal{Target: id, Name: name, Data: raw, SentAt: now, ExpiresAt: now.Add(e.lim.PendingSignalTTL)}
}

// takePending moves the signals kept for in's id into its kept signals, in
// the order they were sent, dropping expired ones. It runs in the
// transaction that creates the instance, and returns a history event per
// signal.
func takePending(ctx context.Context, tx store.Tx, id string, in *instance, now time.Time) ([]store.HistoryEvent, error) {
	ps, err := tx.TakePendingSignals(ctx, id, now)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	evs := make([]store.HistoryEvent, 0, len(ps))
	for _, p := range ps {
		data, err := decodeValue(p.Data)
		if err != nil {
			return nil, fmt.Errorf("signal %s kept for %q: decode data: %w", p.Name, id, err)
		}
		if in.Signals == nil {
			in.Signals = map[string][]any{}
		}
		in.Signals[p.Name] = append(in.Signals[p.Name], data)
		evs = append(evs, store.HistoryEvent{JobID: id, At: now, Kind: "signal-kept", State: -1,
			Detail: mustJSON(map[string]any{"name": p.Name, "data": data, "sentAt": compiler.FormatTime(p.SentAt)})})
	}
	return evs, nil
}

// signalAbsent keeps a signal for id when no instance holds it. done is
// true when it was kept; false when an instance exists (deliver to it).
func (e *Engine) signalAbsent(ctx context.Context, id, name string, raw json.RawMessage) (done bool, err error) {
	if err := CheckID(id); err != nil {
		return false, err
	}
	err = e.st.InTx(ctx, func(tx store.Tx) error {
		done, err = tx.KeepSignal(ctx, e.pending(id, name, raw, e.now()))
		return err
	})
	return done, err
}

// sweepBatch is how many expired rows one sweep deletes per table.
const sweepBatch = 500

// sweepEvery is how often a worker deletes expired kept signals and
// expired instances.
const sweepEvery = time.Minute

// sweep deletes expired kept signals and instances, in small batches, at
// most once per sweepEvery per engine.
func (e *Engine) sweep(ctx context.Context) {
	now := time.Now()
	last := e.lastSweep.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < sweepEvery {
		return
	}
	if !e.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, e.lim.DBTimeout)
	defer cancel()
	if _, err := e.st.DeleteExpiredSignals(cctx, e.now(), sweepBatch); err != nil && ctx.Err() == nil {
		e.log.Warn("delete expired signals", "err", err)
	}
	e.sweepJobs(cctx)
}
