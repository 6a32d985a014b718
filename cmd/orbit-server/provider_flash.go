//go:build !orbit_no_flash && !orbit_minimal

package main

// The Flash provider, left out by the build tag orbit_no_flash (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/flash"
