//go:build !orbit_no_s3 && !orbit_minimal

package main

// The S3 and MinIO provider, left out by the build tag orbit_no_s3 (or
// orbit_minimal); see docs/deploy.md, Slim builds.
import _ "github.com/orbit-go/orbit/persistence/s3"
