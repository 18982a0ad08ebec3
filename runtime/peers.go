package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/memflow/memflow/internal/store"
)

// Steps that concern another instance (a signal or cancel step aimed at it,
// a child step) read nothing in the middle of the step. What they need to
// know about the other instance is a fact the committer read before the
// interpreter ran (peers); what they do to it is an effect the committer
// writes at commit (keeps, spawns, watches).
//
// A step whose fact is missing parks its thread and names the id (need); the
// interpreter finishes the pass with the other threads, the committer reads
// every id named, in the same transaction, and the interpreter runs the
// event again from the stored instance, now with the facts (interpret). A
// fact an effect finds untrue at commit (the instance appeared, the tree
// filled up or closed, the child ended) is corrected in peers and the whole
// transaction runs again (errRerun), so an effect never commits on a wrong
// premise.

// peers is what the committer knows about other instances during one
// transition; it outlives the transition's passes and reruns.
type peers struct {
	// jobs by id; a nil value means no instance holds the id.
	jobs  map[string]*store.Job
	trees map[string]treeFact // by root id, learnt from a failed AddDescendant
}

// treeFact is a tree of instances whose descendant count stopped a child
// start at commit.
type treeFact struct {
	count  int // descendants counted before this transition
	closed bool
}

func newPeers() *peers {
	return &peers{jobs: map[string]*store.Job{}, trees: map[string]treeFact{}}
}

// job returns what is known of instance id: (nil, true) when no instance
// holds it, (_, false) when nothing is known.
func (p *peers) job(id string) (*store.Job, bool) {
	if p == nil {
		return nil, false
	}
	j, ok := p.jobs[id]
	return j, ok
}

func (p *peers) tree(root string) (treeFact, bool) {
	if p == nil {
		return treeFact{}, false
	}
	f, ok := p.trees[root]
	return f, ok
}

// read learns the instances ids from tx, without locking them.
func (p *peers) read(ctx context.Context, tx store.Tx, ids []string) error {
	for _, id := range ids {
		if _, ok := p.jobs[id]; ok {
			continue
		}
		j, err := tx.GetJob(ctx, id, false)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.jobs[id] = nil
		case err != nil:
			return err
		default:
			p.jobs[id] = j
		}
	}
	return nil
}

// errRerun makes the committer run the transaction again: an effect found
// a fact untrue, and peers now holds the truth (or forgot the fact, to read
// it again).
var errRerun = errors.New("a fact about another instance changed: the transition runs again")

// maxReruns bounds how often one transition runs again after errRerun (a
// default child id found taken costs one).
const maxReruns = maxDefaultIDTries + 10

// rerun runs op again while it fails with errRerun.
func rerun(op func() error) error {
	var err error
	for try := 0; try < maxReruns; try++ {
		if err = op(); !errors.Is(err, errRerun) {
			return err
		}
	}
	return fmt.Errorf("gave up after %d runs: %w", maxReruns, err)
}

// maxPasses bounds the interpreter's passes over one event: each pass after
// the first learns at least one id a step needed, and one transition runs at
// most maxStepsPerTx steps.
const maxPasses = maxStepsPerTx + 1

// interpret runs the interpreter (run) on x and, while some step needed a
// fact about another instance, has read learn it and runs again on a fresh
// decoding of the stored instance (again). It returns the transition of
// the last pass, which needed nothing more.
func interpret(x *txn, again func() (*txn, error), read func(ids []string) error, run func(x *txn) error) (*txn, error) {
	for pass := 1; ; pass++ {
		if err := run(x); err != nil {
			return nil, err
		}
		if len(x.needs) == 0 {
			return x, nil
		}
		if pass == maxPasses {
			return nil, fmt.Errorf("instance %q: steps still need other instances after %d passes", x.job.ID, pass)
		}
		if err := read(x.needs); err != nil {
			return nil, err
		}
		next, err := again()
		if err != nil {
			return nil, err
		}
		next.binding = x.binding
		x = next
	}
}

// readPeers is interpret's read inside x's transaction.
func (x *txn) readPeers(ids []string) error {
	return x.peers.read(x.ctx, x.tx, ids)
}

// peer returns what is known of instance id, counting the children this
// pass starts: (nil, true) when no instance holds it, (_, false) when
// nothing is known yet.
func (x *txn) peer(id string) (*store.Job, bool) {
	for i := range x.spawns {
		if x.spawns[i].id == id {
			return x.spawns[i].job, true
		}
	}
	return x.peers.job(id)
}

// need parks the current step's thread until the committer has read
// instance id; the step returns what need returns.
func (x *txn) need(id string) error {
	if !slices.Contains(x.needs, id) {
		x.needs = append(x.needs, id)
	}
	x.parked = true
	return errParked
}

// spawn is a child instance the transition starts at commit.
type spawn struct {
	cp   *program
	id   string
	args any
	raw  []byte
	link *parentLink
	pos  treePos
	job  *store.Job // as later steps of the pass see it
}

// watch is a running instance this one awaits: at commit it is told to
// report its end to link.
type watch struct {
	id   string
	link parentLink
}

// spawnsUnder counts the children this pass starts under root.
func (x *txn) spawnsUnder(root string) int {
	n := 0
	for _, s := range x.spawns {
		if s.pos.root == root {
			n++
		}
	}
	return n
}

// effects writes what the transition's steps did to other instances:
// signals kept for ids no instance holds, children started, and children
// told to report to this instance. A fact one of them finds untrue ends in
// errRerun with peers corrected.
func (x *txn) effects() error {
	ctx, tx := x.ctx, x.tx
	for _, k := range x.keeps {
		kept, err := tx.KeepSignal(ctx, k)
		if err != nil {
			return err
		}
		if !kept { // an instance took the id meanwhile: deliver to it
			delete(x.peers.jobs, k.Target)
			return errRerun
		}
	}
	confirmed := map[*program]bool{}
	added := map[string]int{}
	for _, s := range x.spawns {
		if !confirmed[s.cp] {
			// s.cp came from this engine's memory: it must still serve.
			if err := x.e.res.confirm(ctx, tx, s.cp); err != nil {
				return err
			}
			confirmed[s.cp] = true
		}
		n, ok, err := tx.AddDescendant(ctx, s.pos.root, x.e.lim.MaxDescendants)
		switch {
		case errors.Is(err, store.ErrTreeClosed):
			x.peers.trees[s.pos.root] = treeFact{closed: true}
			return errRerun
		case err != nil:
			return err
		case !ok:
			x.peers.trees[s.pos.root] = treeFact{count: n - added[s.pos.root]}
			return errRerun
		}
		added[s.pos.root]++
		// The child joins its parent's trace.
		created, err := x.e.insertJob(ctx, tx, s.cp, s.id, s.args, s.raw, s.link, s.pos,
			jobOpts{trace: x.in.Trace, traceState: x.in.TraceState})
		if err != nil {
			return err
		}
		if !created {
			// The id was taken meanwhile: a step naming it joins that
			// instance, a default id moves on to the next.
			delete(x.peers.jobs, s.id)
			if err := x.peers.read(ctx, tx, []string{s.id}); err != nil {
				return err
			}
			return errRerun
		}
	}
	for _, w := range x.watches {
		child, err := tx.GetJob(ctx, w.id, true)
		if errors.Is(err, store.ErrNotFound) {
			delete(x.peers.jobs, w.id)
			return errRerun
		}
		if err != nil {
			return err
		}
		if child.Status != store.StatusRunning { // it ended meanwhile
			x.peers.jobs[w.id] = child
			return errRerun
		}
		in, err := decodeInstance(child.State)
		if err != nil {
			return err
		}
		in.Watchers = append(in.Watchers, w.link)
		if child.State, err = json.Marshal(in); err != nil {
			return err
		}
		if err := tx.UpdateJob(ctx, child); err != nil {
			return err
		}
	}
	return nil
}

// keptSignals is the signals kept for an id before its instance existed,
// taken once per start transaction and given to each pass's instance.
type keptSignals struct {
	signals map[string][]any
	events  []store.HistoryEvent
}

// give hands the kept signals to x's instance.
func (k *keptSignals) give(x *txn) {
	if len(k.signals) > 0 {
		x.in.Signals = maps.Clone(k.signals)
		for name, vs := range x.in.Signals {
			x.in.Signals[name] = slices.Clone(vs)
		}
	}
	x.events = append(x.events, k.events...)
}
