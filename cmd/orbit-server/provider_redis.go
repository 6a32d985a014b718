//go:build !orbit_no_redis && !orbit_minimal

package main

// The Redis provider, left out by the build tag orbit_no_redis (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/redis"
