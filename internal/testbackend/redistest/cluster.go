package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend"
)

const (
	// clusterNodeTimeout is the nodes' cluster-node-timeout: a master that
	// stops answering is marked failed, and the cluster state turns to
	// "fail" (full coverage is required), after about this long.
	clusterNodeTimeout = 5 * time.Second
	// clusterTimeout bounds the creation of a cluster and WaitOK.
	clusterTimeout = 60 * time.Second
)

// ClusterServer is a Redis Cluster of masters without replicas started by
// Cluster.
type ClusterServer struct {
	// Addrs are the nodes' client addresses, in the order of Nodes.
	Addrs []string
	// Nodes are the masters; a test may Stop, Kill and Restart any of
	// them (a restarted node keeps its identity and slots, from its
	// nodes.conf, and its data only with WithPersistence).
	Nodes []*Server
	// Certs, Password, ACLUser and ACLPassword are those shared by every
	// node (see Server).
	Certs                          *testbackend.Certs
	Password, ACLUser, ACLPassword string
}

// Cluster starts masters (at least 3) redis-server nodes with
// cluster-enabled, each with the options (WithPersistence, WithTLS, the
// passwords and the ACL user apply to every node; TLS also covers the
// cluster bus), joins them with `redis-cli --cluster create
// --cluster-replicas 0`, which spreads the 16384 slots evenly, and waits
// until every node reports cluster_state:ok with all slots assigned and
// every node known (see WaitOK). The nodes use a cluster-node-timeout of
// 5 s. It skips the test when redis-server or redis-cli is not installed,
// and fails it when the cluster does not form within 60 s.
func Cluster(t testing.TB, masters int, opts ...Option) *ClusterServer {
	t.Helper()
	testbackend.Require(t, "redis-server", serverHint)
	cli := testbackend.Require(t, "redis-cli", toolsHint)
	if masters < 3 {
		t.Fatalf("redistest: a cluster needs at least 3 masters (redis-cli --cluster create), not %d", masters)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.cluster = true
	if o.tls {
		o.certs = testbackend.NewCerts(t, "orbit-test-client")
	}
	if o.aclUser != "" && o.password == "" {
		o.password = "admin-" + testbackend.RandomHex(t, 12)
	}
	c := &ClusterServer{Certs: o.certs, Password: o.password, ACLUser: o.aclUser, ACLPassword: o.aclPassword}
	for i := 0; i < masters; i++ {
		n := start(t, o)
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}

	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if o.tls {
		args = append(args, "--tls", "--cacert", o.certs.CAFile, "--cert", o.certs.ClientCertFile, "--key", o.certs.ClientKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = os.Environ()
	if o.password != "" {
		cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+o.password) // not -a: keeps it off the command line
	}
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitOK(t)
	return c
}

// WaitOK waits until every node reports cluster_state:ok, 16384 slots
// assigned and ok, and knows every node; it fails the test after 60 s.
// Call it after restarting a node before relying on the whole cluster.
func (c *ClusterServer) WaitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	want := []string{
		"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_slots_ok:16384",
		"cluster_known_nodes:" + strconv.Itoa(len(c.Nodes)),
	}
	for {
		var problem string
		for _, n := range c.Nodes {
			info, err := n.do("CLUSTER", "INFO")
			if err != nil {
				problem = fmt.Sprintf("%s: CLUSTER INFO: %v", n.Addr, err)
				break
			}
			for _, w := range want {
				if !strings.Contains(info.(string), w+"\r\n") {
					problem = fmt.Sprintf("%s: no %s in CLUSTER INFO:\n%s", n.Addr, w, info)
					break
				}
			}
			if problem != "" {
				break
			}
		}
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster not ok after %s: %s", clusterTimeout, problem)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NodeFor returns the node that serves key's slot (CLUSTER KEYSLOT and
// CLUSTER SLOTS, asked of the first running node), failing the test when
// no node does.
func (c *ClusterServer) NodeFor(t testing.TB, key string) *Server {
	t.Helper()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		v, err := n.do("CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatalf("redistest: CLUSTER KEYSLOT on %s: %v", n.Addr, err)
		}
		slot := v.(int64)
		v, err = n.do("CLUSTER", "SLOTS")
		if err != nil {
			t.Fatalf("redistest: CLUSTER SLOTS on %s: %v", n.Addr, err)
		}
		// Each entry: start, end, [ip, port, id, ...] of the master, replicas...
		for _, e := range v.([]any) {
			r := e.([]any)
			if slot < r[0].(int64) || slot > r[1].(int64) {
				continue
			}
			master := r[2].([]any)
			port := master[1].(int64)
			for _, m := range c.Nodes {
				if m.port == int(port) {
					return m
				}
			}
			t.Fatalf("redistest: slot %d is served by port %d, not a node of this cluster", slot, port)
		}
		t.Fatalf("redistest: no node serves slot %d of key %q", slot, key)
	}
	t.Fatal("redistest: no node of the cluster is running")
	return nil
}
