package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server/auth"
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
