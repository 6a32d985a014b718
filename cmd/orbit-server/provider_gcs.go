//go:build !orbit_no_gcs && !orbit_minimal

package main

// The GoogleCloud provider, left out by the build tag orbit_no_gcs (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/gcs"
