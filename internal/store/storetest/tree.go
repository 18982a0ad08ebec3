package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// testTree pins the tree columns: InsertJob records root, parent and depth
// (a job without a root is its own), and ListTree finds a root's tree, or the
// part below an inner instance, filtered by status.
func testTree(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	add := func(id, root, parent string, depth int, status string) {
		at = at.Add(time.Millisecond)
		insert(t, s, store.Job{ID: id, Entity: "e", Root: root, Parent: parent, Depth: depth, Status: status, CreatedAt: at})
	}
	add("r", "", "", 0, "")
	add("a", "r", "r", 1, "")
	add("b", "r", "a", 2, store.StatusCompleted)
	add("c", "r", "b", 3, "")
	add("d", "r", "r", 1, "")
	add("other", "", "", 0, "")
	add("other.1", "other", "other", 1, "")

	j, err := s.GetJob(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if j.Root != "r" || j.Parent != "a" || j.Depth != 2 {
		t.Errorf("b: root %q parent %q depth %d, want r, a, 2", j.Root, j.Parent, j.Depth)
	}
	if j, err = s.GetJob(ctx, "r"); err != nil || j.Root != "r" || j.Parent != "" || j.Depth != 0 {
		t.Errorf("r: %+v, %v; want its own root, no parent, depth 0", j, err)
	}
	list := func(id, status string, want ...string) {
		t.Helper()
		jobs, err := s.ListTree(ctx, id, status)
		if err != nil {
			t.Fatalf("ListTree(%s, %q): %v", id, status, err)
		}
		got := []string{}
		for _, j := range jobs {
			got = append(got, j.ID)
		}
		if want == nil {
			want = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListTree(%s, %q) = %v, want %v", id, status, got, want)
		}
	}
	list("r", "", "r", "a", "b", "c", "d")
	list("r", store.StatusRunning, "r", "a", "c", "d")
	list("a", "", "a", "b", "c")
	list("b", store.StatusRunning, "c")
	list("c", "", "c")
	list("other", "", "other", "other.1")
	if _, err := s.ListTree(ctx, "nope", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ListTree(missing) err = %v, want ErrNotFound", err)
	}
}

// testDescendants pins the descendant counter: it stops at the limit,
// RemoveDescendant takes one back, a rolled-back transaction counts nothing,
// a closed tree refuses every start, and concurrent transactions never pass
// the limit together.
func testDescendants(t *testing.T, s store.Store) {
	ctx := context.Background()
	count := func(root string, limit, wantN int, wantOK bool) {
		t.Helper()
		tx(t, s, func(tx store.Tx) error {
			n, ok, err := tx.AddDescendant(ctx, root, limit)
			if err != nil {
				return err
			}
			if n != wantN || ok != wantOK {
				t.Errorf("AddDescendant(%s, %d) = %d, %v; want %d, %v", root, limit, n, ok, wantN, wantOK)
			}
			return nil
		})
	}
	count("r", 2, 1, true)
	count("r", 2, 2, true)
	count("r", 2, 2, false)
	count("r", 3, 3, true)
	count("q", 3, 1, true) // each root has its own count
	tx(t, s, func(tx store.Tx) error { return tx.RemoveDescendant(ctx, "r") })
	count("r", 3, 3, true)
	undo := errors.New("roll back")
	if err := s.InTx(ctx, func(tx store.Tx) error {
		if _, _, err := tx.AddDescendant(ctx, "q", 10); err != nil {
			return err
		}
		return undo
	}); !errors.Is(err, undo) {
		t.Fatalf("InTx: %v", err)
	}
	count("q", 10, 2, true)
	tx(t, s, func(tx store.Tx) error {
		if _, _, err := tx.AddDescendant(ctx, "q", 0); err == nil {
			t.Errorf("AddDescendant with limit 0 succeeded")
		}
		return nil
	})

	if err := s.CloseTree(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseTree(ctx, "never-counted"); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"q", "never-counted"} {
		tx(t, s, func(tx store.Tx) error {
			if _, ok, err := tx.AddDescendant(ctx, root, 10); ok || !errors.Is(err, store.ErrTreeClosed) {
				t.Errorf("AddDescendant(%s) after CloseTree = %v, %v; want ErrTreeClosed", root, ok, err)
			}
			return nil
		})
	}
	count("r", 4, 4, true) // other trees stay open

	const limit, tries = 5, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok bool
			err := s.InTx(ctx, func(tx store.Tx) error {
				var err error
				_, ok, err = tx.AddDescendant(ctx, "race", limit)
				return err
			})
			if err != nil {
				t.Errorf("AddDescendant: %v", err)
			}
			if ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != limit {
		t.Errorf("%d concurrent AddDescendant granted %d, want the limit %d", tries, granted, limit)
	}
}
