package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w and detail.
var (
	ErrNotFound = errors.New("not found")
	// ErrCommand marks a command that cannot apply to the document (wrong
	// type at a path, index out of range). *CommandError wraps it.
	ErrCommand = errors.New("command cannot apply")
	// ErrPath marks a malformed path. *PathError wraps it.
	ErrPath = errors.New("invalid path")
	// ErrQuery matches a Find the caller wrote wrong: its conditions,
	// sort, cursor, limit or offset.
	ErrQuery = errors.New("invalid query")
	// ErrTreeClosed marks a start under a root whose tree CloseTree closed.
	ErrTreeClosed = errors.New("instance tree closed")
	// ErrTaskGone fails a transaction whose DeleteTask found the task gone
	// or claimed again, on a store that pipelines writes (Postgres): the
	// caller must treat it as DeleteTask returning false.
	ErrTaskGone = errors.New("task gone or claimed again")
	// ErrExists is CreateJob's error for an id that is taken.
	ErrExists = errors.New("instance exists")
	// ErrChanged fails a WriteTransition with Unlocked whose job was
	// updated (or deleted) since it was read.
	ErrChanged = errors.New("instance changed since it was read")
)

// Job statuses stored in jobs.status.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Job is one workflow instance: a row of the jobs table.
type Job struct {
	ID          string          // workflow id, primary key
	Entity      string          // entity type
	Context     json.RawMessage // the entity document (JSON); "null" or {} when empty
	Status      string          // Status* constants
	Flow        string          // workflow name
	Version     string          // flow version the instance is pinned to
	TaskQueue   string          //
	Input       json.RawMessage // start arguments
	State       json.RawMessage // the runtime's private cursor state (opaque to the store)
	Result      json.RawMessage // set when completed
	Error       string          // set when failed or cancelled
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	// Root is the instance at the top of this one's tree: itself for a
	// top-level start (InsertJob's default) and for rows written before
	// trees were recorded. Parent is the instance whose step started this
	// one ("" for a top-level start); Depth its distance below Root.
	Root   string
	Parent string
	Depth  int
	// Rev counts the row's updates (0 when inserted); see
	// Transition.Unlocked.
	Rev int64
}

// Task is a unit of work on a queue: "advance this instance". Timers are tasks
// with a due time in the future.
type Task struct {
	ID         int64 // assigned by the store on enqueue
	JobID      string
	Queue      string
	Kind       string          // runtime-defined
	Payload    json.RawMessage // runtime-defined
	DueAt      time.Time       // zero means now
	Attempts   int             // incremented by each claim
	LeaseUntil time.Time       // set by Claim
	Worker     string          // set by Claim
	// Job is the task's job as read in the claim transaction, when
	// ClaimParams.WithJobs asked for it (nil when the job is gone).
	Job *Job
}

// ClaimParams asks for up to Limit due tasks from Queues (empty: any queue),
// leased to Worker until Now+Lease. Tasks whose lease expired are claimable.
type ClaimParams struct {
	Queues []string
	Limit  int
	Lease  time.Duration
	Worker string
	Now    time.Time
	// WithJobs also reads each claimed task's job in the claim transaction
	// (Task.Job), saving the caller a read per task.
	WithJobs bool
	// Root restricts the claim to tasks of the instances in Root's tree
	// (Root itself and every instance whose root is Root); "" claims any.
	Root string
}

// HistoryEvent is one row of an instance's history: one per committed step
// transition (and for start, signal, cancel, completion).
type HistoryEvent struct {
	JobID  string
	Seq    int64 // assigned by the store, increasing per job
	At     time.Time
	Kind   string          // e.g. "started", "step", "completed", "failed"
	Thread string          // runtime-defined thread id ("" main)
	Step   string          // step id or state label
	State  int             // state number
	Detail json.RawMessage // output, error, ...
	// Patch is the JSON patch (RFC 6902) the row's transition made to the
	// entity, on the transition's first row only; nil when it changed
	// nothing. Written, not read back by History (EntityPatches reads it).
	Patch json.RawMessage
}

// FlowVersion is a compiled flow stored in the database so any worker can
// resume an instance pinned to it.
type FlowVersion struct {
	Name      string // workflow name
	Version   string // canonical hash
	Program   json.RawMessage
	File      string
	CreatedAt time.Time
}

// Filter selects entity documents in Find: all conditions must hold.
type Filter []Condition

// Condition tests the value at Path (dotted, as in commands). Op is one of:
//   - "=", "!=", "<", "<=", ">", ">=": compare with Value (a number, string,
//     boolean or null; ordering needs a number or a string of the same type);
//   - "like": a string matching the pattern Value (% any run, _ one
//     character, \ escapes the next; case-sensitive on both stores);
//   - "prefix": a string starting with Value, taken literally;
//   - "in": equal to one of Value, a list of at most 1000 scalars (empty:
//     nothing matches);
//   - "contains": an array with an element equal to the scalar Value;
//   - "exists", "!exists": the path is present (even as null) or absent;
//     Value must be nil.
//
// Values are always bound as parameters; paths are validated and never
// spliced into SQL as given.
type Condition struct {
	Path  string
	Op    string
	Value any
}

// FindParams adds sorting and paging to Find.
type FindParams struct {
	Limit  int // 0: 100; at most 10000; negative is an error
	Offset int // negative is an error; not with Cursor
	// Sort is a field path to order by ("" : by id). Values order by type
	// first (numbers, strings, booleans, objects and arrays, then null or
	// missing), then numbers numerically and strings bytewise; ties go by
	// id. Desc reverses the order within each type (and of ids), so
	// documents without the field come last either way.
	Sort string
	Desc bool
	// Cursor continues after the page that returned it as Page.Next (keyset:
	// no rows are skipped or repeated when others are inserted meanwhile).
	// It belongs to the same entity type, conditions and sort.
	Cursor string
}

// Store is one app's persistence (one Postgres schema, or one SQLite file).
// Open provisions the schema (idempotent, safe under concurrency).
type Store interface {
	// Dialect is "postgres" or "sqlite".
	Dialect() string
	// App is the app id the store was opened for.
	App() string
	Close() error

	// InTx runs fn in one transaction: committed if fn returns nil, rolled
	// back otherwise. Row locks taken inside (GetJob forUpdate) are held to
	// the end. Transient serialization/deadlock failures are retried.
	InTx(ctx context.Context, fn func(tx Tx) error) error

	// ClaimTasks leases due tasks (FOR UPDATE SKIP LOCKED on Postgres) in its
	// own transaction and returns them with Attempts incremented.
	ClaimTasks(ctx context.Context, p ClaimParams) ([]Task, error)

	// ExtendLease moves the lease of a claimed task to until, only while
	// that claim still holds it: worker claimed it last, and attempts (the
	// task's Attempts as that claim returned it) is unchanged, so a worker
	// that claimed the same task again after its own lease expired fences
	// its older claim out. It returns false, changing nothing, when the
	// claim no longer holds it: another claim took it, or it is gone.
	ExtendLease(ctx context.Context, taskID int64, worker string, attempts int, until time.Time) (bool, error)

	// Wakeups delivers a queue name when tasks were enqueued on it (LISTEN/
	// NOTIFY on Postgres, in-process on SQLite). The channel closes when ctx
	// ends. Delivery is best-effort: pollers must also poll with a timeout.
	Wakeups(ctx context.Context) (<-chan string, error)

	// Read side (own transaction).
	GetJob(ctx context.Context, id string) (*Job, error)
	History(ctx context.Context, jobID string) ([]HistoryEvent, error)
	Find(ctx context.Context, entityType string, f Filter, p FindParams) ([]Job, error)
	// FindPage is Find returning the cursor of the next page too.
	FindPage(ctx context.Context, entityType string, f Filter, p FindParams) (Page, error)
	// ListTree lists id and the instances under it, oldest first: for a
	// root, every instance whose Root is id; otherwise the instances reached
	// from id through Parent links. status "" lists every status, else only
	// that one (id itself included only when it has it). ErrNotFound if id
	// does not exist.
	ListTree(ctx context.Context, id, status string) ([]Job, error)
	// ListJobs lists instances newest first (keyset pages, inspect.go).
	ListJobs(ctx context.Context, p ListParams) ([]Job, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// CountJobs counts instances by status, of one workflow or all ("").
	CountJobs(ctx context.Context, flow string) (map[string]int, error)
	// JobTasks lists the pending tasks of a job (timers included), oldest
	// due first.
	JobTasks(ctx context.Context, jobID string) ([]Task, error)
	// ReadyTasks counts, per queue, the tasks due at now that no worker
	// holds (what workers could claim now).
	ReadyTasks(ctx context.Context, now time.Time) (map[string]int, error)
	// NextDue tells when the soonest task of the app becomes claimable (its
	// due time, or its lease's end when it is leased); false when there is
	// no task. Drivers of a virtual clock advance it to this time.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// HistoryAfter reads a job's history rows with Seq > after, oldest
	// first, at most limit of them (0: 1000).
	HistoryAfter(ctx context.Context, jobID string, after int64, limit int) ([]HistoryEvent, error)
	// EntityPatches reads the entity patches of a job's history rows up to
	// seq, oldest first, and the job's last seq.
	EntityPatches(ctx context.Context, jobID string, seq int64) (patches []json.RawMessage, last int64, err error)
	// RecentWorkers lists the workers whose last claim was at or after
	// since (workers.go); each claim records one at most every
	// HeartbeatEvery.
	RecentWorkers(ctx context.Context, since time.Time) ([]WorkerSeen, error)
	// CloseTree makes every later AddDescendant under root fail with
	// ErrTreeClosed (the tree is being cancelled). Idempotent.
	CloseTree(ctx context.Context, root string) error
	// CreateIndex makes a partial expression index on jobs for field (a
	// dotted path) restricted to entity = entityType. Idempotent.
	CreateIndex(ctx context.Context, entityType, field string) error
	// CreateArrayIndex makes an index for "contains" on the array at field
	// of entityType's documents: a partial GIN (jsonb_path_ops) index on
	// Postgres, a trigger-maintained table of elements on SQLite. Idempotent.
	CreateArrayIndex(ctx context.Context, entityType, field string) error
	GetFlowVersion(ctx context.Context, name, version string) (*FlowVersion, error)
	// LatestFlowVersion is the most recently saved version of name.
	LatestFlowVersion(ctx context.Context, name string) (*FlowVersion, error)
	ListFlowVersions(ctx context.Context) ([]FlowVersion, error)
	SaveFlowVersion(ctx context.Context, v FlowVersion) error

	// The serving catalogue (catalogue.go): which version of each workflow
	// name new starts use, and the history of load attempts.
	//
	// RecordLoad appends r to the load reports (keeping the newest
	// MaxLoadReports) and, in the same transaction, makes each entry of serve
	// the version its name serves (LoadedAt is kept when that version already
	// served) and retires each name in retire. A report that is not OK
	// changes no entry. It returns the report's id.
	RecordLoad(ctx context.Context, r LoadReport, serve []CatalogueEntry, retire []string) (int64, error)
	// GetCatalogueEntry reads name's entry; ErrNotFound if it never served.
	GetCatalogueEntry(ctx context.Context, name string) (*CatalogueEntry, error)
	// ListCatalogue lists every entry, retired ones included, by name.
	ListCatalogue(ctx context.Context) ([]CatalogueEntry, error)
	// LoadReports lists the newest limit load reports (0: 10), newest first.
	LoadReports(ctx context.Context, limit int) ([]LoadReport, error)

	// DeleteExpiredSignals deletes up to limit kept signals (KeepSignal)
	// whose expiry is at or before now; it returns how many.
	DeleteExpiredSignals(ctx context.Context, now time.Time, limit int) (int, error)
	// PendingSignals lists the signals kept for target, in the order they
	// were kept, expired ones included.
	PendingSignals(ctx context.Context, target string) ([]PendingSignal, error)
	// DeleteExpiredJobs deletes up to limit ended jobs whose expiry
	// (SetJobExpiry) is at or before now, with their tasks and history; it
	// returns how many jobs.
	DeleteExpiredJobs(ctx context.Context, now time.Time, limit int) (int, error)
}

// Transition is what WriteTransition writes.
type Transition struct {
	Job       *Job
	Insert    bool // a new job (else an update of Job)
	DropTasks bool // delete the job's tasks first (it ended)
	// Unlocked: the job was read without locking its row, as revision
	// Job.Rev; the update (and so the whole transition) fails with
	// ErrChanged unless the row still has that revision.
	Unlocked bool
	Tasks    []Task
	History  []HistoryEvent
}

// Tx is the set of writes the runtime commits together.
type Tx interface {
	// InsertJob creates the job; if the id exists it returns (false, nil)
	// and writes nothing (idempotent start).
	InsertJob(ctx context.Context, j Job) (created bool, err error)
	// CreateJob inserts the job like InsertJob, for a caller that needs no
	// answer before its commit: a taken id is ErrExists, which on Postgres
	// (where the insert is pipelined with the transaction's later
	// statements) fails the transaction at its commit instead.
	CreateJob(ctx context.Context, j Job) error
	// GetJob reads a job; with forUpdate it locks the row until commit.
	GetJob(ctx context.Context, id string, forUpdate bool) (*Job, error)
	// UpdateJob writes the mutable fields of j (Context, Status, State,
	// Result, Error, CompletedAt); UpdatedAt is set by the store, and Rev
	// counts the update.
	UpdateJob(ctx context.Context, j *Job) error
	// Apply locks the job row, applies cmds in order to its entity document
	// and writes it; if any command cannot apply, it returns an error and
	// writes nothing. It returns the new document.
	Apply(ctx context.Context, jobID string, cmds []Command) (json.RawMessage, error)

	// EnqueueTasks inserts tasks (assigning ID, and DueAt now when zero). A
	// task with Worker set is inserted already claimed by that worker
	// (LeaseUntil, Attempts as given) and announces no wakeup: its worker
	// takes it in memory after the commit.
	EnqueueTasks(ctx context.Context, tasks []Task) error
	// DeleteTask removes a claimed task, only while the claim that returned
	// it with Attempts == attempts holds it (attempts <= 0: any claim); false
	// if it is gone or claimed again since (another claim handles it), in
	// which case the caller must roll back. Postgres pipelines the delete
	// with the transaction's later statements: it returns true, and a task
	// found gone fails the transaction with ErrTaskGone instead.
	DeleteTask(ctx context.Context, id int64, attempts int) (bool, error)
	// RescheduleTask releases a claimed task to run again at dueAt.
	RescheduleTask(ctx context.Context, id int64, dueAt time.Time) error
	// ReleaseTask releases a claimed task to run again at dueAt without
	// counting the claim as an attempt (its handling met an infrastructure
	// error, not a fault of the task), only while the claim with that
	// attempts count holds it; false when it does not.
	ReleaseTask(ctx context.Context, id int64, attempts int, dueAt time.Time) (bool, error)
	// TakeTasks removes and returns every task of job of the given kind,
	// oldest due first (ties in the order they were enqueued is not
	// guaranteed; callers order by payload).
	TakeTasks(ctx context.Context, jobID, kind string) ([]Task, error)
	// DeleteJobTasks removes every task of a job (cancel, completion).
	DeleteJobTasks(ctx context.Context, jobID string) error

	// AppendHistory appends events; the store numbers them (Seq) after the
	// job's last, in order. Postgres sends the insert with the transaction's
	// next statement or its commit and leaves events' Seq unset; read the
	// numbers back with History.
	AppendHistory(ctx context.Context, events []HistoryEvent) error

	// WriteTransition writes what one transition of w.Job leaves behind, as
	// the methods of the same names would in this order: the job inserted
	// (w.Insert, CreateJob) or updated (UpdateJob), with w.DropTasks the
	// job's earlier tasks deleted (DeleteJobTasks), then w.Tasks enqueued
	// (EnqueueTasks) and w.History appended (AppendHistory). Postgres sends
	// it all as one statement with the transaction's next one or its
	// commit.
	WriteTransition(ctx context.Context, w Transition) error

	// AddDescendant counts one more instance started under root, unless root
	// already counts limit of them: then it changes nothing and returns
	// false. It returns the count (after the addition when ok). Concurrent
	// transactions adding to the same root are serialised on its counter.
	// After CloseTree(root) it changes nothing and returns ErrTreeClosed.
	AddDescendant(ctx context.Context, root string, limit int) (count int, ok bool, err error)
	// RemoveDescendant takes back one AddDescendant of this transaction
	// (the instance it counted was not created after all).
	RemoveDescendant(ctx context.Context, root string) error

	// GetCatalogueEntry reads name's serving entry inside the transaction
	// (ErrNotFound if it never served), so a start can confirm the version
	// it resolved without a transaction of its own.
	GetCatalogueEntry(ctx context.Context, name string) (*CatalogueEntry, error)

	// KeepSignal keeps a signal for p.Target, an id no instance holds: it
	// returns false, keeping nothing, when an instance with that id exists
	// (the caller delivers to it instead). KeepSignal and the
	// TakePendingSignals of an instance's creation are serialised per id,
	// so a signal is either kept before the instance's creation takes the
	// kept ones, or sees the instance.
	KeepSignal(ctx context.Context, p PendingSignal) (kept bool, err error)
	// TakePendingSignals removes every signal kept for target and returns
	// those not expired at now, in the order they were kept. Call it in the
	// transaction that creates the instance target.
	TakePendingSignals(ctx context.Context, target string, now time.Time) ([]PendingSignal, error)
	// SetJobExpiry sets when the (ended) job's rows may be deleted
	// (DeleteExpiredJobs).
	SetJobExpiry(ctx context.Context, id string, at time.Time) error
}
