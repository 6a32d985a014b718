package migration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/orbit-go/orbit/persistence"
)

// MismatchKind classifies a difference found by validation.
type MismatchKind string

// Mismatch kinds.
const (
	// Missing: a record of the source that should have been copied is not
	// on the target.
	Missing MismatchKind = "missing"
	// Extra: the target has a record the source does not (written there by
	// someone else, or removed from the source after it was copied).
	Extra MismatchKind = "extra"
	// RenewedOnSource: same holder and epoch, but the source's lease was
	// renewed (or released) after it was copied: a live cluster still
	// writes to the source. Run the migration again once it is stopped.
	RenewedOnSource MismatchKind = "renewed-on-source"
	// NewerOnSource: the source holds a higher epoch than the target (the
	// addressable was placed again after its copy).
	NewerOnSource MismatchKind = "newer-epoch-on-source"
	// NewerOnTarget: the target holds a higher epoch than the source.
	NewerOnTarget MismatchKind = "newer-epoch-on-target"
	// Differs: any other difference of fields (named in the detail).
	Differs MismatchKind = "differs"
	// Corrupt: a record could not be decoded on one side.
	Corrupt MismatchKind = "corrupt"
)

// Mismatch is one difference between the source and the target.
type Mismatch struct {
	// Directory is "leases" or "nodes"; Key the record's storage key.
	Directory string
	Key       string
	Kind      MismatchKind
	Detail    string
}

func (x Mismatch) String() string {
	return fmt.Sprintf("%s %q: %s: %s", x.Directory, x.Key, x.Kind, x.Detail)
}

func (m *migrator) mismatch(dir, key string, kind MismatchKind, format string, args ...any) {
	m.res.MismatchCount++
	if len(m.res.Mismatches) < MaxReported {
		m.res.Mismatches = append(m.res.Mismatches, Mismatch{Directory: dir, Key: key, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
}

// validate reads both providers back and compares every record.
func (m *migrator) validate(ctx context.Context) error {
	m.res.ValidationRan = true
	m.progress(Progress{Phase: PhaseValidate, Total: m.res.LeasesMigrated + m.res.NodesMigrated})
	if err := m.validateNodes(ctx); err != nil {
		return err
	}
	m.validateProgress()
	if err := m.validateLeases(ctx); err != nil {
		return err
	}
	m.res.Validated = m.res.MismatchCount == 0
	return nil
}

func (m *migrator) validateNodes(ctx context.Context) error {
	src, err := m.scanNodes(ctx, m.from)
	if err != nil {
		return m.srcErr(fmt.Errorf("validate: list nodes: %w", err))
	}
	dst, err := m.scanNodes(ctx, m.to)
	if err != nil {
		return m.dstErr(fmt.Errorf("validate: list nodes: %w", err))
	}
	onTarget := make(map[string]persistence.NodeRecord, len(dst))
	for _, r := range dst {
		onTarget[r.Key] = r
	}
	for _, s := range src {
		t, ok := onTarget[s.Key]
		delete(onTarget, s.Key)
		m.res.NodesChecked++
		switch {
		case s.Err != nil:
			m.mismatch("nodes", s.Key, Corrupt, "on the source: %v", s.Err)
		case ok && t.Err != nil:
			m.mismatch("nodes", s.Key, Corrupt, "on the target: %v", t.Err)
		case !ok && m.opts.SkipExpired && !s.Live:
		case !ok:
			m.mismatch("nodes", s.Key, Missing, "node %s is not on the target", s.Node.ID)
		default:
			if d := nodeDiff(s.Node, t.Node); d != "" {
				m.mismatch("nodes", s.Key, Differs, "%s", d)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(onTarget)) {
		if !m.res.LiveOnly || onTarget[k].Live {
			m.mismatch("nodes", k, Extra, "on the target only")
		}
	}
	return nil
}

// nodeDiff names the fields in which a (source) and b (target) differ.
func nodeDiff(a, b persistence.NodeInfo) string {
	var d []string
	add := func(field string, x, y any) { d = append(d, fmt.Sprintf("%s: source %v, target %v", field, x, y)) }
	if a.ID != b.ID {
		add("id", a.ID, b.ID)
	}
	if a.URL != b.URL {
		add("url", a.URL, b.URL)
	}
	if a.Status != b.Status {
		add("status", a.Status, b.Status)
	}
	if !a.Lease.ExpiresAt.Equal(b.Lease.ExpiresAt) {
		add("lease.expires_at", a.Lease.ExpiresAt, b.Lease.ExpiresAt)
	}
	if !a.Lease.RenewAt.Equal(b.Lease.RenewAt) {
		add("lease.renew_at", a.Lease.RenewAt, b.Lease.RenewAt)
	}
	if persistence.HashChallengeToken(a.Lease.ChallengeToken) != persistence.HashChallengeToken(b.Lease.ChallengeToken) {
		d = append(d, "lease.challenge_token differs") // a secret: not printed
	}
	if a.Lease.Incarnation != b.Lease.Incarnation {
		add("lease.incarnation", a.Lease.Incarnation, b.Lease.Incarnation)
	}
	if a.Owner != b.Owner {
		add("owner", a.Owner, b.Owner)
	}
	if !slices.Equal(a.Capabilities.AddressableTypes, b.Capabilities.AddressableTypes) {
		add("capabilities.addressable_types", a.Capabilities.AddressableTypes, b.Capabilities.AddressableTypes)
	}
	if a.Capabilities.MaxAddressables != b.Capabilities.MaxAddressables {
		add("capabilities.max_addressables", a.Capabilities.MaxAddressables, b.Capabilities.MaxAddressables)
	}
	if !maps.Equal(a.Capabilities.Tags, b.Capabilities.Tags) {
		add("capabilities.tags", a.Capabilities.Tags, b.Capabilities.Tags)
	}
	return strings.Join(d, "; ")
}

func (m *migrator) validateProgress() {
	done := m.res.LeasesChecked + m.res.NodesChecked
	m.progress(Progress{Phase: PhaseValidate, Done: done, Total: max(done, m.res.LeasesMigrated+m.res.NodesMigrated)})
}

// cursor walks one provider's lease records in key order.
type cursor struct {
	m    *migrator
	p    persistence.Provider
	tok  string
	buf  []persistence.LeaseRecord
	done bool
	last string
}

// peek returns the next record, or nil at the end.
func (c *cursor) peek(ctx context.Context) (*persistence.LeaseRecord, error) {
	for len(c.buf) == 0 && !c.done {
		page, err := c.m.scanLeases(ctx, c.p, c.tok, persistence.MaxPageSize)
		if err != nil {
			return nil, err
		}
		c.buf, c.tok, c.done = page.Records, page.NextPageToken, page.NextPageToken == ""
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	r := &c.buf[0]
	if c.last != "" && r.Key <= c.last {
		return nil, fmt.Errorf("validate: the listing is not in key order (%q after %q)", r.Key, c.last)
	}
	return r, nil
}

func (c *cursor) pop() {
	c.last = c.buf[0].Key
	c.buf = c.buf[1:]
}

// validateLeases merges the two key-ordered listings.
func (m *migrator) validateLeases(ctx context.Context) error {
	src := &cursor{m: m, p: m.from}
	dst := &cursor{m: m, p: m.to}
	for {
		s, err := src.peek(ctx)
		if err != nil {
			return m.srcErr(fmt.Errorf("validate: list leases: %w", err))
		}
		t, err := dst.peek(ctx)
		if err != nil {
			return m.dstErr(fmt.Errorf("validate: list leases: %w", err))
		}
		switch {
		case s == nil && t == nil:
			m.validateProgress()
			return nil
		case t == nil || (s != nil && s.Key < t.Key):
			m.res.LeasesChecked++
			switch {
			case s.Err != nil:
				m.mismatch("leases", s.Key, Corrupt, "on the source: %v", s.Err)
			case m.opts.SkipExpired && !s.Live:
			default:
				m.mismatch("leases", s.Key, Missing, "lease of %s (node %s, epoch %d) is not on the target", s.Lease.Reference, s.Lease.Node, s.Lease.Epoch)
			}
			src.pop()
		case s == nil || t.Key < s.Key:
			if !m.res.LiveOnly || t.Live {
				m.mismatch("leases", t.Key, Extra, "on the target only")
			}
			dst.pop()
		default:
			m.res.LeasesChecked++
			m.compareLease(s, t)
			src.pop()
			dst.pop()
		}
		if m.res.LeasesChecked%int64(m.opts.BatchSize) == 0 {
			m.validateProgress()
		}
	}
}

func (m *migrator) compareLease(s, t *persistence.LeaseRecord) {
	a, b := s.Lease, t.Lease
	switch {
	case s.Err != nil:
		m.mismatch("leases", s.Key, Corrupt, "on the source: %v", s.Err)
	case t.Err != nil:
		m.mismatch("leases", t.Key, Corrupt, "on the target: %v", t.Err)
	case a.Equal(b):
	case a.Epoch > b.Epoch:
		m.mismatch("leases", s.Key, NewerOnSource, "source: node %s epoch %d; target: node %s epoch %d", a.Node, a.Epoch, b.Node, b.Epoch)
	case a.Epoch < b.Epoch:
		m.mismatch("leases", s.Key, NewerOnTarget, "source: node %s epoch %d; target: node %s epoch %d", a.Node, a.Epoch, b.Node, b.Epoch)
	case a.Node == b.Node && a.Reference == b.Reference && a.CreatedAt.Equal(b.CreatedAt) && !a.ExpiresAt.Equal(b.ExpiresAt):
		m.mismatch("leases", s.Key, RenewedOnSource, "node %s epoch %d expires at %s on the source, %s on the target",
			a.Node, a.Epoch, a.ExpiresAt.UTC().Format(timeFormat), b.ExpiresAt.UTC().Format(timeFormat))
	default:
		var d []string
		add := func(field string, x, y any) { d = append(d, fmt.Sprintf("%s: source %v, target %v", field, x, y)) }
		if a.Reference != b.Reference {
			add("reference", a.Reference, b.Reference)
		}
		if a.Node != b.Node {
			add("node", a.Node, b.Node)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			add("created_at", a.CreatedAt.UTC().Format(timeFormat), b.CreatedAt.UTC().Format(timeFormat))
		}
		if !a.RenewAt.Equal(b.RenewAt) {
			add("renew_at", a.RenewAt.UTC().Format(timeFormat), b.RenewAt.UTC().Format(timeFormat))
		}
		if !a.ExpiresAt.Equal(b.ExpiresAt) {
			add("expires_at", a.ExpiresAt.UTC().Format(timeFormat), b.ExpiresAt.UTC().Format(timeFormat))
		}
		m.mismatch("leases", s.Key, Differs, "%s", strings.Join(d, "; "))
	}
}

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"
