// Package migration copies Orbit's two directories (cluster nodes and
// addressable leases) from one storage provider to another, in batches,
// resumably, and validates the copy by reading both sides back.
//
// # Contract
//
//   - Leases are copied exactly: reference, node, epoch and the created,
//     renew and expiry times. They are written with
//     AddressableDirectory.StoreBulk, whose epoch rule never replaces a
//     stored lease with one of a lower epoch (or of the same epoch on
//     another node): re-running a migration, or resuming one, can never
//     lower an epoch on the target, and writing the same lease twice is
//     idempotent.
//   - Nodes are copied exactly (id, URL, capabilities, status, lease and
//     challenge token) with ClusterNodeDirectory.Store, which replaces.
//   - Expired records. The directories' reads hide expired and released
//     leases, but their records are kept for the epoch grace so that the
//     next placement of the addressable continues their epoch sequence.
//     Run reads records with persistence.ScanLeaseRecords and
//     ScanNodeRecords, which show them: by default every record is copied
//     (an expired or released lease is stored as the same, expired, lease:
//     invisible on the target too, and the carrier of its epoch), so the
//     epochs continue on the target exactly as on the source. With
//     Options.SkipExpired only leases and nodes that are live when read
//     are copied; the others are counted as skipped. For a provider not
//     built by persistence.NewProvider (records cannot be scanned) only
//     live records are visible: Run falls back to List/ListAll and sets
//     Result.LiveOnly.
//   - Batches and resume. The lease directory is read in key order, one
//     page of Options.BatchSize records per batch; after each batch is
//     written, Options.Checkpoint saves the page token and the counts. A
//     resumed run continues after the last completed batch. The nodes are
//     copied first, as one step (their directory is small).
//   - Errors. A source or target that fails (unavailable, closed, out of
//     capacity, or an unreadable listing) stops the migration with an
//     error naming the provider; every batch before it is complete on the
//     target, and the checkpoint points after the last one. A record that
//     cannot be migrated by itself (undecodable on the source, or refused
//     by the target's epoch rule because the target holds a newer lease)
//     is counted in LeasesFailed/NodesFailed, named in Result.Failures,
//     and the migration goes on.
//   - Cancellation. When ctx is cancelled, the batch in flight is finished
//     (its writes are not interrupted), the checkpoint saved, and Run
//     returns an error that Is ErrInterrupted and ctx.Err().
//
// Run does not stop writers of the source: see docs/migration.md for the
// procedure that moves a running cluster with its epochs monotonic.
package migration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence"
)

// Defaults.
const (
	// DefaultBatchSize is the number of lease records per batch.
	DefaultBatchSize = 1000
	// MaxReported bounds Result.Failures and Result.Mismatches (the counts
	// are exact).
	MaxReported = 100
	// nodeWorkers bounds the parallel node writes.
	nodeWorkers = 8
)

// ErrInterrupted is returned (wrapped, with the context's error) when the
// context is cancelled: the checkpoint was saved after the last completed
// batch and the migration can be resumed.
var ErrInterrupted = errors.New("migration interrupted")

// Options configure a migration. The zero value copies everything in
// batches of DefaultBatchSize, without validation or checkpoint.
type Options struct {
	// BatchSize is the number of lease records read and written per batch
	// (0 = DefaultBatchSize; capped at persistence.MaxPageSize).
	BatchSize int
	// Validate reads both providers back after the copy and compares every
	// field of every record (see Result.Mismatches).
	Validate bool
	// DryRun reads and counts the source and writes nothing (no checkpoint
	// either).
	DryRun bool
	// SkipExpired copies only leases and nodes that are live when read.
	SkipExpired bool
	// SkipCorrupt counts a source record that cannot be decoded as failed
	// and goes on. Without it, such a record stops the migration before
	// the batch that holds it is written (an error that Is ErrCorrupt
	// naming the key): the target keeps only complete batches, and a run
	// after the record is repaired or removed resumes with that batch.
	SkipCorrupt bool
	// Namespace restricts the migration to one namespace ("" = all).
	Namespace string
	// Progress, if set, is called after each batch and at each phase change
	// (from the goroutine of Run). Setting it makes Run count the source's
	// lease records first, for Progress.Total.
	Progress func(Progress)
	// Checkpoint, if set, makes the migration resumable (see Checkpoint).
	Checkpoint Checkpointer
}

// Phase is a step of a migration.
type Phase string

// Phases, in order.
const (
	PhaseCount    Phase = "count"
	PhaseNodes    Phase = "nodes"
	PhaseLeases   Phase = "leases"
	PhaseValidate Phase = "validate"
)

// Progress reports how far a phase is.
type Progress struct {
	Phase Phase
	// Done is the records handled so far in the phase (migrated, skipped or
	// failed; for a resumed run, including those of earlier runs).
	Done int64
	// Total is the records the phase expects (0 = unknown). The source may
	// change while the migration runs, so it is an estimate.
	Total int64
	// Batches is the number of completed lease batches.
	Batches int64
}

// Counts are the records handled by a migration.
type Counts struct {
	LeasesMigrated int64 `json:"leases_migrated"`
	LeasesSkipped  int64 `json:"leases_skipped"`
	LeasesFailed   int64 `json:"leases_failed"`
	NodesMigrated  int64 `json:"nodes_migrated"`
	NodesSkipped   int64 `json:"nodes_skipped"`
	NodesFailed    int64 `json:"nodes_failed"`
}

// Failure is one record that could not be migrated.
type Failure struct {
	// Directory is "leases" or "nodes"; Key is the record's storage key.
	Directory string `json:"directory"`
	Key       string `json:"key"`
	Error     string `json:"error"`
}

// Result is the outcome of Run. In a dry run the Migrated counts are what
// would have been written.
type Result struct {
	From, To string
	Counts
	DryRun bool
	// Resumed reports that the run continued a saved checkpoint; the
	// counts include those of the earlier runs.
	Resumed bool
	// LiveOnly: the source does not show expired records (see the package
	// documentation); only live records were copied.
	LiveOnly bool
	// Failures are the first MaxReported record failures.
	Failures []Failure
	// ValidationRan reports that validation ran; Validated that it found
	// no mismatch. LeasesChecked and NodesChecked are the source records
	// it compared.
	ValidationRan bool
	Validated     bool
	LeasesChecked int64
	NodesChecked  int64
	// MismatchCount is the number of mismatches; Mismatches the first
	// MaxReported.
	MismatchCount int64
	Mismatches    []Mismatch
	Duration      time.Duration
}

// OK reports whether everything was migrated and, if validation ran,
// verified.
func (r Result) OK() bool {
	return r.LeasesFailed == 0 && r.NodesFailed == 0 && (!r.ValidationRan || r.Validated)
}

// Run copies both directories of from to to (see the package
// documentation). The Result is filled as far as the migration got, also
// when it returns an error.
func Run(ctx context.Context, from, to persistence.Provider, opts Options) (Result, error) {
	start := time.Now()
	if from == nil || to == nil {
		return Result{}, fmt.Errorf("migration: source and target providers must be set: %w", persistence.ErrInvalidArgument)
	}
	if from == to {
		return Result{}, fmt.Errorf("migration: source and target are the same provider %q: %w", from.Name(), persistence.ErrInvalidArgument)
	}
	if opts.BatchSize < 0 {
		return Result{}, fmt.Errorf("migration: batch size %d must be >= 0: %w", opts.BatchSize, persistence.ErrInvalidArgument)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, persistence.MaxPageSize)
	m := &migrator{from: from, to: to, opts: opts,
		res: Result{From: from.Name(), To: to.Name(), DryRun: opts.DryRun}}
	err := m.run(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
		// A read cut by the cancellation: nothing was lost either.
		err = fmt.Errorf("%w: %w", m.interrupted(ctx), err)
	}
	m.res.Duration = time.Since(start)
	return m.res, err
}

type migrator struct {
	from, to persistence.Provider
	opts     Options
	res      Result
	cp       Checkpoint
	total    int64 // lease records counted (0 = not counted)
}

func (m *migrator) srcErr(err error) error {
	return fmt.Errorf("source provider %q (%s): %w", m.from.Name(), m.from.Type(), err)
}

func (m *migrator) dstErr(err error) error {
	return fmt.Errorf("target provider %q (%s): %w", m.to.Name(), m.to.Type(), err)
}

func (m *migrator) progress(p Progress) {
	if m.opts.Progress != nil {
		m.opts.Progress(p)
	}
}

// interrupted wraps ctx's error after saving nothing more: the checkpoint
// already points after the last completed batch.
func (m *migrator) interrupted(ctx context.Context) error {
	return fmt.Errorf("%w after %d batches: %w", ErrInterrupted, m.cp.Batches, ctx.Err())
}

func (m *migrator) run(ctx context.Context) error {
	now := time.Now()
	m.cp = Checkpoint{Version: CheckpointVersion, From: m.from.Name(), FromType: m.from.Type(),
		To: m.to.Name(), ToType: m.to.Type(), Namespace: m.opts.Namespace, SkipExpired: m.opts.SkipExpired,
		StartedAt: now, UpdatedAt: now}
	if m.opts.Checkpoint != nil && !m.opts.DryRun {
		cp, found, err := m.opts.Checkpoint.Load(ctx)
		if err != nil {
			return err
		}
		if found {
			if why := cp.mismatch(m.cp.From, m.cp.FromType, m.cp.To, m.cp.ToType, m.cp.Namespace, m.cp.SkipExpired); why != "" {
				return fmt.Errorf("the saved checkpoint cannot be resumed: %s (delete it to start over): %w", why, persistence.ErrInvalidArgument)
			}
			m.cp, m.res.Resumed = cp, true
		}
	}
	m.syncResult()
	if m.opts.Progress != nil && !m.cp.LeasesDone {
		m.progress(Progress{Phase: PhaseCount})
		n, err := m.count(ctx)
		if err != nil {
			return err
		}
		m.total = n
	}
	if !m.cp.NodesDone {
		if err := m.copyNodes(ctx); err != nil {
			return err
		}
	}
	if err := m.copyLeases(ctx); err != nil {
		return err
	}
	if m.opts.Checkpoint != nil && !m.opts.DryRun {
		if err := m.opts.Checkpoint.Clear(ctx); err != nil {
			return err
		}
	}
	if m.opts.Validate && !m.opts.DryRun {
		return m.validate(ctx)
	}
	return nil
}

// syncResult copies the checkpoint's counts and failures to the result.
func (m *migrator) syncResult() {
	m.res.Counts = m.cp.Counts
	m.res.Failures = m.cp.Failures
}

func (m *migrator) fail(dir, key string, err error) {
	if dir == "nodes" {
		m.cp.NodesFailed++
	} else {
		m.cp.LeasesFailed++
	}
	if len(m.cp.Failures) < MaxReported {
		m.cp.Failures = append(m.cp.Failures, Failure{Directory: dir, Key: key, Error: err.Error()})
	}
}

func (m *migrator) save(ctx context.Context) error {
	m.syncResult()
	if m.opts.Checkpoint == nil || m.opts.DryRun {
		return nil
	}
	m.cp.UpdatedAt = time.Now()
	// Saved even when ctx is cancelled: the batch it records is complete.
	if err := m.opts.Checkpoint.Save(context.WithoutCancel(ctx), m.cp); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// scanLeases reads one page of the source's lease records; when the source
// cannot show records, it reads the live leases (Result.LiveOnly).
func (m *migrator) scanLeases(ctx context.Context, p persistence.Provider, token string, limit int) (persistence.LeaseRecordPage, error) {
	req := persistence.PageRequest{Namespace: m.opts.Namespace, PageToken: token, Limit: limit}
	page, err := persistence.ScanLeaseRecords(ctx, p, req)
	if !errors.Is(err, persistence.ErrUnsupported) {
		return page, err
	}
	if p == m.from {
		m.res.LiveOnly = true
	}
	lp, err := p.Addressables().List(ctx, req)
	if err != nil {
		return persistence.LeaseRecordPage{}, err
	}
	out := persistence.LeaseRecordPage{NextPageToken: lp.NextPageToken, Records: make([]persistence.LeaseRecord, len(lp.Leases))}
	for i, l := range lp.Leases {
		out.Records[i] = persistence.LeaseRecord{Key: l.Reference.String(), Lease: l, Live: true}
	}
	return out, nil
}

// scanNodes reads every node record of p (live ones only for a provider
// that cannot show records).
func (m *migrator) scanNodes(ctx context.Context, p persistence.Provider) ([]persistence.NodeRecord, error) {
	recs, err := persistence.ScanNodeRecords(ctx, p, m.opts.Namespace)
	if !errors.Is(err, persistence.ErrUnsupported) {
		return recs, err
	}
	if p == m.from {
		m.res.LiveOnly = true
	}
	ns, err := p.Nodes().ListAll(ctx, m.opts.Namespace)
	if err != nil {
		return nil, err
	}
	out := make([]persistence.NodeRecord, len(ns))
	for i, n := range ns {
		out[i] = persistence.NodeRecord{Key: n.ID.String(), Node: n, Live: true}
	}
	return out, nil
}

// count counts the source's lease records (for Progress.Total).
func (m *migrator) count(ctx context.Context) (int64, error) {
	var n int64
	tok := ""
	for {
		page, err := m.scanLeases(ctx, m.from, tok, persistence.MaxPageSize)
		if err != nil {
			return 0, m.srcErr(fmt.Errorf("count lease records: %w", err))
		}
		for _, r := range page.Records {
			if !m.opts.SkipExpired || r.Live || r.Err != nil {
				n++
			}
		}
		if page.NextPageToken == "" {
			return n, nil
		}
		tok = page.NextPageToken
	}
}

// stops reports whether a write error means the target as a whole failed
// (so the migration must stop), rather than this one record.
func stops(err error) bool {
	return errors.Is(err, persistence.ErrUnavailable) || errors.Is(err, persistence.ErrClosed) ||
		errors.Is(err, persistence.ErrCapacity) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// copyNodes copies the node directory (one step; checkpointed at its end).
func (m *migrator) copyNodes(ctx context.Context) error {
	recs, err := m.scanNodes(ctx, m.from)
	if err != nil {
		return m.srcErr(fmt.Errorf("list nodes: %w", err))
	}
	total := int64(len(recs))
	m.progress(Progress{Phase: PhaseNodes, Total: total})
	var todo []persistence.NodeRecord
	for _, r := range recs {
		switch {
		case r.Err != nil && !m.opts.SkipCorrupt:
			return m.srcErr(fmt.Errorf("node record %q cannot be read, so the migration stops before copying nodes "+
				"(repair or remove the record, or use SkipCorrupt, then run again): %w", r.Key, r.Err))
		case r.Err != nil:
			m.fail("nodes", r.Key, m.srcErr(r.Err))
		case m.opts.SkipExpired && !r.Live:
			m.cp.NodesSkipped++
		default:
			todo = append(todo, r)
		}
	}
	if m.opts.DryRun {
		m.cp.NodesMigrated += int64(len(todo))
	} else {
		wctx := context.WithoutCancel(ctx) // finish the step even when interrupted
		var (
			mu       sync.Mutex
			fatal    error
			migrated atomic.Int64
			next     atomic.Int64
			wg       sync.WaitGroup
		)
		for w := 0; w < min(nodeWorkers, len(todo)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(todo) {
						return
					}
					mu.Lock()
					stop := fatal != nil
					mu.Unlock()
					if stop {
						return
					}
					err := m.to.Nodes().Store(wctx, todo[i].Node)
					mu.Lock()
					switch {
					case err == nil:
						migrated.Add(1)
					case stops(err):
						if fatal == nil {
							fatal = fmt.Errorf("store node %s: %w", todo[i].Node.ID, err)
						}
					default:
						m.fail("nodes", todo[i].Key, m.dstErr(err))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		m.cp.NodesMigrated += migrated.Load()
		if fatal != nil {
			// Not checkpointed: a resumed run copies the nodes again.
			m.syncResult()
			return m.dstErr(fatal)
		}
	}
	m.cp.NodesDone = true
	m.progress(Progress{Phase: PhaseNodes, Done: total, Total: total})
	return m.save(ctx)
}

// copyLeases copies the lease directory from the checkpoint's token, one
// batch at a time, saving the checkpoint after each.
func (m *migrator) copyLeases(ctx context.Context) error {
	handled := func() int64 { return m.cp.LeasesMigrated + m.cp.LeasesSkipped + m.cp.LeasesFailed }
	m.progress(Progress{Phase: PhaseLeases, Done: handled(), Total: max(m.total, handled()), Batches: m.cp.Batches})
	for !m.cp.LeasesDone {
		if ctx.Err() != nil {
			return m.interrupted(ctx)
		}
		page, err := m.scanLeases(ctx, m.from, m.cp.LeaseToken, m.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return m.interrupted(ctx)
			}
			return m.srcErr(fmt.Errorf("list leases: %w", err))
		}
		batch := make([]persistence.AddressableLease, 0, len(page.Records))
		keys := make([]string, 0, len(page.Records))
		var c Counts
		var failures []Failure
		for _, r := range page.Records {
			switch {
			case r.Err != nil && !m.opts.SkipCorrupt:
				m.syncResult()
				return m.srcErr(fmt.Errorf("lease record %q cannot be read, so the migration stops before batch %d "+
					"(nothing of it is written; repair or remove the record, or use SkipCorrupt, then run again): %w",
					r.Key, m.cp.Batches+1, r.Err))
			case r.Err != nil:
				c.LeasesFailed++
				failures = append(failures, Failure{Directory: "leases", Key: r.Key, Error: m.srcErr(r.Err).Error()})
			case m.opts.SkipExpired && !r.Live:
				c.LeasesSkipped++
			default:
				batch, keys = append(batch, r.Lease), append(keys, r.Key)
			}
		}
		if m.opts.DryRun {
			c.LeasesMigrated += int64(len(batch))
		} else if len(batch) > 0 {
			// The batch is written whole even if ctx is cancelled meanwhile.
			err := m.to.Addressables().StoreBulk(context.WithoutCancel(ctx), batch)
			var be *persistence.BulkError
			switch {
			case err == nil:
				c.LeasesMigrated += int64(len(batch))
			case errors.As(err, &be):
				for _, e := range be.Failures {
					if stops(e) {
						return m.dstErr(fmt.Errorf("store leases (batch %d, %d of %d writes failed): %w",
							m.cp.Batches+1, len(be.Failures), len(batch), e))
					}
				}
				for _, i := range slices.Sorted(maps.Keys(be.Failures)) {
					c.LeasesFailed++
					failures = append(failures, Failure{Directory: "leases", Key: keys[i], Error: m.dstErr(be.Failures[i]).Error()})
				}
				c.LeasesMigrated += int64(len(batch) - len(be.Failures))
			default:
				return m.dstErr(fmt.Errorf("store leases (batch %d): %w", m.cp.Batches+1, err))
			}
		}
		// The batch is complete: record it.
		m.cp.LeasesMigrated += c.LeasesMigrated
		m.cp.LeasesSkipped += c.LeasesSkipped
		m.cp.LeasesFailed += c.LeasesFailed
		for _, f := range failures {
			if len(m.cp.Failures) < MaxReported {
				m.cp.Failures = append(m.cp.Failures, f)
			}
		}
		m.cp.Batches++
		m.cp.LeaseToken = page.NextPageToken
		m.cp.LeasesDone = page.NextPageToken == ""
		if err := m.save(ctx); err != nil {
			return err
		}
		m.progress(Progress{Phase: PhaseLeases, Done: handled(), Total: max(m.total, handled()), Batches: m.cp.Batches})
	}
	return nil
}
