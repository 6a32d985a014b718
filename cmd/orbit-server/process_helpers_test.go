package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dialRetry(ctx context.Context, addr string) (*client.Client, error) {
	var last error
	for ctx.Err() == nil {
		c, err := client.Dial(ctx, addr, client.WithConnectTimeout(2*time.Second))
		if err == nil {
			return c, nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, last
}

// prefixWriter sends a child's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}
