package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeNodes is a scripted NodeService for unit tests of the renewal loop:
// leases last ttl, and RenewLease answers with the queued errors first.
type fakeNodes struct {
	orbitv1.UnimplementedNodeServiceServer
	ttl time.Duration

	mu       sync.Mutex
	script   []error // next RenewLease answers; nil entries succeed
	always   error   // answer once script is empty (nil = succeed)
	renewals int     // successful renewals
	calls    int     // RenewLease calls
	leaves   int
	tokens   []string // tokens presented to RenewLease and Leave
}

func (f *fakeNodes) lease() *orbitv1.NodeLease {
	now := time.Now()
	return &orbitv1.NodeLease{
		ExpiresAt: timestamppb.New(now.Add(f.ttl)), RenewAt: timestamppb.New(now.Add(f.ttl / 2)),
		ChallengeToken: "secret-token",
	}
}

func (f *fakeNodes) Join(_ context.Context, r *orbitv1.JoinRequest) (*orbitv1.JoinResponse, error) {
	key := r.GetNodeKey()
	if key == "" {
		key = "generated"
	}
	return &orbitv1.JoinResponse{Id: &orbitv1.NodeId{Namespace: "ns", Key: key}, Lease: f.lease()}, nil
}

func (f *fakeNodes) RenewLease(_ context.Context, r *orbitv1.RenewNodeLeaseRequest) (*orbitv1.RenewNodeLeaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.tokens = append(f.tokens, r.GetChallengeToken())
	err := f.always
	if len(f.script) > 0 {
		err, f.script = f.script[0], f.script[1:]
	}
	if err != nil {
		return nil, err
	}
	f.renewals++
	l := f.lease()
	l.ChallengeToken = "" // the client keeps its token when none is returned
	return &orbitv1.RenewNodeLeaseResponse{Lease: l}, nil
}

func (f *fakeNodes) Leave(_ context.Context, r *orbitv1.LeaveRequest) (*orbitv1.LeaveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaves++
	f.tokens = append(f.tokens, r.GetChallengeToken())
	return &orbitv1.LeaveResponse{}, nil
}

// fakeAddrs answers LocateOrPlace with a fixed lease.
type fakeAddrs struct {
	orbitv1.UnimplementedAddressableServiceServer
}

func (fakeAddrs) LocateOrPlace(_ context.Context, r *orbitv1.LocateOrPlaceRequest) (*orbitv1.LocateOrPlaceResponse, error) {
	if r.GetReference().GetType() == "" {
		return nil, status.Error(codes.InvalidArgument, "reference.type: must not be empty: invalid argument")
	}
	now := time.Now()
	return &orbitv1.LocateOrPlaceResponse{Placed: true, Lease: &orbitv1.AddressableLease{
		Reference: r.GetReference(), Node: &orbitv1.NodeId{Namespace: "ns", Key: "n1"},
		CreatedAt: timestamppb.New(now), RenewAt: timestamppb.New(now.Add(time.Second)),
		ExpiresAt: timestamppb.New(now.Add(2 * time.Second)), Epoch: 7,
	}}, nil
}

func (f *fakeNodes) set(fn func(f *fakeNodes)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeNodes) get() (renewals, calls, leaves int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewals, f.calls, f.leaves
}

// startFake serves f over an in-memory listener and returns a client of it.
func startFake(t *testing.T, f *fakeNodes, opts ...Option) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	orbitv1.RegisterNodeServiceServer(srv, f)
	orbitv1.RegisterAddressableServiceServer(srv, fakeAddrs{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dialer := func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }
	opts = append([]Option{WithNamespace("ns"), WithDialOptions(grpc.WithContextDialer(dialer))}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond every 10 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lostRecorder counts OnLeaseLost calls.
type lostRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *lostRecorder) record(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// wait returns the recorded errors once there is at least one (the lost
// callback runs just after Done is closed), or what there is after 5 s.
func (r *lostRecorder) wait() []error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if errs := r.get(); len(errs) > 0 || time.Now().After(deadline) {
			return errs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *lostRecorder) get() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}
