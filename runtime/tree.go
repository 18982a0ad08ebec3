package runtime

import (
	"context"
	"fmt"

	"github.com/memflow/memflow/internal/store"
)

// maxCancelPasses bounds CancelTree's passes over a tree whose instances
// start children while it cancels them.
const maxCancelPasses = 100

// CancelTree cancels the tree of instance id: id itself if it still runs,
// and every running instance started under it (its children, theirs, and so
// on, detached or not), also when id already ended. For a root that is every
// instance of its tree, and the tree is closed first: a child step of the
// tree that runs after that cancels its own instance instead of starting
// anything. For an inner instance, it is those reached through the
// instances each one started. Passes over the tree, oldest first, repeat
// until none runs. It returns how many of the tree's running instances ended
// cancelled, whether by its own cancel or by the cancel of their parent.
func (e *Engine) CancelTree(ctx context.Context, id string) (int, error) {
	top, err := e.st.GetJob(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("cancel tree %q: %w", id, err)
	}
	if top.Root == top.ID {
		if err := e.st.CloseTree(ctx, id); err != nil {
			return 0, fmt.Errorf("cancel tree %q: %w", id, err)
		}
	}
	cancelled := map[string]bool{}
	for range maxCancelPasses {
		jobs, err := e.st.ListTree(ctx, id, store.StatusRunning)
		if err != nil {
			return len(cancelled), fmt.Errorf("cancel tree %q: %w", id, err)
		}
		if len(jobs) == 0 {
			return len(cancelled), nil
		}
		for i := range jobs {
			reason := "cancelled"
			if jobs[i].ID != id {
				reason = treeCancelled(id)
			}
			status, err := e.cancelJob(ctx, &jobs[i], reason)
			if err != nil {
				return len(cancelled), fmt.Errorf("cancel tree %q: instance %q: %w", id, jobs[i].ID, err)
			}
			if status == store.StatusCancelled {
				cancelled[jobs[i].ID] = true
			}
		}
	}
	return len(cancelled), fmt.Errorf("cancel tree %q: instances still running after %d passes (%d cancelled)", id, maxCancelPasses, len(cancelled))
}

// treeCancelled is the error message of an instance cancelled with the tree
// of root.
func treeCancelled(root string) string {
	return fmt.Sprintf("cancelled: the tree of workflow %q was cancelled", root)
}
