package persistence

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// LeaseRecord is one lease record as stored, whether or not its lease is
// live: AddressableDirectory's reads hide expired and released leases, but
// their records are kept (for the epoch grace) so that the next placement
// continues their epoch sequence, and a copy of the directory must carry
// them. It is for tools that copy or inspect a directory (migration).
type LeaseRecord struct {
	// Key is the record's storage key; listings are in Key order.
	Key string
	// Lease is the decoded lease (zero when Err is set).
	Lease AddressableLease
	// Released reports that the holder released the lease (or it was
	// removed); a released lease has expired at its release.
	Released bool
	// Live reports whether the lease was unexpired and not released when
	// read, judged by the provider's clock (WithClock).
	Live bool
	// Err is set when the record could not be decoded (it Is ErrCorrupt);
	// the listing goes on with the next record.
	Err error
}

// LeaseRecordPage is one page of ScanLeaseRecords. NextPageToken is "" on
// the last page.
type LeaseRecordPage struct {
	Records       []LeaseRecord
	NextPageToken string
}

// ScanLeaseRecords lists every lease record of p, live, expired, released
// or undecodable, in storage-key order, one page of at most req.Limit
// records at a time. Its page tokens are those of AddressableDirectory.List
// (the base64 of the last key returned), so a listing resumes exactly after
// the last record returned. It needs a provider built by NewProvider (or
// Open); for any other it returns an error that Is ErrUnsupported.
func ScanLeaseRecords(ctx context.Context, p Provider, req PageRequest) (LeaseRecordPage, error) {
	pp, ok := p.(*provider)
	if !ok {
		return LeaseRecordPage{}, fmt.Errorf("scan lease records: provider %T is not built by persistence.NewProvider: %w", p, ErrUnsupported)
	}
	limit, err := pageLimit(req.Limit)
	if err != nil {
		return LeaseRecordPage{}, err
	}
	if req.Namespace != "" {
		if err := checkIdent("namespace", req.Namespace, MaxNamespaceLen); err != nil {
			return LeaseRecordPage{}, err
		}
	}
	a := pp.addrs
	now := a.opt.clock.Now()
	prefix := leaseNamespacePrefix(req.Namespace)
	var out LeaseRecordPage
	out.NextPageToken, err = a.scan(ctx, a.prefixLister(prefix), prefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
		rec, err := decodeLease(e.Key, e.Value)
		if err != nil {
			out.Records = append(out.Records, LeaseRecord{Key: e.Key, Err: fmt.Errorf("decode lease %q: %w", e.Key, err)})
			return true, nil
		}
		out.Records = append(out.Records, LeaseRecord{Key: e.Key, Lease: rec.AddressableLease, Released: rec.Released,
			Live: !rec.Released && rec.Live(now)})
		return true, nil
	})
	return out, err
}

// NodeRecord is one node record as stored, live or expired.
type NodeRecord struct {
	Key  string
	Node NodeInfo
	// Live reports whether the node's lease was unexpired when read.
	Live bool
	// Err is set when the record could not be decoded (it Is ErrCorrupt).
	Err error
}

// ScanNodeRecords returns every node record of p in namespace ("" = all),
// live, expired or undecodable, in storage-key order. Like
// ScanLeaseRecords it needs a provider built by NewProvider.
func ScanNodeRecords(ctx context.Context, p Provider, namespace string) ([]NodeRecord, error) {
	pp, ok := p.(*provider)
	if !ok {
		return nil, fmt.Errorf("scan node records: provider %T is not built by persistence.NewProvider: %w", p, ErrUnsupported)
	}
	if namespace != "" {
		if err := checkIdent("namespace", namespace, MaxNamespaceLen); err != nil {
			return nil, err
		}
	}
	now := pp.nodes.opt.clock.Now()
	var out []NodeRecord
	err := forEachEntry(ctx, pp.kv.store, nodeNamespacePrefix(namespace), func(e driver.Entry) error {
		n, err := decodeNode(e.Value)
		if err != nil {
			out = append(out, NodeRecord{Key: e.Key, Err: fmt.Errorf("decode node %q: %w", e.Key, err)})
			return nil
		}
		out = append(out, NodeRecord{Key: e.Key, Node: n, Live: n.Live(now)})
		return nil
	})
	return out, err
}
