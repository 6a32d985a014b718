package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // client-side health checking, named in the service config
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// A client talks to every server of its target at once: gRPC's round_robin
// balancer keeps a connection to each address, sends each call to the next
// one that is ready and whose grpc.health.v1 status is SERVING (a server
// whose backend is unhealthy reports NOT_SERVING and gets no calls), and the
// node renewals go wherever calls go, so a node's lease survives the death
// of any server as long as one answers.
//
// The retry policy resends, on UNAVAILABLE only, the calls that are safe to
// repeat: locating (a repeated LocateOrPlace finds what the first placed),
// listing, watching, and the renewals and leave of a node (a renewal
// repeated extends the same lease again; a repeated Leave finds the node
// gone, which Leave treats as done). Join is not retried: a join repeated
// after the first one applied joins a second node (random key) or fails
// with AlreadyExists (given key). Abandon is not retried: a repeated
// abandon of a lease the first one released answers "not held", which the
// caller cannot tell from a real failure. gRPC itself resends, whatever the
// method, a call that never left the client (transparent retry).
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""},
  "methodConfig": [{
    "name": [
      {"service": "orbit.v1.AddressableService", "method": "LocateOrPlace"},
      {"service": "orbit.v1.AddressableService", "method": "LocateOrPlaceBatch"},
      {"service": "orbit.v1.AddressableService", "method": "Lookup"},
      {"service": "orbit.v1.AddressableService", "method": "RenewLease"},
      {"service": "orbit.v1.AddressableService", "method": "ListLeases"},
      {"service": "orbit.v1.NodeService", "method": "RenewLease"},
      {"service": "orbit.v1.NodeService", "method": "Leave"},
      {"service": "orbit.v1.NodeService", "method": "ListNodes"},
      {"service": "orbit.v1.NodeService", "method": "WatchNodes"}
    ],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.05s",
      "maxBackoff": "0.5s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// resolveTarget turns Dial's target into the gRPC target to dial and the
// dial options it needs. One target is passed to gRPC as is
// ("host:port" and "dns:///name:port" resolve through DNS to every address
// of the name; "unix:///path" works too). Several "host:port" separated by
// commas are served by a static resolver of their own.
func resolveTarget(target string) (string, []grpc.DialOption, error) {
	if !strings.Contains(target, ",") {
		return target, nil, nil
	}
	parts := strings.Split(target, ",")
	addrs := make([]resolver.Address, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if _, _, err := net.SplitHostPort(p); err != nil || p == "" {
			return "", nil, invalid(fmt.Sprintf("target[%d]", i), "%q is not host:port (several servers are given as host:port,host:port,...)", p)
		}
		if seen[p] {
			return "", nil, invalid(fmt.Sprintf("target[%d]", i), "%q is listed twice", p)
		}
		seen[p] = true
		addrs = append(addrs, resolver.Address{Addr: p})
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	r := manual.NewBuilderWithScheme("orbit-" + hex.EncodeToString(b[:]))
	r.InitialState(resolver.State{Addresses: addrs})
	return r.Scheme() + ":///servers", []grpc.DialOption{grpc.WithResolvers(r)}, nil
}

// waitForReadyWithDeadline makes a call that has a deadline wait for a
// ready server (during a failover, while every server is restarting)
// instead of failing at once; a call without a deadline fails fast, so no
// call waits forever.
func waitForReadyWithDeadline(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); ok {
		opts = append([]grpc.CallOption{grpc.WaitForReady(true)}, opts...)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func waitForReadyWithDeadlineStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if _, ok := ctx.Deadline(); ok {
		opts = append([]grpc.CallOption{grpc.WaitForReady(true)}, opts...)
	}
	return streamer(ctx, desc, cc, method, opts...)
}
