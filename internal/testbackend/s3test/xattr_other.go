//go:build !linux

package s3test

// userXattrs: the probe is Linux only; elsewhere versitygw keeps its
// metadata in a sidecar folder.
func userXattrs(string) bool { return false }
