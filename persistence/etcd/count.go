package etcd

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/persistence/driver"
)

var _ driver.Counter = (*Store)(nil)

// CountPrefix counts the keys under prefix (driver.Counter) with one range
// request with count_only: etcd counts the keys of the range in its
// in-memory index and sends neither keys nor values. The server's cost
// still grows with the number of keys in the range (it walks the index,
// not the values on disk); docs/observability-cluster-gauges.md gives the
// figures measured. The read is linearizable, like Get.
func (s *Store) CountPrefix(ctx context.Context, prefix string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	start := s.full(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	if start == "" {
		start, end = "\x00", "\x00" // the whole keyspace
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.client.Get(ctx, start, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, s.wrap("count", prefix, err)
	}
	return resp.Count, nil
}
