// Package testbackend holds the generic helpers of the real-backend tests:
// no mock ever stands in for a storage backend in a provider's tests.
//
// The servers themselves are started by its subpackages, each of which
// takes a testing.TB, starts its server on free loopback ports in a
// t.TempDir(), and stops it with t.Cleanup:
//
//   - etcdtest starts etcd in process (go.etcd.io/etcd/server/v3/embed),
//     single member or cluster, optionally with TLS and authentication;
//   - redistest starts redis-server child processes (standalone or a Redis
//     Cluster), optionally with TLS, ACL users, a unix socket or persistence.
//
// This package itself links no server: Require, FreePorts, NewCerts and
// RandomHex cost a test binary nothing beyond the standard library.
//
// # Missing servers
//
// Backends whose server is an external program (redis-server, Azurite, a
// kube-apiserver, ...) call Require first. The project rule is:
//
//   - a plain `go test ./...` on a machine without the program skips those
//     tests, with a message naming the install step;
//   - with ORBIT_REQUIRE_BACKENDS=1 in the environment (set by the README's
//     test command and by CI), a missing program fails the test instead, so
//     that a green run proves every backend was tested.
//
// Embedded etcd is compiled into the test binary and is never missing.
//
// Import this package and its subpackages from _test.go files only.
package testbackend

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// RequireEnv is the environment variable that turns a missing backend
// server from a skip into a failure when set to "1" (or any value that
// strconv.ParseBool reads as true).
const RequireEnv = "ORBIT_REQUIRE_BACKENDS"

// Required reports whether RequireEnv asks for every backend to be present.
func Required() bool {
	v, err := strconv.ParseBool(os.Getenv(RequireEnv))
	return err == nil && v
}

// Require returns the path of the program name (looked up in PATH, or used
// as is when it contains a path separator). When the program is absent it
// skips the test with a message naming installHint, or fails the test when
// RequireEnv is set; in both cases it does not return.
//
//	bin := testbackend.Require(t, "redis-server", "apt-get install -y redis-server")
func Require(t testing.TB, name, installHint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := "backend server " + strconv.Quote(name) + " is not installed (" + err.Error() + "); install it with: " + installHint
	if Required() {
		t.Fatalf("%s (%s=1 requires every backend)", msg, RequireEnv)
	}
	t.Skipf("%s (set %s=1 to make this a failure)", msg, RequireEnv)
	return ""
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago (each was bound to port 0 and released). Servers that must
// restart on the same address, or whose peers must know it in advance,
// use them.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testbackend: find a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// RandomHex returns 2n random hexadecimal digits, for passwords and tokens
// that must differ between test runs.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testbackend: random bytes: %v", err)
	}
	return hex.EncodeToString(b)
}

// FindTool returns the path of program: on PATH, else rel (a slash-separated
// path relative to the repository root, where the install script puts it)
// when that is an executable file. Otherwise path is "" and where names the
// place looked at, for an install hint.
func FindTool(program, rel string) (path, where string) {
	if p, err := exec.LookPath(program); err == nil {
		return p, ""
	}
	where = filepath.FromSlash(rel) + " in the repository root"
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, ""
		}
		where = p
	}
	return "", where
}

// RepoRoot returns the nearest folder at or above the working directory
// that holds a go.mod: where the install script puts tools (.tools/).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
