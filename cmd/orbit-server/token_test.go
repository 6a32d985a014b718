package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// `token new` prints a token and the digest line that matches it; `token
// hash` prints the same line for a token read on stdin, never the token.
func TestTokenCommands(t *testing.T) {
	code, out, errOut := runCLI(t, "token", "new", "ci")
	if code != 0 {
		t.Fatalf("token new: exit %d: %s", code, errOut)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("token new printed %q", out)
	}
	tok, line := lines[0], lines[1]
	d, err := config.ParseTokenDigest(line)
	if err != nil || d.Name != "ci" {
		t.Fatalf("config line %q: %v", line, err)
	}
	if name, ok := auth.NewTokens([]config.TokenDigest{d}).Match(tok); !ok || name != "ci" {
		t.Fatalf("the printed token does not match its line")
	}

	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetIn(strings.NewReader("  " + tok + "  \n"))
	root.SetArgs([]string{"token", "hash", "ci"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stdout.String()); got != line || strings.Contains(got, tok) {
		t.Fatalf("token hash = %q, want %q", got, line)
	}

	root = newRootCmd(&stdout, &stderr)
	root.SetIn(strings.NewReader(""))
	root.SetArgs([]string{"token", "hash", "ci"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "no token on stdin") {
		t.Fatalf("empty stdin: %v", err)
	}
	if code, _, errOut := runCLI(t, "token", "new", "bad name"); code != 1 || !strings.Contains(errOut, "token name") {
		t.Fatalf("bad name: exit %d %q", code, errOut)
	}
}

// SIGHUP makes serve re-read the token files: the rotated-in token works,
// the rotated-out one is refused.
func TestTokensReloadOnHangup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	const oldTok, newTok = "old-hup-token-0123456789abcdefghijklmnopq", "new-hup-token-0123456789abcdefghijklmnopq"
	if err := os.WriteFile(file, []byte(auth.DigestLine("robot", oldTok)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithPersistence(cfg).WithLogger(log).
		WithAuth(&config.AuthConfig{Mode: "on", TokenFiles: []string{file}, Grants: []string{"robot=reader@*"}}).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()
	reloadTokensOnHangup(ctx, catchHangups(), srv, log)

	if err := os.WriteFile(file, []byte(auth.DigestLine("robot", newTok)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Wait for the reload's log line (no timing threshold: the test's
	// deadline bounds the wait).
	for {
		mu.Lock()
		done := strings.Contains(logs.String(), "bearer tokens reloaded")
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	list := func(tok string) error {
		md := metadata.Pairs("authorization", "Bearer "+tok)
		_, err := orbitv1.NewNodeServiceClient(conn).ListNodes(metadata.NewOutgoingContext(ctx, md), &orbitv1.ListNodesRequest{})
		return err
	}
	if err := list(newTok); err != nil {
		t.Fatalf("rotated-in token: %v", err)
	}
	if err := list(oldTok); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("rotated-out token: %v, want Unauthenticated", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
