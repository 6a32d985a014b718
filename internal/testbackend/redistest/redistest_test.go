package redistest_test

import (
	"crypto/tls"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
)

// wantErr checks that err is a ReplyError with the code.
func wantErr(t *testing.T, what string, reply string, err error, code string) {
	t.Helper()
	var re redistest.ReplyError
	if !errors.As(err, &re) || re.Code() != code {
		t.Fatalf("%s = %q, %v; want a %s error reply", what, reply, err, code)
	}
}

func do(t *testing.T, c *redistest.Conn, args ...string) string {
	t.Helper()
	v, err := c.Do(args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return v
}

func TestStartPlain(t *testing.T) {
	srv := redistest.Start(t)
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || srv.URL() != "redis://"+srv.Addr {
		t.Fatalf("Addr %q URL %q", srv.Addr, srv.URL())
	}
	c := srv.Dial(t)
	if v := do(t, c, "PING"); v != "PONG" {
		t.Fatalf("PING = %q", v)
	}
	do(t, c, "SET", "k", "v")
	if v := do(t, c, "GET", "k"); v != "v" {
		t.Fatalf("GET = %q", v)
	}
	if v := do(t, c, "GET", "absent"); v != "(nil)" {
		t.Fatalf("GET absent = %q", v)
	}
	if v := srv.Do(t, "DBSIZE"); v != "1" {
		t.Fatalf("DBSIZE = %q", v)
	}
	if v := srv.Do(t, "ZADD", "z", "1", "a", "2", "b"); v != "2" {
		t.Fatalf("ZADD = %q", v)
	}
	if v := srv.Do(t, "ZRANGE", "z", "0", "-1"); v != "a\nb" {
		t.Fatalf("ZRANGE = %q", v)
	}
	// Without persistence, a restart starts empty.
	srv.Kill(t)
	if srv.Running() {
		t.Fatal("running after Kill")
	}
	srv.Restart(t)
	if v := srv.Do(t, "DBSIZE"); v != "0" {
		t.Fatalf("DBSIZE after restart without persistence = %q", v)
	}
	srv.Stop(t)
	if srv.Running() {
		t.Fatal("running after Stop")
	}
}

func TestPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("s3cret"))
	if srv.Password != "s3cret" {
		t.Fatalf("Password = %q", srv.Password)
	}
	c := srv.Dial(t)
	v, err := c.Do("PING")
	wantErr(t, "PING without AUTH", v, err, "NOAUTH")
	v, err = c.Do("AUTH", "wrong")
	wantErr(t, "AUTH wrong", v, err, "WRONGPASS")
	do(t, c, "AUTH", "s3cret")
	if v := do(t, c, "PING"); v != "PONG" {
		t.Fatalf("PING = %q", v)
	}
	if v := srv.Do(t, "PING"); v != "PONG" {
		t.Fatalf("Do PING = %q", v)
	}
}

func TestACLUser(t *testing.T) {
	srv := redistest.Start(t, redistest.WithACLUser("orbit", "orbit-pw", "orbit:*"))
	if srv.Password == "" || srv.ACLUser != "orbit" || srv.ACLPassword != "orbit-pw" {
		t.Fatalf("Password %q ACLUser %q ACLPassword %q", srv.Password, srv.ACLUser, srv.ACLPassword)
	}
	c := srv.Dial(t)
	// The default user needs its (generated) password.
	v, err := c.Do("GET", "orbit:k")
	wantErr(t, "GET without AUTH", v, err, "NOAUTH")
	v, err = c.Do("AUTH", "orbit", "wrong")
	wantErr(t, "AUTH with a wrong password", v, err, "WRONGPASS")
	do(t, c, "AUTH", "orbit", "orbit-pw")
	if v := do(t, c, "ACL", "WHOAMI"); v != "orbit" {
		t.Fatalf("WHOAMI = %q", v)
	}

	// Under its pattern: data commands and scripting.
	do(t, c, "SET", "orbit:k", "v")
	if v := do(t, c, "GET", "orbit:k"); v != "v" {
		t.Fatalf("GET = %q", v)
	}
	do(t, c, "ZADD", "orbit:z", "1", "a")
	if v := do(t, c, "ZRANGE", "orbit:z", "0", "-1"); v != "a" {
		t.Fatalf("ZRANGE = %q", v)
	}
	script := "return redis.call('GET', KEYS[1])"
	sha := do(t, c, "SCRIPT", "LOAD", script)
	if v := do(t, c, "EVALSHA", sha, "1", "orbit:k"); v != "v" {
		t.Fatalf("EVALSHA = %q", v)
	}
	if v := do(t, c, "EVAL", script, "1", "orbit:k"); v != "v" {
		t.Fatalf("EVAL = %q", v)
	}
	do(t, c, "MULTI")
	do(t, c, "INCR", "orbit:n")
	if v := do(t, c, "EXEC"); v != "1" {
		t.Fatalf("EXEC = %q", v)
	}
	if v := do(t, c, "INFO", "server"); !strings.Contains(v, "redis_version:") {
		t.Fatalf("INFO = %q", v)
	}

	// Outside its pattern, and dangerous commands, are denied.
	v, err = c.Do("SET", "other:k", "v")
	wantErr(t, "SET outside the pattern", v, err, "NOPERM")
	v, err = c.Do("GET", "other:k")
	wantErr(t, "GET outside the pattern", v, err, "NOPERM")
	v, err = c.Do("EVAL", script, "1", "other:k")
	wantErr(t, "EVAL on a key outside the pattern", v, err, "NOPERM")
	v, err = c.Do("EVAL", "return redis.call('GET', 'other:k')", "1", "orbit:k")
	if err == nil {
		t.Fatalf("a script reading a key outside the pattern = %q", v)
	}
	for _, cmd := range [][]string{{"KEYS", "*"}, {"FLUSHALL"}, {"CONFIG", "GET", "dir"}, {"ACL", "LIST"}, {"CLIENT", "LIST"}} {
		v, err = c.Do(cmd...)
		wantErr(t, strings.Join(cmd, " "), v, err, "NOPERM")
	}

	// The admin may do everything, and the user survives a restart.
	srv.Do(t, "SET", "other:k", "admin")
	srv.Stop(t)
	srv.Restart(t)
	c = srv.Dial(t)
	do(t, c, "AUTH", "orbit", "orbit-pw")
	v, err = c.Do("GET", "other:k")
	wantErr(t, "GET outside the pattern after restart", v, err, "NOPERM")
}

func TestTLS(t *testing.T) {
	srv := redistest.Start(t, redistest.WithTLS(), redistest.WithPassword("pw"))
	if srv.Certs == nil || srv.URL() != "rediss://"+srv.Addr {
		t.Fatalf("Certs %v URL %q", srv.Certs, srv.URL())
	}
	// The CA alone is enough: no client certificate is required.
	c, err := redistest.Dial(t, "tcp", srv.Addr, &tls.Config{RootCAs: srv.Certs.CAPool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial with the CA: %v", err)
	}
	do(t, c, "AUTH", "pw")
	if v := do(t, c, "PING"); v != "PONG" {
		t.Fatalf("PING over TLS = %q", v)
	}
	// A client that does not trust the CA fails the handshake.
	if _, err := redistest.Dial(t, "tcp", srv.Addr, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS dial without the CA succeeded")
	}
	// Plain text against the TLS port gets no reply.
	p, err := redistest.Dial(t, "tcp", srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Do("PING"); err == nil {
		t.Fatalf("plain-text PING on the TLS port = %q", v)
	}
	// redis-cli agrees.
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("no redis-cli")
	}
	cmd := exec.Command(cli, "--tls", "--cacert", srv.Certs.CAFile, "-h", "127.0.0.1", "-p", strings.TrimPrefix(srv.Addr, "127.0.0.1:"), "PING")
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH=pw")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "PONG" {
		t.Fatalf("redis-cli --tls PING = %q, %v", out, err)
	}
}

func TestClientCertRequired(t *testing.T) {
	srv := redistest.Start(t, redistest.WithClientCertRequired())
	c, err := redistest.Dial(t, "tcp", srv.Addr, srv.Certs.ClientTLS(t))
	if err != nil {
		t.Fatalf("mTLS dial: %v", err)
	}
	if v := do(t, c, "PING"); v != "PONG" {
		t.Fatalf("PING over mTLS = %q", v)
	}
	// Without a client certificate the server refuses (a TLS 1.3 client
	// learns it on its first read).
	n, err := redistest.Dial(t, "tcp", srv.Addr, &tls.Config{RootCAs: srv.Certs.CAPool(), MinVersion: tls.VersionTLS12})
	if err == nil {
		if v, err := n.Do("PING"); err == nil {
			t.Fatalf("PING without a client certificate = %q", v)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	srv := redistest.Start(t, redistest.WithUnixSocket(), redistest.WithPassword("pw"))
	if srv.Socket == "" {
		t.Fatal("no Socket")
	}
	fi, err := os.Stat(srv.Socket)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket %s: %v %v", srv.Socket, fi.Mode(), err)
	}
	c, err := redistest.Dial(t, "unix", srv.Socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Do("PING")
	wantErr(t, "PING without AUTH", v, err, "NOAUTH")
	do(t, c, "AUTH", "pw")
	if v := do(t, c, "PING"); v != "PONG" {
		t.Fatalf("PING on the socket = %q", v)
	}
}

func TestPersistence(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence(), redistest.WithPassword("pw"))
	srv.Do(t, "SET", "durable", "yes")
	srv.Do(t, "ZADD", "z", "1", "a")
	srv.Kill(t) // no graceful shutdown: only what was fsynced survives
	srv.Restart(t)
	if v := srv.Do(t, "GET", "durable"); v != "yes" {
		t.Fatalf("GET after Kill and Restart = %q", v)
	}
	if v := srv.Do(t, "ZRANGE", "z", "0", "-1"); v != "a" {
		t.Fatalf("ZRANGE after Kill and Restart = %q", v)
	}
	srv.Stop(t)
	srv.Restart(t)
	if v := srv.Do(t, "DBSIZE"); v != "2" {
		t.Fatalf("DBSIZE after Stop and Restart = %q", v)
	}
}

func TestCluster(t *testing.T) {
	start := time.Now()
	cl := redistest.Cluster(t, 3, redistest.WithPassword("pw"))
	t.Logf("3-master cluster ready in %s", time.Since(start))
	if len(cl.Addrs) != 3 || len(cl.Nodes) != 3 {
		t.Fatalf("Addrs %v Nodes %d", cl.Addrs, len(cl.Nodes))
	}
	for _, n := range cl.Nodes {
		info := n.Do(t, "CLUSTER", "INFO")
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_size:3", "cluster_known_nodes:3"} {
			if !strings.Contains(info, want) {
				t.Fatalf("%s: no %s in\n%s", n.Addr, want, info)
			}
		}
	}
	// A key is written through the node serving its slot; the others
	// redirect.
	for _, key := range []string{"a", "b", "orbit:{x}:1"} {
		owner := cl.NodeFor(t, key)
		owner.Do(t, "SET", key, "v-"+key)
		for _, n := range cl.Nodes {
			c := n.Dial(t)
			do(t, c, "AUTH", "pw")
			v, err := c.Do("GET", key)
			if n == owner {
				if err != nil || v != "v-"+key {
					t.Fatalf("GET %s on its node = %q, %v", key, v, err)
				}
				continue
			}
			wantErr(t, "GET "+key+" on another node", v, err, "MOVED")
			if !strings.HasSuffix(err.Error(), " "+owner.Addr) {
				t.Fatalf("MOVED to %q, want %s", err, owner.Addr)
			}
		}
	}
	// A killed master comes back with its slots.
	cl.Nodes[1].Kill(t)
	cl.Nodes[1].Restart(t)
	cl.WaitOK(t)
}

func TestClusterTLSACL(t *testing.T) {
	cl := redistest.Cluster(t, 3, redistest.WithTLS(), redistest.WithACLUser("orbit", "pw", "orbit:*"))
	owner := cl.NodeFor(t, "orbit:k")
	c := owner.Dial(t)
	do(t, c, "AUTH", "orbit", "pw")
	do(t, c, "SET", "orbit:k", "v")
	if v := do(t, c, "CLUSTER", "INFO"); !strings.Contains(v, "cluster_state:ok") {
		t.Fatalf("CLUSTER INFO as the ACL user = %q", v)
	}
	if v := do(t, c, "CLUSTER", "SLOTS"); v == "" {
		t.Fatal("CLUSTER SLOTS as the ACL user is empty")
	}
	v, err := c.Do("CLUSTER", "RESET")
	wantErr(t, "CLUSTER RESET as the ACL user", v, err, "NOPERM")
}

func TestBenchmarkBin(t *testing.T) {
	if bin := redistest.BenchmarkBin(t); bin == "" {
		t.Fatal("no redis-benchmark")
	}
}
