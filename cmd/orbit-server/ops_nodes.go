package main

import (
	"context"
	"fmt"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/spf13/cobra"
)

// newNodesCmd is `orbit-server nodes list|get`: the live nodes of a
// namespace, read from a running server (role reader with auth on).
func newNodesCmd() *cobra.Command {
	f := &connFlags{}
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List or show the live nodes of a running server's namespace",
		Long: `Reads the node directory of a running server (ListNodes): the nodes whose
lease is live, in key order. Challenge tokens are never listed.
Connection flags are described in docs/cli.md.`,
	}
	addConnFlags(cmd.PersistentFlags(), f)
	var activeOnly bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the live nodes (key, status, URL, types, lease)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := listNodes(cmd, f, activeOnly)
			if err != nil {
				return err
			}
			if f.output == "json" {
				out := make([]nodeJSON, len(nodes))
				for i, n := range nodes {
					out[i] = nodeToJSON(n)
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return writeNodesTable(cmd.OutOrStdout(), nodes, time.Now())
		},
	}
	list.Flags().BoolVar(&activeOnly, "active-only", false, "only nodes with status active (those placements choose from)")
	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Show one live node by key; exit 1 if no live node has it",
		Args:  exactlyOneArg("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			if err := orbit.ValidateIdentifier("key", key, orbit.MaxKeyLen); err != nil {
				return usageError{fmt.Errorf("argument KEY %q: %w", key, err)}
			}
			nodes, err := listNodes(cmd, f, false)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n.ID.Key != key {
					continue
				}
				if f.output == "json" {
					return writeJSON(cmd.OutOrStdout(), nodeToJSON(n))
				}
				return writeNodesTable(cmd.OutOrStdout(), []orbit.NodeInfo{n}, time.Now())
			}
			return fmt.Errorf("node %q: no live node has this key in namespace %s", key, namespaceName(f.namespace))
		},
	}
	cmd.AddCommand(list, get)
	return cmd
}

// listNodes dials and lists every live node of the namespace.
func listNodes(cmd *cobra.Command, f *connFlags, activeOnly bool) ([]orbit.NodeInfo, error) {
	var nodes []orbit.NodeInfo
	err := f.call(cmd.Context(), func(ctx context.Context, c *client.Client) (err error) {
		nodes, err = c.ListNodes(ctx, activeOnly)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes of namespace %s: %w", namespaceName(f.namespace), err)
	}
	return nodes, nil
}

// namespaceName renders --namespace for messages.
func namespaceName(ns string) string {
	if ns == "" {
		return "(the server's default)"
	}
	return fmt.Sprintf("%q", ns)
}
