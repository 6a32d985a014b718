package server_test

import (
	"strings"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth/authtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// With auth on, audit events name the authenticated caller: the SPIFFE ID
// of a node's certificate, the name of a bearer token; never the token. A
// node renewing another node's lease is refused and audited.
func TestAuditNamesAuthenticatedIdentity(t *testing.T) {
	sink := &lockedBuffer{}
	log := audit.New(sink)
	t.Cleanup(func() { _ = log.Close() })
	e := &authEnv{pki: authtest.NewPKI(t), logs: &lockedBuffer{}}
	e.node1 = e.pki.Issue(t, authtest.Names{URI: []string{"spiffe://example.org/ns/x/node1"}})
	e.node2 = e.pki.Issue(t, authtest.Names{URI: []string{"spiffe://example.org/ns/x/node2"}})
	e.srv = startServer(t, server.NewBuilder().WithNamespace("x").WithListenAddress("127.0.0.1:0").
		WithTLS(e.pki.ServerTLS(t)).WithAuth(authConfig()).WithAudit(log).WithLogger(quiet))

	nodeConn := e.conn(t, &e.node1, "")
	joined, err := orbitv1.NewNodeServiceClient(nodeConn).Join(bg, &orbitv1.JoinRequest{NodeKey: "n1", Url: "grpc://127.0.0.1:1",
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	ops := e.conn(t, nil, opsToken)
	if _, err := orbitv1.NewAddressableServiceClient(ops).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "alice")}); err != nil {
		t.Fatal(err)
	}
	other := orbitv1.NewNodeServiceClient(e.conn(t, &e.node2, ""))
	if _, err := other.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: joined.Id, ChallengeToken: joined.Lease.ChallengeToken}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("node2 renewing node1: %v, want PermissionDenied", err)
	}
	if err := log.Flush(bg); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], `"event":"node.join","outcome":"ok","identity":"certificate:spiffe://example.org/ns/x/node1","peer":"127.0.0.1:`) ||
		!strings.Contains(lines[1], `"event":"addressable.place","outcome":"ok","identity":"token:ops","peer":"127.0.0.1:`) ||
		!strings.Contains(lines[2], `"event":"node.renew","outcome":"refused","code":"PermissionDenied"`) ||
		!strings.Contains(lines[2], `"identity":"certificate:spiffe://example.org/ns/x/node2"`) {
		t.Fatalf("audit log:\n%s", sink.String())
	}
	if strings.Contains(sink.String(), opsToken) {
		t.Fatal("the audit log shows a bearer token")
	}
}
