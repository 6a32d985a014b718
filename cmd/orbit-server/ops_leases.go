package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/spf13/cobra"
)

// newLeasesCmd is `orbit-server leases list|get`: addressable leases read
// from a running server. Neither subcommand ever places anything.
func newLeasesCmd() *cobra.Command {
	f := &connFlags{}
	cmd := &cobra.Command{
		Use:   "leases",
		Short: "List a node's addressable leases, or look one addressable up (never places)",
		Long: `Reads addressable leases from a running server without changing anything:
"leases list --node KEY" the leases a node holds (ListLeases), "leases get
TYPE/KEY" where one addressable is active (Lookup). To place an addressable
use "orbit-server locate". Connection flags are described in docs/cli.md.`,
	}
	addConnFlags(cmd.PersistentFlags(), f)

	var node string
	list := &cobra.Command{
		Use:   "list --node KEY",
		Short: "List the live addressable leases held by one node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if node == "" {
				return usagef("--node KEY is required")
			}
			if err := orbit.ValidateIdentifier("node", node, orbit.MaxKeyLen); err != nil {
				return usageError{fmt.Errorf("--node %q: %w", node, err)}
			}
			leases, err := listNodeLeases(cmd, f, node)
			if err != nil {
				return err
			}
			if f.output == "json" {
				out := make([]leaseJSON, len(leases))
				for i, l := range leases {
					out[i] = leaseToJSON(l)
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return writeLeasesTable(cmd.OutOrStdout(), leases, nil, time.Now())
		},
	}
	list.Flags().StringVar(&node, "node", "", "key of the node whose leases are listed (required)")

	var getKind string
	get := &cobra.Command{
		Use:   "get TYPE/KEY",
		Short: "Show where an addressable is active, without placing it; exit 1 if it is not",
		Long: `Looks TYPE/KEY up (Lookup): prints its live lease and holder node. It never
places: an addressable without a live lease (never placed, released, or its
holder gone) is reported as not placed, with exit code 1.`,
		Args: exactlyOneArg("TYPE/KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], getKind)
			if err != nil {
				return err
			}
			var lease orbit.AddressableLease
			err = f.call(cmd.Context(), func(ctx context.Context, c *client.Client) (err error) {
				lease, err = c.Lookup(ctx, ref)
				return err
			})
			if errors.Is(err, orbit.ErrNotFound) {
				return fmt.Errorf("%s is not placed in namespace %s: no live lease (leases get never places; `orbit-server locate %s` does): %w",
					args[0], namespaceName(f.namespace), args[0], err)
			}
			if err != nil {
				return fmt.Errorf("look up %s: %w", args[0], err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), leaseToJSON(lease))
			}
			return writeLeasesTable(cmd.OutOrStdout(), []orbit.AddressableLease{lease}, nil, time.Now())
		},
	}
	addKeyKindFlag(get, &getKind)
	cmd.AddCommand(list, get)
	return cmd
}

// listNodeLeases dials and lists every page of the leases node holds.
func listNodeLeases(cmd *cobra.Command, f *connFlags, node string) ([]orbit.AddressableLease, error) {
	c, err := f.dial(cmd.Context())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	id := orbit.NodeID{Namespace: f.namespace, Key: node}
	var out []orbit.AddressableLease
	seen := map[string]bool{}
	for token := ""; ; {
		ctx, cancel := f.callCtx(cmd.Context())
		page, err := c.ListNodeLeases(ctx, id, token, 0)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list the leases of node %q: %w", node, err)
		}
		out = append(out, page.Leases...)
		token = page.NextPageToken
		if token == "" {
			return out, nil
		}
		if seen[token] {
			return nil, fmt.Errorf("list the leases of node %q: the server repeated a page token", node)
		}
		seen[token] = true
	}
}

// newLocateCmd is `orbit-server locate TYPE/KEY`: LocateOrPlace.
func newLocateCmd() *cobra.Command {
	f := &connFlags{}
	var kind string
	cmd := &cobra.Command{
		Use:   "locate TYPE/KEY",
		Short: "Find the node hosting an addressable, placing it on a live node of its type if needed",
		Long: `Calls LocateOrPlace for TYPE/KEY: prints its lease and holder node, and
whether this call placed it (PLACED). An addressable without a live lease is
placed on a live active node whose types include TYPE; if there is none the
command fails (exit 1). Use "leases get" to look up without placing.
Connection flags are described in docs/cli.md.`,
		Args: exactlyOneArg("TYPE/KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], kind)
			if err != nil {
				return err
			}
			var lease orbit.AddressableLease
			var placed bool
			err = f.call(cmd.Context(), func(ctx context.Context, c *client.Client) (err error) {
				lease, placed, err = c.LocateOrPlace(ctx, ref)
				return err
			})
			if err != nil {
				if errors.Is(err, orbit.ErrUnavailable) {
					return fmt.Errorf("locate %s: %w (is a node of type %s running? e.g. `orbit-server node run --types %s`)", args[0], err, ref.Type, ref.Type)
				}
				return fmt.Errorf("locate %s: %w", args[0], err)
			}
			if f.output == "json" {
				j := leaseToJSON(lease)
				j.Placed = &placed
				return writeJSON(cmd.OutOrStdout(), j)
			}
			return writeLeasesTable(cmd.OutOrStdout(), []orbit.AddressableLease{lease}, []bool{placed}, time.Now())
		},
	}
	addConnFlags(cmd.Flags(), f)
	addKeyKindFlag(cmd, &kind)
	return cmd
}
