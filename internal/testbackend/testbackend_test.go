package testbackend

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder stands in for the testing.TB of a test that calls Require, to
// observe whether Require skips or fails it.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func require(name string) (*recorder, string) {
	r := &recorder{}
	var path string
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Require(r, name, "apt-get install -y no-such-package")
	}()
	<-done
	return r, path
}

func TestRequire(t *testing.T) {
	t.Setenv(RequireEnv, "")
	if r, path := require("sh"); r.skipped || r.failed || path == "" {
		t.Fatalf("Require(sh) = %q, skipped=%v failed=%v", path, r.skipped, r.failed)
	}
	r, _ := require("orbit-no-such-server")
	if !r.skipped || r.failed || !strings.Contains(r.msg, "apt-get install -y no-such-package") || !strings.Contains(r.msg, RequireEnv) {
		t.Fatalf("missing server without %s: skipped=%v failed=%v msg=%q", RequireEnv, r.skipped, r.failed, r.msg)
	}
	t.Setenv(RequireEnv, "1")
	r, _ = require("orbit-no-such-server")
	if !r.failed || r.skipped || !strings.Contains(r.msg, "apt-get install -y no-such-package") {
		t.Fatalf("missing server with %s=1: skipped=%v failed=%v msg=%q", RequireEnv, r.skipped, r.failed, r.msg)
	}
}

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 4)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
}
