package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/memflow/memflow/internal/store"
	"github.com/wI2L/jsondiff"
)

// Entity time travel: the "started" history row stores the first entity as
// a JSON patch (RFC 6902) from null, and each command step's row the patch
// it made (the entity is changed by command steps only), in the
// transition's own transaction. The entity right after row N is the patches
// of rows 1..N applied in order.

// entityPatch is the patch from before to after; nil when they are equal.
// Numbers are compared and written as written (no float rounding).
func entityPatch(before, after []byte) (json.RawMessage, error) {
	if len(before) == 0 {
		before = []byte("null")
	}
	if len(after) == 0 {
		after = []byte("null")
	}
	if bytes.Equal(before, after) {
		return nil, nil
	}
	p, err := jsondiff.CompareJSON(before, after, jsondiff.UnmarshalFunc(decodeNumbers))
	if err != nil {
		return nil, fmt.Errorf("entity patch: %w", err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	return json.Marshal(p)
}

// wholePatch is the patch from null to doc.
func wholePatch(doc json.RawMessage) json.RawMessage {
	return mustJSON([]map[string]any{{"op": "add", "path": "", "value": doc}})
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
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

// applyPatch applies one stored patch. An operation on the whole document
// (path "") replaces it; json-patch applies the rest.
func applyPatch(doc []byte, p json.RawMessage) ([]byte, error) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(p, &ops); err != nil {
		return nil, fmt.Errorf("stored patch: %w", err)
	}
	if len(ops) == 1 && ops[0].Path == "" && (ops[0].Op == "add" || ops[0].Op == "replace") {
		return ops[0].Value, nil
	}
	patch, err := jsonpatch.DecodePatch(p)
	if err != nil {
		return nil, fmt.Errorf("stored patch: %w", err)
	}
	return patch.Apply(doc)
}
