// Package servertest starts an in-process Orbit server on a loopback port
// for tests of the packages that talk to it (client, load tool).
package servertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory" // the memory provider
	"github.com/orbit-go/orbit/server"
)

// Start runs a server with one memory provider, namespace "default", no
// admin listener and the given timings, and stops it when the test ends
// (a failed stop fails the test).
func Start(t testing.TB, timings server.Timings) *server.Server {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := server.NewBuilder().WithNamespace("default").WithListenAddress("127.0.0.1:0").
		WithAdminAddress("").WithPersistence(cfg).WithTimings(timings).
		WithLogger(slog.New(slog.DiscardHandler)).Build(ctx)
	if err != nil {
		t.Fatalf("build server: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return srv
}
