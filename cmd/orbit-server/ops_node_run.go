package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nodeRunFlags are the flags of `node run`.
type nodeRunFlags struct {
	types []string
	url   string
	key   string
	poll  time.Duration
}

// newNodeCmd is `orbit-server node run`: a demonstration node.
func newNodeCmd() *cobra.Command {
	f := &connFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Join a running server's cluster as a demonstration node",
	}
	addConnFlags(cmd.PersistentFlags(), f)
	var r nodeRunFlags
	runCmd := &cobra.Command{
		Use:   "run --types TYPE[,TYPE...]",
		Short: "Join as a node hosting TYPEs, report what is placed on it, leave on Ctrl-C",
		Long: `Joins the cluster as a node whose capabilities list --types, and stays a
member until Ctrl-C or SIGTERM: the node lease is renewed in the background
(at the interval the server asks for), so the node outlives the node lease
TTL however long it runs. The node hosts nothing for real: it is the
stand-in for an application process, for trying Orbit out and for drills.

Every --poll-interval it lists the leases it holds (there is no watch for
leases: placements are decided by the server when a caller locates an
addressable, and only listing the node's leases shows them) and prints one
line per addressable placed on it or no longer held by it. It renews each
held lease when the server's renew time has come, as a real node must.

On Ctrl-C or SIGTERM it leaves (which releases its leases), prints a line
and exits 0; a second signal kills it at once. If the cluster drops the node
(its lease lapsed, e.g. the server was unreachable for longer than the TTL)
it exits 1.

--output table prints human-readable lines; --output json prints one JSON
object per line (JSON Lines) with an "event" field: joined, placed,
released, lost, left. Connection flags are described in docs/cli.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := r.check(); err != nil {
				return err
			}
			if err := f.check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, stop, f, r, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := runCmd.Flags()
	fl.StringSliceVar(&r.types, "types", nil, "addressable types the node hosts, comma-separated (required), e.g. Greeter,Counter")
	fl.StringVar(&r.url, "url", "", "URL by which peers would reach the node, e.g. grpc://127.0.0.1:9000 (opaque to Orbit; default none)")
	fl.StringVar(&r.key, "key", "", "node key (default: one the server generates)")
	fl.DurationVar(&r.poll, "poll-interval", 500*time.Millisecond, "how often the node lists its leases")
	cmd.AddCommand(runCmd)
	return cmd
}

// check validates the flags of node run; its errors are usage errors.
func (r *nodeRunFlags) check() error {
	if len(r.types) == 0 {
		return usagef("--types TYPE[,TYPE...] is required")
	}
	for i, t := range r.types {
		t = strings.TrimSpace(t)
		if err := orbit.ValidateIdentifier("type", t, orbit.MaxTypeLen); err != nil {
			return usageError{fmt.Errorf("--types %q: entry %d: %w", strings.Join(r.types, ","), i+1, err)}
		}
		r.types[i] = t
	}
	if r.key != "" {
		if err := orbit.ValidateIdentifier("key", r.key, orbit.MaxKeyLen); err != nil {
			return usageError{fmt.Errorf("--key %q: %w", r.key, err)}
		}
	}
	if r.poll <= 0 {
		return usagef("--poll-interval %s: must be > 0", r.poll)
	}
	return nil
}

// runNode joins, reports placements until ctx ends (a signal), then
// leaves. stop is called when ctx ends so that a second signal kills the
// process. It returns nil after a clean leave, an error if the join, the
// leave or the membership failed.
func runNode(ctx context.Context, stop func(), f *connFlags, r nodeRunFlags, stdout, stderr io.Writer) error {
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close() // leaves the node if still joined (an error path)
	lost := make(chan error, 1)
	jctx, cancel := f.callCtx(ctx)
	n, err := c.Join(jctx, client.NodeOptions{
		Key: r.key, URL: r.url, Capabilities: orbit.NodeCapabilities{AddressableTypes: r.types},
		OnLeaseLost: func(err error) { lost <- err },
	})
	cancel()
	if err != nil {
		return fmt.Errorf("join as a node of types %s: %w", strings.Join(r.types, ","), err)
	}
	ev := &nodeEvents{w: stdout, json: f.output == "json"}
	ev.joined(n.ID(), r.url, r.types, n.Lease())

	w := &leaseWatcher{n: n, f: f, ev: ev, stderr: stderr, held: map[string]orbit.AddressableLease{}}
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	for {
		if err := w.poll(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			stop()
			lctx, cancel := context.WithTimeout(context.Background(), f.timeout)
			defer cancel()
			if err := n.Leave(lctx); err != nil {
				return fmt.Errorf("leave as node %q: %w", n.ID().Key, err)
			}
			ev.left(n.ID(), len(w.held))
			return nil
		case err := <-lost:
			return fmt.Errorf("node %q lost its membership (the cluster dropped it; its addressables are being placed elsewhere): %w", n.ID().Key, err)
		case <-ticker.C:
		}
	}
}

// leaseWatcher polls the leases of a node and renews them.
type leaseWatcher struct {
	n       *client.Node
	f       *connFlags
	ev      *nodeEvents
	stderr  io.Writer
	held    map[string]orbit.AddressableLease // by reference text
	lastErr string                            // last warning printed

	listDenied bool // listing is not allowed: only the membership is kept
}

// poll lists the node's leases, reports the changes since the previous
// poll and renews the leases due. Transient failures are printed once to
// stderr and retried at the next poll; a listing denied for want of role
// reader is reported once and polling stops (the node stays a member);
// any other error no retry can cure is returned.
func (w *leaseWatcher) poll(ctx context.Context) error {
	if ctx.Err() != nil || w.listDenied {
		return nil
	}
	leases, err := w.list(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if status.Code(err) == codes.PermissionDenied {
			// Listing needs role reader, joining role node: an identity
			// with node alone still keeps its membership.
			w.listDenied = true
			fmt.Fprintf(w.stderr, "orbit-server: node run: warning: cannot list this node's leases, so placements are not reported (the identity needs role reader as well as node): %v\n", err)
			return nil
		}
		if fatalCall(err) {
			return fmt.Errorf("list the leases of node %q: %w", w.n.ID().Key, err)
		}
		w.warn("list leases: " + err.Error())
		return nil
	}
	current := make(map[string]orbit.AddressableLease, len(leases))
	for _, l := range leases {
		k := l.Reference.String()
		current[k] = l
		if old, had := w.held[k]; !had || old.Epoch != l.Epoch {
			w.ev.lease("placed", l, nil)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.held)) {
		if _, ok := current[k]; !ok {
			w.ev.lease("released", w.held[k], nil)
		}
	}
	w.held = current
	for _, k := range slices.Sorted(maps.Keys(w.held)) {
		l := w.held[k]
		if time.Now().Before(l.RenewAt) {
			continue
		}
		rctx, cancel := w.f.callCtx(ctx)
		nl, err := w.n.RenewAddressable(rctx, l.Reference, l.Epoch)
		cancel()
		switch {
		case err == nil:
			w.held[k] = nl
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, orbit.ErrFenced) || errors.Is(err, orbit.ErrNotFound):
			delete(w.held, k)
			w.ev.lease("lost", l, err)
		case fatalCall(err):
			return fmt.Errorf("renew the lease of %s: %w", refArg(l.Reference), err)
		default:
			w.warn("renew " + refArg(l.Reference) + ": " + err.Error())
		}
	}
	w.lastErr = ""
	return nil
}

// list returns every page of the node's leases.
func (w *leaseWatcher) list(ctx context.Context) ([]orbit.AddressableLease, error) {
	var out []orbit.AddressableLease
	seen := map[string]bool{}
	for token := ""; ; {
		lctx, cancel := w.f.callCtx(ctx)
		page, err := w.n.ListLeases(lctx, token, 0)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, page.Leases...)
		if token = page.NextPageToken; token == "" {
			return out, nil
		}
		if seen[token] {
			return nil, errors.New("the server repeated a page token")
		}
		seen[token] = true
	}
}

// warn prints msg to stderr unless it repeats the previous warning.
func (w *leaseWatcher) warn(msg string) {
	if msg == w.lastErr {
		return
	}
	w.lastErr = msg
	fmt.Fprintln(w.stderr, "orbit-server: node run: warning:", msg, "(retrying)")
}

// fatalCall reports whether a failed call would fail again however often
// it is retried.
func fatalCall(err error) bool {
	if errors.Is(err, orbit.ErrInvalidArgument) || errors.Is(err, orbit.ErrClosed) || errors.Is(err, orbit.ErrUnsupported) {
		return true
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// nodeEvents prints what node run reports, as lines for people or as JSON
// Lines. The node's challenge token is never printed.
type nodeEvents struct {
	w    io.Writer
	json bool
}

// nodeEventJSON is one line of `node run --output json`.
type nodeEventJSON struct {
	Event            string     `json:"event"`
	Namespace        string     `json:"namespace,omitempty"`
	Node             string     `json:"node,omitempty"`
	URL              *string    `json:"url,omitempty"`
	AddressableTypes []string   `json:"addressable_types,omitempty"`
	ExpiresAt        *time.Time `json:"expires_at,omitempty"`
	Incarnation      uint64     `json:"incarnation,omitempty"`
	Lease            *leaseJSON `json:"lease,omitempty"`
	Released         *int       `json:"released,omitempty"`
	Error            string     `json:"error,omitempty"`
}

func (e *nodeEvents) emit(v nodeEventJSON) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		b = []byte(fmt.Sprintf(`{"event":%q}`, v.Event))
	}
	fmt.Fprintf(e.w, "%s\n", b)
}

func (e *nodeEvents) joined(id orbit.NodeID, url string, types []string, l orbit.NodeLease) {
	if e.json {
		exp := l.ExpiresAt.UTC()
		e.emit(nodeEventJSON{Event: "joined", Namespace: id.Namespace, Node: id.Key, URL: &url,
			AddressableTypes: types, ExpiresAt: &exp, Incarnation: l.Incarnation})
		return
	}
	fmt.Fprintf(e.w, "joined as node %s in namespace %q (types %s; url %s); renewing its lease in the background; Ctrl-C leaves\n",
		cell(id.Key), id.Namespace, strings.Join(types, ","), cell(url))
}

// lease reports a placed, released or lost addressable lease.
func (e *nodeEvents) lease(event string, l orbit.AddressableLease, cause error) {
	if e.json {
		j := leaseToJSON(l)
		v := nodeEventJSON{Event: event, Lease: &j}
		if cause != nil {
			v.Error = cause.Error()
		}
		e.emit(v)
		return
	}
	switch event {
	case "placed":
		fmt.Fprintf(e.w, "placed %s on this node (epoch %d)\n", cell(refArg(l.Reference)), l.Epoch)
	case "released":
		fmt.Fprintf(e.w, "released %s (epoch %d): no longer held by this node\n", cell(refArg(l.Reference)), l.Epoch)
	default:
		fmt.Fprintf(e.w, "lost %s (epoch %d): %v\n", cell(refArg(l.Reference)), l.Epoch, cause)
	}
}

func (e *nodeEvents) left(id orbit.NodeID, held int) {
	if e.json {
		e.emit(nodeEventJSON{Event: "left", Namespace: id.Namespace, Node: id.Key, Released: &held})
		return
	}
	plural := "s"
	if held == 1 {
		plural = ""
	}
	fmt.Fprintf(e.w, "left the cluster as node %s in namespace %q (%d lease%s released)\n", cell(id.Key), id.Namespace, held, plural)
}
