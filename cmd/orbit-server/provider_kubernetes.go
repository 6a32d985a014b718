//go:build !orbit_no_kubernetes && !orbit_minimal

package main

// The Kubernetes provider, left out by the build tag orbit_no_kubernetes (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/kubernetes"
