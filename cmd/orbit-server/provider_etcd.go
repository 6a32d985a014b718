//go:build !orbit_no_etcd && !orbit_minimal

package main

// The Etcd provider, left out by the build tag orbit_no_etcd (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/etcd"
