package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickStartCommands returns the commands of the first ```sh block of
// README's "## Quick start" section, one word list per command (comments
// dropped, continuation lines joined). Shell syntax beyond plain words is
// refused, so that the test runs exactly what a person would type.
func quickStartCommands(readme string) ([][]string, error) {
	_, section, ok := strings.Cut(readme, "\n## Quick start\n")
	if !ok {
		return nil, errors.New(`README.md has no "## Quick start" section`)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		return nil, errors.New("the quick start has no ```sh block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		return nil, errors.New("the quick start's ```sh block does not end")
	}
	comment := regexp.MustCompile(`(^|\s)#.*$`)
	var cmds [][]string
	var pending string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(comment.ReplaceAllString(line, ""))
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, "'\"$|&;<>`()*?") {
			return nil, fmt.Errorf("quick start line %q uses shell syntax this test does not interpret", line)
		}
		cmds = append(cmds, strings.Fields(line))
	}
	return cmds, nil
}

func TestQuickStartCommandsParse(t *testing.T) {
	readme := "# x\n\n## Quick start\n\n```sh\ngo run ./cmd/orbit-server serve   # start\n\n" +
		"curl -s 127.0.0.1:9464/readyz\norbit-server locate \\\n  Greeter/alice  # there\n```\n\n```sh\nnot this\n```\n"
	got, err := quickStartCommands(readme)
	want := [][]string{{"go", "run", "./cmd/orbit-server", "serve"}, {"curl", "-s", "127.0.0.1:9464/readyz"}, {"orbit-server", "locate", "Greeter/alice"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("quickStartCommands = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"## Other\n", "## Quick start\nno block\n", "## Quick start\n```sh\nx | y\n```\n", "## Quick start\n```sh\nx\n"} {
		if _, err := quickStartCommands("\n" + bad); err == nil {
			t.Errorf("quickStartCommands(%q): no error", bad)
		}
	}
}

// bgProcess is a long-running command of the quick start (serve, node run).
type bgProcess struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

func startBackground(t *testing.T, name, dir string, env []string, bin string, args ...string) *bgProcess {
	t.Helper()
	p := &bgProcess{name: name, stdout: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout = io.MultiWriter(p.stdout, &prefixWriter{t: t, prefix: name + " stdout: "})
	p.cmd.Stderr = &prefixWriter{t: t, prefix: name + ": "}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// signalAndWait sends sig to the process (by its PID) and waits for it to
// exit; it returns the exit code.
func (p *bgProcess) signalAndWait(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit after %v", p.name, sig)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

// TestReadmeQuickStart types README.md's quick-start block as a person
// would: it reads the commands from the README (so the README cannot
// drift from what works), runs them in order against real orbit-server
// processes built from the repository, and pauses between steps for
// longer than the node lease. The server runs with --node-lease-ttl 1s
// (the test adds it, with free loopback ports in place of 50051 and
// 9464) and the pauses are 1.5 s: a node that did not keep renewing
// would be gone by the next step, which is what broke the quick start
// when it joined with grpcurl. `go run ./cmd/orbit-server` is replaced by
// the built binary; serve and node run are started in the background and
// stopped by PID; every other command must exit 0, and locate, leases get
// and nodes list must name the demonstration node. Last, node run gets
// SIGINT and must leave the cluster and exit 0.
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server processes, with human pauses")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := quickStartCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	bin := buildServer(t)
	dir := t.TempDir()
	grpcAddr, adminAddr := freeAddr(t), freeAddr(t)
	env := append(os.Environ(), envServerAddr+"="+grpcAddr)
	const pause = 1500 * time.Millisecond // a person typing; longer than the 1 s node lease
	subst := strings.NewReplacer("127.0.0.1:50051", grpcAddr, "localhost:50051", grpcAddr, "127.0.0.1:9464", adminAddr, "localhost:9464", adminAddr)

	var nodeRun *bgProcess
	nodeKey := ""
	seen := map[string]bool{}
	joined := regexp.MustCompile(`joined as node (\S+) `)
	for i, words := range cmds {
		if i > 0 {
			time.Sleep(pause) // the deliberate human pause
		}
		line := strings.Join(words, " ")
		t.Logf("$ %s", line)
		if words[0] == "curl" {
			readyz(t, subst.Replace(words[len(words)-1]), false)
			seen["curl"] = true
			continue
		}
		var args []string
		switch {
		case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/orbit-server":
			args = words[3:]
		case words[0] == "orbit-server":
			args = words[1:]
		default:
			t.Fatalf("quick start command %q: the test knows orbit-server and curl only", line)
		}
		for j := range args {
			args[j] = subst.Replace(args[j])
		}
		if len(args) == 0 {
			t.Fatalf("quick start command %q has no subcommand", line)
		}
		sub := args[0]
		if len(args) > 1 && (sub == "node" || sub == "nodes" || sub == "leases") {
			sub += " " + args[1]
		}
		seen[sub] = true
		switch sub {
		case "serve":
			if !hasFlag(args, "--listen") {
				args = append(args, "--listen", grpcAddr)
			}
			if !hasFlag(args, "--admin-addr") {
				args = append(args, "--admin-addr", adminAddr)
			}
			args = append(args, "--node-lease-ttl", "1s")
			startBackground(t, "serve", dir, env, bin, args...)
			readyz(t, adminAddr+"/readyz", true) // the person waits for the server to start
		case "node run":
			nodeRun = startBackground(t, "node run", dir, env, bin, args...)
			waitFor(t, "node run to join", func() bool { return joined.MatchString(nodeRun.stdout.String()) })
			nodeKey = joined.FindStringSubmatch(nodeRun.stdout.String())[1]
		default:
			out := runForeground(t, dir, env, bin, args...)
			if sub == "locate" || sub == "leases get" || sub == "nodes list" {
				if nodeKey == "" || !strings.Contains(out, nodeKey) {
					t.Fatalf("%q: output does not name the demonstration node %q:\n%s", line, nodeKey, out)
				}
			}
			if sub == "locate" {
				placed := "placed " + args[len(args)-1] + " on this node"
				waitFor(t, "node run to report "+placed, func() bool { return strings.Contains(nodeRun.stdout.String(), placed) })
			}
		}
	}
	for _, want := range []string{"serve", "curl", "node run", "locate", "leases get", "nodes list"} {
		if !seen[want] {
			t.Errorf("the quick start no longer runs %q: update it or this test", want)
		}
	}
	if nodeRun == nil {
		t.FailNow()
	}

	time.Sleep(pause)
	if code := nodeRun.signalAndWait(t, syscall.SIGINT); code != 0 {
		t.Fatalf("node run exited %d after SIGINT, want 0", code)
	}
	if out := nodeRun.stdout.String(); !strings.Contains(out, "left the cluster as node "+nodeKey) {
		t.Fatalf("node run did not report leaving:\n%s", out)
	}
	var nodes []nodeJSON
	if err := json.Unmarshal([]byte(runForeground(t, dir, env, bin, "nodes", "list", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Key == nodeKey {
			t.Fatalf("node %s is still listed after node run left", nodeKey)
		}
	}
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// runForeground runs one command to completion; it must exit 0.
func runForeground(t *testing.T, dir string, env []string, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("orbit-server %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// readyz GETs an admin /readyz URL (as curl would, http:// added when
// missing); wait retries until the server is up. The answer must be 200
// and say Healthy.
func readyz(t *testing.T, url string, wait bool) {
	t.Helper()
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func() (int, string, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if wait {
		waitFor(t, "the server to start ("+url+")", func() bool { code, _, err := get(); return err == nil && code == http.StatusOK })
	}
	code, body, err := get()
	if err != nil || code != http.StatusOK || !strings.Contains(body, "Healthy") {
		t.Fatalf("GET %s: %d %q %v", url, code, body, err)
	}
}
