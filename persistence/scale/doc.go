// Package scale holds the scale benchmark of the persistence providers
// (scale_test.go): it loads 10k, 100k and 1M leases into the memory, etcd
// and Redis providers and reports, per size, what must stay flat where the
// work is constant: the sweep of 1% expired leases (through the backend's
// expiry listing, and through a scan of every lease for comparison), the
// cost of a node renewal in driver operations and time, get and place
// throughput, and the bytes each lease takes in the backend.
//
// It is a benchmark, never a timed test; run it with
//
//	go test -run '^$' -bench Scale -benchtime 1x -timeout 2h ./persistence/scale/
//
// ORBIT_SCALE_SIZES overrides the sizes (a comma-separated list, default
// 10000,100000,1000000); -bench 'Scale/backend=etcd' picks one backend.
// docs/benchmarks.md holds the figures of the development machine.
package scale
