package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Load modes.
const (
	modePlace    = "place"
	modeLocate   = "locate"
	modeRenew    = "renew"
	modeMixed    = "mixed"
	modeHold     = "hold"
	modeFailover = "failover" // --measure-failover
)

// Bounds that keep a run finite and the tool's own memory small.
const (
	maxConcurrency = 1024
	maxNodes       = 256
	maxKeys        = 10_000_000
	maxDuration    = time.Hour
	defaultKeys    = 10_000 // locate, renew and mixed
	defaultFOKeys  = 1_000  // --measure-failover
	setupTimeout   = 2 * time.Minute
	opGrace        = 5 * time.Second // in-flight calls get this long after the end
)

// benchConfig is the parsed command line.
type benchConfig struct {
	addr            string
	namespace       string
	concurrency     int
	duration        time.Duration
	warmup          time.Duration
	mode            string
	nodes           int
	typ             string
	keys            int
	batch           int
	allowRemote     bool
	measureFailover bool
	failoverTimeout time.Duration
	pollInterval    time.Duration
}

// errUsage marks a command-line error (exit code 2).
var errUsage = errors.New("usage error")

// parseConfig parses args (without the program name). Usage and flag errors
// are written to errOut.
func parseConfig(args []string, errOut io.Writer) (benchConfig, error) {
	var c benchConfig
	fs := flag.NewFlagSet("orbit-bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:50051", "gRPC address of the Orbit server (loopback only unless --allow-remote)")
	fs.StringVar(&c.namespace, "namespace", "default", "namespace to work in")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent workers (1-1024)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured run time (at most 1h)")
	fs.DurationVar(&c.warmup, "warmup", 0, "unmeasured run time before the measurement")
	fs.StringVar(&c.mode, "mode", modePlace, "load: place | locate | renew | mixed (20% place, 70% locate, 10% renew) | hold (only join the fake nodes and keep them alive for --duration, for an external load tool)")
	fs.IntVar(&c.nodes, "nodes", 4, "fake nodes to join, hosting --type (1-256)")
	fs.StringVar(&c.typ, "type", "Greeter", "addressable type the fake nodes host")
	fs.IntVar(&c.batch, "batch", 1, "references per LocateOrPlace call in place/locate operations (1-1000; >1 uses LocateOrPlaceBatch, each reference counts as one op)")
	fs.IntVar(&c.keys, "keys", 0, "addressables placed before the run: locate/renew/mixed default 10000, failover default 1000")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a non-loopback --addr")
	fs.BoolVar(&c.measureFailover, "measure-failover", false,
		"instead of a load: join 2 nodes, place --keys addressables, stop one node's renewals and time their re-placement")
	fs.DurationVar(&c.failoverTimeout, "failover-timeout", 60*time.Second, "give up a failover measurement after this long")
	fs.DurationVar(&c.pollInterval, "poll-interval", 20*time.Millisecond, "pause between failover polling rounds")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "usage: orbit-bench [flags]")
		fmt.Fprintln(errOut, "Load-tests an Orbit server and prints throughput, latency percentiles and a RESULT line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if c.measureFailover {
		c.mode = modeFailover
	}
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, nil
}

func (c *benchConfig) validate() error {
	switch c.mode {
	case modePlace, modeLocate, modeRenew, modeMixed, modeHold, modeFailover:
	default:
		return fmt.Errorf("--mode %q is not one of place, locate, renew, mixed, hold", c.mode)
	}
	switch {
	case c.concurrency < 1 || c.concurrency > maxConcurrency:
		return fmt.Errorf("--concurrency %d is outside 1-%d", c.concurrency, maxConcurrency)
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("--duration %s is outside (0, %s]", c.duration, maxDuration)
	case c.warmup < 0 || c.warmup > maxDuration:
		return fmt.Errorf("--warmup %s is outside [0, %s]", c.warmup, maxDuration)
	case c.nodes < 1 || c.nodes > maxNodes:
		return fmt.Errorf("--nodes %d is outside 1-%d", c.nodes, maxNodes)
	case c.batch < 1 || c.batch > 1000:
		return fmt.Errorf("--batch %d is outside 1-1000", c.batch)
	case c.keys < 0 || c.keys > maxKeys:
		return fmt.Errorf("--keys %d is outside 0-%d", c.keys, maxKeys)
	case c.typ == "":
		return errors.New("--type must not be empty")
	case c.failoverTimeout <= 0 || c.failoverTimeout > maxDuration:
		return fmt.Errorf("--failover-timeout %s is outside (0, %s]", c.failoverTimeout, maxDuration)
	case c.pollInterval < 0 || c.pollInterval > time.Minute:
		return fmt.Errorf("--poll-interval %s is outside [0, 1m]", c.pollInterval)
	}
	if c.keys == 0 {
		c.keys = defaultKeys
		if c.mode == modeFailover {
			c.keys = defaultFOKeys
		}
	}
	if c.mode == modeRenew && c.keys < c.concurrency {
		c.keys = c.concurrency // every worker renews its own share of the keys
	}
	return checkTarget(c.addr, c.allowRemote)
}

// checkTarget refuses addresses that are not on this machine unless
// allowRemote: loopback IPs, "localhost" and unix sockets are local.
// Other host names are refused without resolving them.
func checkTarget(addr string, allowRemote bool) error {
	if addr == "" {
		return errors.New("--addr must not be empty")
	}
	if allowRemote {
		return nil
	}
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "unix-abstract:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q is not host:port (%v); pass --allow-remote for other gRPC targets", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %q is not a loopback address; load tests target this machine only unless --allow-remote is given", addr)
}
