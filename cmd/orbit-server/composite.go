package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/spf13/cobra"
)

func newCompositeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "composite",
		Short: "Show or change the failover state of a Composite provider",
		Long: `A Composite provider records which side serves (primary or backup) in a state
record on its backup. Every server sharing the composite follows that record at
each health check. These commands read or change it without stopping servers;
they need a backup that other processes can reach (not Memory or Flash, which
live inside one server process).`,
	}
	var path, name string
	var timeout time.Duration
	flags := func(c *cobra.Command) {
		c.Flags().StringVar(&path, "config", "", "configuration file (TOML or JSON)")
		c.Flags().StringVar(&name, "provider", "", "name of the Composite provider in the configuration")
		c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the backup")
	}
	status := &cobra.Command{
		Use:   "status --config FILE --provider NAME",
		Short: "Print the state record: the active side, since when, the generation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCompositeBackup(cmd, path, name, timeout, func(ctx context.Context, st driver.Store) error {
				s, err := composite.ReadState(ctx, st)
				if err != nil {
					return err
				}
				printState(cmd.OutOrStdout(), name, s)
				return nil
			})
		},
	}
	failback := &cobra.Command{
		Use:   "failback --config FILE --provider NAME",
		Short: "Ask the servers to fail back to the primary (failback = \"manual\")",
		Long: `Sets "failback requested" in the state record on the backup. At their next health
check, the servers running on the backup synchronise the primary from the backup
once the primary has answered failover_threshold probes in a row, then switch to
it together, two health intervals later. Does nothing when the primary is active.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCompositeBackup(cmd, path, name, timeout, func(ctx context.Context, st driver.Store) error {
				s, err := composite.RequestFailback(ctx, st)
				if err != nil {
					return err
				}
				printState(cmd.OutOrStdout(), name, s)
				if s.Active == composite.Primary {
					fmt.Fprintln(cmd.OutOrStdout(), "the primary is active: nothing to do")
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "failback requested: servers fail back once the primary is healthy")
				}
				return nil
			})
		},
	}
	flags(status)
	flags(failback)
	cmd.AddCommand(status, failback)
	return cmd
}

// withCompositeBackup opens the backup of the named Composite provider and
// runs f on it.
func withCompositeBackup(cmd *cobra.Command, path, name string, timeout time.Duration, f func(context.Context, driver.Store) error) error {
	if path == "" || name == "" {
		return usagef("--config FILE and --provider NAME are required")
	}
	cfg, err := loadConfig(path)
	if err != nil {
		printErrors(cmd.ErrOrStderr(), err)
		return exitError{1}
	}
	pc, ok := cfg.Providers[name]
	if !ok {
		return fmt.Errorf("%s: no provider named %q", path, name)
	}
	cc, ok := pc.(*config.CompositeConfig)
	if !ok {
		return fmt.Errorf("%s: provider %q is of type %s, not Composite", path, name, pc.ProviderType())
	}
	if t := cc.Backup.ProviderType(); t == config.TypeMemory || t == config.TypeFlash {
		return fmt.Errorf("%s: provider %q: its backup is a %s provider, private to each server process: "+
			"its state can only change inside the server (use failback = \"auto\")", path, name, t)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backup, err := persistence.OpenStore(ctx, name+".backup", cc.Backup)
	if err != nil {
		return err
	}
	defer func() { _ = backup.Close(context.Background()) }()
	return f(ctx, backup)
}

func printState(w io.Writer, name string, s composite.State) {
	since := "-"
	if !s.Since.IsZero() {
		since = s.Since.UTC().Format(time.RFC3339)
	}
	by := s.By
	if by == "" {
		by = "-"
	}
	fmt.Fprintf(w, "provider %s: active %s since %s (generation %d, failback requested: %t, written by %s)\n",
		name, s.Active, since, s.Generation, s.FailbackRequested, by)
}
