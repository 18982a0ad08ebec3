package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/memflow/memflow/internal/store"
)

// Entity time travel: the "started" history row stores the first entity as
// a JSON patch (RFC 6902) from null, and each command step's row the patch
// it made (the entity is changed by command steps only; the store derives
// the patch from the commands, so it costs what the change costs), in the
// transition's own transaction. The entity right after row N is the patches
// of rows 1..N applied in order.

// wholePatch is the patch from null to doc.
func wholePatch(doc json.RawMessage) json.RawMessage {
	return mustJSON([]map[string]any{{"op": "add", "path": "", "value": doc}})
}

// ErrNoTimeTravel is EntityAt's error for an instance whose first history
// row has no entity patch: it started before the store kept them.
var ErrNoTimeTravel = errors.New("the instance started before entity changes were recorded")

// EntityAt rebuilds instance id's entity as it was right after history row
// seq committed.
func (e *Engine) EntityAt(ctx context.Context, id string, seq int64) (json.RawMessage, error) {
	patches, last, err := e.st.EntityPatches(ctx, id, seq)
	if err != nil {
		return nil, err
	}
	if last == 0 {
		if _, err := e.st.GetJob(ctx, id); err != nil {
			return nil, fmt.Errorf("entity of %q at row %d: %w", id, seq, err)
		}
	}
	if seq < 1 || seq > last {
		return nil, fmt.Errorf("entity of %q at row %d: the history has rows 1 to %d: %w", id, seq, last, store.ErrNotFound)
	}
	if len(patches) == 0 || patches[0] == nil {
		return nil, fmt.Errorf("entity of %q at row %d: %w", id, seq, ErrNoTimeTravel)
	}
	doc := []byte("null")
	for _, p := range patches {
		if doc, err = applyPatch(doc, p); err != nil {
			return nil, fmt.Errorf("entity of %q at row %d: %w", id, seq, err)
		}
	}
	return doc, nil
}

// applyPatch applies one stored patch: operations on the whole document
// (path "") replace it, json-patch applies the others.
func applyPatch(doc []byte, p json.RawMessage) ([]byte, error) {
	var ops []json.RawMessage
	if err := json.Unmarshal(p, &ops); err != nil {
		return nil, fmt.Errorf("stored patch: %w", err)
	}
	var run []json.RawMessage
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		b, _ := json.Marshal(run)
		run = run[:0]
		patch, err := jsonpatch.DecodePatch(b)
		if err != nil {
			return fmt.Errorf("stored patch: %w", err)
		}
		doc, err = patch.Apply(doc)
		return err
	}
	for _, raw := range ops {
		var op struct {
			Op    string          `json:"op"`
			Path  *string         `json:"path"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &op); err != nil || op.Path == nil {
			return nil, fmt.Errorf("stored patch: operation %s", raw)
		}
		if *op.Path == "" && (op.Op == "add" || op.Op == "replace") {
			if err := flush(); err != nil {
				return nil, err
			}
			doc = op.Value
			continue
		}
		run = append(run, raw)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return doc, nil
}
