package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/clock"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func join(t *testing.T, c *Client, rec *lostRecorder) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.Join(ctx, NodeOptions{Key: "k1", URL: "grpc://127.0.0.1:1", OnLeaseLost: rec.record})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	return n
}

func TestRenewalKeepsRenewing(t *testing.T) {
	f := &fakeNodes{ttl: 200 * time.Millisecond}
	c := startFake(t, f)
	rec := &lostRecorder{}
	n := join(t, c, rec)
	waitFor(t, 5*time.Second, "3 renewals", func() bool { r, _, _ := f.get(); return r >= 3 })
	if got := n.Lease().ChallengeToken; got != "secret-token" {
		t.Fatalf("token after renewals = %q, want the joined one kept", got)
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Leave")
	}
	r1, _, leaves := f.get()
	time.Sleep(250 * time.Millisecond)
	if r2, _, _ := f.get(); r2 != r1 {
		t.Fatalf("renewals went on after Leave: %d -> %d", r1, r2)
	}
	if leaves != 1 || len(rec.get()) != 0 || n.Err() != nil {
		t.Fatalf("leaves=%d lost=%v err=%v, want 1 leave and no loss", leaves, rec.get(), n.Err())
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if _, _, l := f.get(); l != 1 {
		t.Fatalf("second Leave sent a call: leaves=%d", l)
	}
}

func TestRenewalRetriesTransientErrors(t *testing.T) {
	f := &fakeNodes{ttl: 400 * time.Millisecond}
	unavailable := status.Error(codes.Unavailable, "backend down")
	f.script = []error{unavailable, unavailable, status.Error(codes.Internal, "boom")}
	logs := &syncBuffer{}
	c := startFake(t, f, WithRenewBackoff(5*time.Millisecond, 20*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	rec := &lostRecorder{}
	n := join(t, c, rec)
	waitFor(t, 5*time.Second, "a renewal after retries", func() bool { r, _, _ := f.get(); return r >= 2 })
	if _, calls, _ := f.get(); calls < 5 {
		t.Fatalf("calls = %d, want the 3 failures retried", calls)
	}
	if len(rec.get()) != 0 {
		t.Fatalf("lease reported lost after transient errors: %v", rec.get())
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Fatalf("retries not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "secret-token") {
		t.Fatal("challenge token appeared in the log")
	}
	_ = n.Leave(context.Background())
}

func TestPermanentErrorLosesLeaseOnce(t *testing.T) {
	f := &fakeNodes{ttl: 200 * time.Millisecond, always: status.Error(codes.FailedPrecondition, "challenge token mismatch: fenced")}
	c := startFake(t, f)
	rec := &lostRecorder{}
	n := join(t, c, rec)
	waitFor(t, 5*time.Second, "OnLeaseLost", func() bool { return len(rec.get()) > 0 })
	<-n.Done()
	time.Sleep(300 * time.Millisecond) // would be several more renew periods
	errs := rec.get()
	if len(errs) != 1 {
		t.Fatalf("OnLeaseLost called %d times, want once", len(errs))
	}
	err := errs[0]
	if !errors.Is(err, ErrLeaseLost) || !errors.Is(err, orbit.ErrFenced) {
		t.Fatalf("lost error %v: want ErrLeaseLost and ErrFenced", err)
	}
	if !errors.Is(n.Err(), ErrLeaseLost) {
		t.Fatalf("Err() = %v", n.Err())
	}
	if _, calls, _ := f.get(); calls != 1 {
		t.Fatalf("a permanent error was retried: %d calls", calls)
	}
	// Leave after loss succeeds and Close does not report the lost node.
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("Leave after loss: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestExpiryWithoutRenewalLosesLease(t *testing.T) {
	f := &fakeNodes{ttl: 300 * time.Millisecond, always: status.Error(codes.Unavailable, "no backend")}
	c := startFake(t, f, WithRenewBackoff(5*time.Millisecond, 20*time.Millisecond))
	rec := &lostRecorder{}
	n := join(t, c, rec)
	select {
	case <-n.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("renewal did not stop after the lease expired")
	}
	errs := rec.wait()
	if len(errs) != 1 || !errors.Is(errs[0], ErrLeaseExpired) || !errors.Is(errs[0], orbit.ErrUnavailable) {
		t.Fatalf("lost errors = %v, want one ErrLeaseExpired wrapping the last ErrUnavailable", errs)
	}
	if !time.Now().After(n.Lease().ExpiresAt) {
		t.Fatal("lease reported lost before it expired")
	}
}

func TestClockHookJudgesExpiry(t *testing.T) {
	f := &fakeNodes{ttl: time.Minute}
	// A client clock an hour ahead sees the fresh lease as long expired.
	c := startFake(t, f, WithClock(clock.NewManual(time.Now().Add(time.Hour))))
	rec := &lostRecorder{}
	n := join(t, c, rec)
	select {
	case <-n.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("renewal did not stop")
	}
	if errs := rec.wait(); len(errs) != 1 || !errors.Is(errs[0], ErrLeaseExpired) {
		t.Fatalf("lost errors = %v, want one ErrLeaseExpired", errs)
	}
	if _, calls, _ := f.get(); calls != 0 {
		t.Fatalf("%d renewals sent for a lease already expired by the client's clock", calls)
	}
}

func TestOnLeaseLostMayLeave(t *testing.T) {
	f := &fakeNodes{ttl: 100 * time.Millisecond, always: status.Error(codes.NotFound, "node not found")}
	c := startFake(t, f)
	var (
		n       *Node
		ready   = make(chan struct{})
		leaveCh = make(chan error, 1)
	)
	n, err := c.Join(context.Background(), NodeOptions{OnLeaseLost: func(error) {
		<-ready
		leaveCh <- n.Leave(context.Background())
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	select {
	case err := <-leaveCh:
		if err != nil {
			t.Fatalf("Leave from OnLeaseLost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnLeaseLost calling Leave deadlocked or was never called")
	}
}

func TestDetachStopsWithoutLeaving(t *testing.T) {
	f := &fakeNodes{ttl: 100 * time.Millisecond}
	c := startFake(t, f)
	rec := &lostRecorder{}
	n := join(t, c, rec)
	n.Detach()
	r1, _, _ := f.get()
	time.Sleep(200 * time.Millisecond)
	r2, _, leaves := f.get()
	if r1 != r2 || leaves != 0 || len(rec.get()) != 0 {
		t.Fatalf("after Detach: renewals %d->%d, leaves %d, lost %v", r1, r2, leaves, rec.get())
	}
}

func TestCloseLeavesJoinedNodes(t *testing.T) {
	f := &fakeNodes{ttl: time.Second}
	c := startFake(t, f)
	rec := &lostRecorder{}
	n := join(t, c, rec)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, leaves := f.get(); leaves != 1 {
		t.Fatalf("Close sent %d leaves, want 1", leaves)
	}
	<-n.Done()
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := c.LocateOrPlace(context.Background(), orbit.AddressableReference{Type: "T"}); !errors.Is(err, orbit.ErrClosed) {
		t.Fatalf("LocateOrPlace after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Join(context.Background(), NodeOptions{}); !errors.Is(err, orbit.ErrClosed) {
		t.Fatalf("Join after Close: %v, want ErrClosed", err)
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("Leave after Close left the node: %v", err)
	}
}

func TestFakeLocateOrPlaceAndErrors(t *testing.T) {
	c := startFake(t, &fakeNodes{ttl: time.Second})
	ref := orbit.AddressableReference{Type: "Greeter", Key: orbit.Int32Key(-5)}
	l, placed, err := c.LocateOrPlace(context.Background(), ref)
	if err != nil || !placed {
		t.Fatalf("LocateOrPlace: %v placed=%v", err, placed)
	}
	ref.Namespace = "ns"
	if l.Reference != ref || l.Epoch != 7 || l.Node.Key != "n1" {
		t.Fatalf("lease = %+v", l)
	}
	_, _, err = c.LocateOrPlace(context.Background(), orbit.AddressableReference{})
	if !errors.Is(err, orbit.ErrInvalidArgument) || !strings.Contains(err.Error(), "reference.type") {
		t.Fatalf("bad reference: %v", err)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("status.Code = %s", status.Code(err))
	}
}

func TestDialUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, "127.0.0.1:1")
	if !errors.Is(err, orbit.ErrUnavailable) {
		t.Fatalf("Dial to a closed port: %v, want ErrUnavailable", err)
	}
	if _, err := Dial(ctx, ""); !errors.Is(err, orbit.ErrInvalidArgument) {
		t.Fatalf("Dial(\"\"): %v", err)
	}
	if _, err := Dial(ctx, "127.0.0.1:1", WithRenewBackoff(0, 0)); !errors.Is(err, orbit.ErrInvalidArgument) {
		t.Fatalf("bad option: %v", err)
	}
}
