// Package servertest starts an in-process Orbit server on a loopback port
// for tests of the packages that talk to it (client, load tool).
package servertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
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

// Shared is a persistence registry (one memory provider) that several
// servers of a test share, like servers pointed at one backend.
func Shared(t testing.TB) *persistence.Registry {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	reg, err := persistence.OpenRegistry(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open registry: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}

// StartOn runs a server on reg listening on addr ("127.0.0.1:0" for any
// port; a stopped server's address to stand in for it), namespace
// "default", no admin listener. The caller stops it (Stop), or the test's
// end does.
func StartOn(t testing.TB, reg *persistence.Registry, addr string, timings server.Timings) *server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := server.NewBuilder().WithNamespace("default").WithListenAddress(addr).
		WithAdminAddress("").WithRegistry(reg).WithTimings(timings).
		WithLogger(slog.New(slog.DiscardHandler)).Build(ctx)
	if err != nil {
		t.Fatalf("build server: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start server on %s: %v", addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx) // stopping a stopped server is harmless
	})
	return srv
}
