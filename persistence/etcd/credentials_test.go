package etcd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/etcd"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
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

// A password written in an endpoint URL authenticates (as the password
// key would) and appears nowhere: not in the etcd client's forwarded logs
// at debug level (which name the gRPC target), not in errors.
func TestEndpointCredentialsNeverShown(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth())
	const secret = "Ur1-Pa55-Secret"
	srv.AddUser(t, "orbit", secret, "uri/")
	ep := strings.Replace(srv.Endpoints()[0], "://", "://orbit:"+secret+"@", 1)
	if !strings.Contains(ep, secret) {
		t.Fatalf("endpoint %s holds no credentials", ep)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	p, err := persistence.Open(ctx, "etcd", etcdConfig([]string{ep}, "uri"), persistence.WithLogger(log))
	if err != nil {
		t.Fatalf("open with credentials in the endpoint: %v", err)
	}
	if _, err := p.Addressables().Place(ctx, ref("uri"), node("n1"), time.Minute); err != nil {
		t.Fatalf("place as the URL's user: %v", err)
	}
	_ = p.Close(ctx)
	if !strings.Contains(logs.String(), "etcd-client") {
		t.Fatalf("no forwarded client log at debug level, the check below proves nothing:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the password is in the logs:\n%s", logs.String())
	}

	// Credentials that disagree are refused, by index, without either.
	_, err = etcd.Open(ctx, etcd.Options{Endpoints: []string{ep}, Username: "orbit", Password: "other-Pa55"})
	if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), "endpoints[0]") ||
		strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "other-Pa55") {
		t.Fatalf("disagreeing credentials = %v", err)
	}
}
