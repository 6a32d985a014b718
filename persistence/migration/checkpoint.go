package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CheckpointVersion is the format version written in every checkpoint.
const CheckpointVersion = 1

// Checkpoint is the state of an interrupted migration: what is done, and
// the counts so far. It is saved after every completed batch, so a resumed
// run continues after the last completed batch; the batch that was in
// flight when the run stopped is copied again, which is harmless (Store is
// idempotent for an identical lease and never lowers an epoch).
type Checkpoint struct {
	Version int `json:"version"`
	// From and To name the providers (name and type); a checkpoint is only
	// resumed by a migration between the same two providers.
	From     string `json:"from"`
	FromType string `json:"from_type"`
	To       string `json:"to"`
	ToType   string `json:"to_type"`
	// Namespace and SkipExpired are the options of the run that wrote it;
	// a resume must use the same.
	Namespace   string `json:"namespace,omitempty"`
	SkipExpired bool   `json:"skip_expired,omitempty"`
	// NodesDone: the node directory was copied completely.
	NodesDone bool `json:"nodes_done"`
	// LeaseToken is the page token after the last completed lease batch
	// ("" = from the start); LeasesDone: the lease directory was copied
	// completely.
	LeaseToken string `json:"lease_token"`
	LeasesDone bool   `json:"leases_done"`
	// Batches is the number of completed lease batches.
	Batches int64 `json:"batches"`
	Counts
	// Failures are the first MaxReported record failures so far.
	Failures  []Failure `json:"failures,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Checkpointer loads and saves the checkpoint of one migration.
type Checkpointer interface {
	// Load returns the saved checkpoint; found is false when there is none.
	Load(ctx context.Context) (cp Checkpoint, found bool, err error)
	// Save replaces the saved checkpoint atomically: after a crash, Load
	// returns either the previous checkpoint or this one, never a mix.
	Save(ctx context.Context, cp Checkpoint) error
	// Clear removes the checkpoint (the migration completed). Clearing an
	// absent checkpoint is not an error.
	Clear(ctx context.Context) error
}

// FileCheckpoint keeps the checkpoint in a small JSON file, replaced
// atomically (written to a temporary file in the same directory, synced,
// renamed over the old one, and the directory synced).
type FileCheckpoint struct {
	Path string
}

var _ Checkpointer = FileCheckpoint{}

// Load reads the file; a missing file is no checkpoint.
func (f FileCheckpoint) Load(context.Context) (Checkpoint, bool, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s is not valid JSON (delete it to start over): %w", f.Path, err)
	}
	if cp.Version != CheckpointVersion {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s has format version %d, this program reads %d", f.Path, cp.Version, CheckpointVersion)
	}
	return cp, true, nil
}

// Save writes the file atomically.
func (f FileCheckpoint) Save(_ context.Context, cp Checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(append(b, '\n'))
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, f.Path)
	}
	if werr != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write checkpoint %s: %w", f.Path, werr)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Clear removes the file.
func (f FileCheckpoint) Clear(context.Context) error {
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	return nil
}

// matches reports why cp cannot be resumed by a run with these settings,
// or "" if it can.
func (cp Checkpoint) mismatch(from, fromType, to, toType, ns string, skipExpired bool) string {
	switch {
	case cp.From != from || cp.FromType != fromType || cp.To != to || cp.ToType != toType:
		return fmt.Sprintf("it is of a migration from %q (%s) to %q (%s), not from %q (%s) to %q (%s)",
			cp.From, cp.FromType, cp.To, cp.ToType, from, fromType, to, toType)
	case cp.Namespace != ns:
		return fmt.Sprintf("it is of namespace %q, not %q", cp.Namespace, ns)
	case cp.SkipExpired != skipExpired:
		return fmt.Sprintf("it was written with skip-expired=%t", cp.SkipExpired)
	}
	return ""
}
