package composite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// StateKey is the key of the state record that the composite keeps on the
// backup side. It is hidden from listings and never synchronised.
const StateKey = "~composite/state"

// State is the state record: which side the servers sharing this composite
// use. It lives on the backup, the side that is reachable when the primary
// is not.
type State struct {
	Active Side `json:"-"`
	// Generation counts the switches recorded, cluster-wide.
	Generation uint64 `json:"generation"`
	// Since is when Active became active, or, for a scheduled failback,
	// when it becomes active: servers switch at that time.
	Since time.Time `json:"since"`
	// FailbackRequested asks the servers (Failback = manual) to fail back
	// once the primary is healthy.
	FailbackRequested bool `json:"failback_requested,omitempty"`
	// By names the process that wrote the record (host/pid), for operators.
	By string `json:"by,omitempty"`
}

type stateJSON struct {
	Active string `json:"active"`
	State
}

func (st State) encode() []byte {
	b, _ := json.Marshal(stateJSON{Active: st.Active.String(), State: st})
	return b
}

func decodeState(b []byte) (State, error) {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return State{}, fmt.Errorf("composite: decode state record %q: %v: %w", StateKey, err, driver.ErrCorrupt)
	}
	switch j.Active {
	case "primary":
		j.State.Active = Primary
	case "backup":
		j.State.Active = Backup
	default:
		return State{}, fmt.Errorf("composite: state record %q: active is %q, want primary or backup: %w", StateKey, j.Active, driver.ErrCorrupt)
	}
	return j.State, nil
}

// readState reads the state record of backup; an absent record is the
// initial state (primary active, generation 0) with the zero version.
func readState(ctx context.Context, backup driver.Store) (State, driver.Version, error) {
	e, err := backup.Get(ctx, StateKey)
	if errors.Is(err, driver.ErrNotFound) {
		return State{Active: Primary}, driver.Version{}, nil
	}
	if err != nil {
		return State{}, driver.Version{}, fmt.Errorf("composite: read state record: %w", err)
	}
	st, err := decodeState(e.Value)
	return st, e.Version, err
}

// writeState replaces the state record read at ver (zero: absent).
func writeState(ctx context.Context, backup driver.Store, st State, ver driver.Version) error {
	cond := driver.CreateOnly()
	if !ver.IsZero() {
		cond = driver.MatchVersion(ver)
	}
	st.By = processName()
	if _, err := backup.Put(ctx, StateKey, st.encode(), cond); err != nil {
		return fmt.Errorf("composite: write state record: %w", err)
	}
	return nil
}

func processName() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

// ReadState returns the state record of a composite's backup store.
func ReadState(ctx context.Context, backup driver.Store) (State, error) {
	st, _, err := readState(ctx, backup)
	return st, err
}

// RequestFailback asks the servers running a composite with manual
// failback to return to the primary as soon as it is healthy: it sets
// FailbackRequested in the state record on backup. It returns the state
// after the change; a composite already on its primary is left alone.
func RequestFailback(ctx context.Context, backup driver.Store) (State, error) {
	for attempt := 0; attempt < 10; attempt++ {
		st, ver, err := readState(ctx, backup)
		if err != nil {
			return State{}, err
		}
		if st.Active == Primary || st.FailbackRequested {
			return st, nil
		}
		st.FailbackRequested = true
		err = writeState(ctx, backup, st, ver)
		if errors.Is(err, driver.ErrConflict) {
			continue
		}
		return st, err
	}
	return State{}, fmt.Errorf("composite: request failback: the state record kept changing: %w", driver.ErrConflict)
}
