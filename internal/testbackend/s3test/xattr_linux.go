package s3test

import (
	"os"
	"path/filepath"
	"syscall"
)

// userXattrs reports whether files in dir can carry user extended
// attributes (tmpfs before Linux 6.6, some overlay and network
// filesystems cannot), by setting one on a scratch file.
func userXattrs(dir string) bool {
	f, err := os.CreateTemp(dir, ".xattr-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	defer os.Remove(name)
	return syscall.Setxattr(filepath.Clean(name), "user.s3test", []byte("1"), 0) == nil
}
