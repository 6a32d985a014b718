//go:build !orbit_no_composite && !orbit_minimal

package main

// The Composite provider, left out by the build tag orbit_no_composite (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/composite"
