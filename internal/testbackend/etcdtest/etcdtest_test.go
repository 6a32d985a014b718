package etcdtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
)

// TestStartTLSAuth proves a TLS and auth server answers its root client,
// refuses a client without credentials, and confines an AddUser user to
// its prefix.
func TestStartTLSAuth(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithTLS(), etcdtest.WithAuth())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := srv.Client(t)
	if _, err := root.Put(ctx, "a/k", "v"); err != nil {
		t.Fatalf("root put: %v", err)
	}
	if srv.Endpoint(0)[:8] != "https://" {
		t.Fatalf("endpoint %q is not https", srv.Endpoint(0))
	}

	anon := srv.ClientConfig(t)
	anon.Username, anon.Password = "", ""
	c, err := clientv3.New(anon)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(ctx, "a/k"); err == nil {
		t.Fatal("get without credentials succeeded")
	}

	srv.AddUser(t, "orbit", "pw", "a/")
	user := srv.ClientConfig(t)
	user.Username, user.Password = "orbit", "pw"
	u, err := clientv3.New(user)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Put(ctx, "a/x", "1"); err != nil {
		t.Fatalf("user put under its prefix: %v", err)
	}
	if _, err := u.Put(ctx, "b/x", "1"); err == nil {
		t.Fatal("user put outside its prefix succeeded")
	}
}

// TestClusterRestart proves a 3-member cluster keeps serving with one
// member stopped and takes it back on the same address and data.
func TestClusterRestart(t *testing.T) {
	cl := etcdtest.Cluster(t, 3)
	if cl.Size() != 3 || len(cl.Endpoints()) != 3 {
		t.Fatalf("size %d endpoints %v", cl.Size(), cl.Endpoints())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := cl.Client(t)
	if _, err := c.Put(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	cl.Stop(t, 1)
	if _, err := c.Put(ctx, "k", "2"); err != nil {
		t.Fatalf("put with one member stopped: %v", err)
	}
	cl.Restart(t, 1, true)
	if _, err := c.Status(ctx, cl.Endpoint(1)); err != nil {
		t.Fatalf("status of the restarted member: %v", err)
	}
}
