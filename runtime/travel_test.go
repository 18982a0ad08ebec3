package runtime

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// The patch the store derives from a step's commands takes the entity
// before the step to the entity after it, for every command kind, on
// existing and missing paths, arrays, scalars in the way and the root,
// over many random sequences.
func TestCommandPatchesReplay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	paths := []string{"", "a", "a.b", "a.b.c", "list", "list.0", "list.1.x", "n", "s", "m.k~1", "m.x/y", "flag", "deep.er.est"}
	values := []any{int64(1), int64(9007199254740993), 2.5, "x", true, nil, map[string]any{"k": int64(1)}, []any{int64(1), "two"}}
	ops := []store.Op{store.OpSet, store.OpMerge, store.OpAppend, store.OpPrepend, store.OpIncrement, store.OpToggle,
		store.OpSetIfNotExists, store.OpDelete, store.OpRemove, store.OpMultiply}
	checked := 0
	for round := 0; round < 3000; round++ {
		doc, _ := decodeValue([]byte(`{"a":{"b":{"c":1}},"list":[1,{"x":2}],"n":3,"s":"str","m":{}}`))
		if round%7 == 0 {
			doc = int64(5) // a scalar document
		}
		for step := 0; step < 4; step++ {
			var cmds []store.Command
			for k := 0; k < 1+r.IntN(3); k++ {
				op := ops[r.IntN(len(ops))]
				c := store.Command{Op: op, Path: paths[r.IntN(len(paths))], Value: values[r.IntN(len(values))]}
				switch op {
				case store.OpIncrement, store.OpMultiply:
					c.Value = int64(r.IntN(5))
				case store.OpRemove:
					c.Value = int64(r.IntN(2))
				case store.OpMerge:
					c.Value = map[string]any{"z": int64(r.IntN(3)), "b": map[string]any{"q": true}}
				}
				cmds = append(cmds, c)
			}
			before, _ := json.Marshal(doc)
			after, patch, err := store.ApplyCommandsPatch(doc, cmds)
			if err != nil {
				continue // a command that cannot apply writes nothing
			}
			want, _ := json.Marshal(after)
			pb, _ := json.Marshal(patch)
			got := before
			if len(patch) > 0 {
				if got, err = applyPatch(before, pb); err != nil {
					t.Fatalf("%s then %v: patch %s does not apply: %v", before, cmds, pb, err)
				}
			}
			if norm(t, got) != norm(t, want) {
				t.Fatalf("%s then %v:\npatch %s\ngives %s\nwant  %s", before, cmds, pb, got, want)
			}
			doc = after
			checked++
		}
	}
	if checked < 3000 {
		t.Fatalf("only %d sequences applied", checked)
	}
}

func norm(t *testing.T, b []byte) string {
	v, err := decodeValue(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
