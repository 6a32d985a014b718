// Command orbit-bench is a load tool for an Orbit server.
//
// It joins --nodes fake nodes hosting --type (kept alive through the client
// package's background renewal) and runs --concurrency workers for
// --duration in one mode:
//
//	place   LocateOrPlace new, unique addressables
//	locate  place --keys addressables first, then LocateOrPlace random ones
//	renew   renew, as the holder node, the leases placed first
//	mixed   20% place, 70% locate, 10% renew
//
// With --measure-failover it instead joins two nodes, places --keys
// addressables, stops one node's renewals without leaving (a simulated
// crash) and measures how long until all of its addressables are re-placed
// on the other node.
//
// It prints throughput, latency percentiles and errors by gRPC code, and
// last a machine-readable line:
//
//	RESULT mode=place ops=... duration_s=... ops_per_sec=... p50_us=... p99_us=... p999_us=... max_us=... errors=... concurrency=... nodes=...
//	RESULT mode=failover keys=... on_victim=... moved=... seconds=... first_s=... lease_left_s=... polls=... errors=...
//
// Every run is bounded in time and stops by itself; only loopback addresses
// are accepted unless --allow-remote is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code: 0 on success,
// 1 if the run failed, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "orbit-bench:", err)
		return 2
	}
	// A hard bound on the whole run, whatever the server does.
	limit := setupTimeout + cfg.warmup + cfg.duration + opGrace
	if cfg.mode == modeFailover {
		limit = setupTimeout + cfg.failoverTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	if cfg.mode == modeFailover {
		res, err := runFailover(ctx, cfg, stdout)
		if res.onVictim > 0 {
			res.print(stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, "orbit-bench: failover:", err)
			return 1
		}
		return 0
	}
	if cfg.mode == modeHold {
		if err := runHold(ctx, cfg, stdout); err != nil {
			fmt.Fprintln(stderr, "orbit-bench: hold:", err)
			return 1
		}
		return 0
	}
	res, err := runLoad(ctx, cfg, stdout)
	if res.all != nil {
		res.print(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "orbit-bench: %s: %v\n", cfg.mode, err)
		return 1
	}
	return 0
}
