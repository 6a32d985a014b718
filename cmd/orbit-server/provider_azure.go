//go:build !orbit_no_azure && !orbit_minimal

package main

// The Azure provider, left out by the build tag orbit_no_azure (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/azure"
