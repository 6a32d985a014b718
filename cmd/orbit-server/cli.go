package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/spf13/cobra"

	// The storage providers compiled into this binary.
	_ "github.com/orbit-go/orbit/persistence/azure"
	_ "github.com/orbit-go/orbit/persistence/composite"
	_ "github.com/orbit-go/orbit/persistence/etcd"
	_ "github.com/orbit-go/orbit/persistence/flash"
	_ "github.com/orbit-go/orbit/persistence/gcs"
	_ "github.com/orbit-go/orbit/persistence/kubernetes"
	_ "github.com/orbit-go/orbit/persistence/memory"
	_ "github.com/orbit-go/orbit/persistence/redis"
	_ "github.com/orbit-go/orbit/persistence/s3"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// exitError carries an exit code; its message has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "orbit-server:", err)
		return 1
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "orbit-server",
		Short: "Orbit virtual-actor cluster server",
		Long: `orbit-server keeps two directories in the storage provider you configure:
the cluster's nodes (with leases they renew) and the node that hosts each
addressable (actor), as a lease. No addressable is ever active on two nodes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(), newConfigCmd(), newCheckCmd(), newVersionCmd(), newCompositeCmd(), newMigrateCmd(), newTokenCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the storage providers compiled into this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "orbit-server %s\nproviders: %s\n", buildVersion(), typeNames(persistence.RegisteredTypes()))
			return nil
		},
	}
}

func typeNames(ts []config.ProviderType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// loadConfig loads a file, applies ORBIT_PROVIDER_*/ORBIT_DEFAULTS_*
// overrides from the environment and validates.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.ApplyEnv(os.Environ()); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate or print configuration files (offline: nothing is contacted)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Parse and validate a TOML or JSON configuration file",
		Long: `Parses FILE strictly (an unknown key, a wrong type or a missing value is an
error naming the file, the provider and the key), applies ORBIT_PROVIDER_* and
ORBIT_DEFAULTS_* environment overrides, and validates every provider. Nothing
is contacted. Exits 1 with the messages if the configuration is not valid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(args[0])
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			names := make([]string, 0, len(cfg.Providers))
			for n, p := range cfg.Providers {
				names = append(names, fmt.Sprintf("%s (%s)", n, p.ProviderType()))
			}
			sort.Strings(names)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n  providers: %s\n  defaults: addressable=%s cluster=%s\n",
				args[0], strings.Join(names, ", "), cfg.Defaults.Addressable, cfg.Defaults.Cluster)
			return nil
		},
	}, &cobra.Command{
		Use:   "show FILE",
		Short: "Print a configuration file after overrides and defaults, secrets redacted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(args[0])
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), cfg.String())
			return nil
		},
	})
	return cmd
}

// printErrors prints one line per joined error.
func printErrors(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintln(w, "error:", line)
		}
	}
}

func newCheckCmd() *cobra.Command {
	var path string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Open every configured provider, run its health check and print a table",
		Long: `Opens every provider of the configuration, runs its health check and prints
one row per provider: name, type, health, the reason when not healthy, and the
capabilities of its backend. Exits 1 if any provider fails to open or is
unhealthy, 0 otherwise (degraded providers are reported but not fatal).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config FILE is required")
			}
			cfg, err := loadConfig(path)
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ok := checkProviders(ctx, cfg, timeout, cmd.OutOrStdout())
			if !ok {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (TOML or JSON)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time allowed to open and check each provider")
	return cmd
}

// checkProviders prints the health table and reports whether all are usable.
func checkProviders(ctx context.Context, cfg *config.Config, timeout time.Duration, out io.Writer) bool {
	names := slices.Sorted(maps.Keys(cfg.Providers))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tTYPE\tHEALTH\tTOOK\tCAPABILITIES\tDETAIL")
	allOK := true
	quiet := slog.New(slog.DiscardHandler)
	for _, name := range names {
		pc := cfg.Providers[name]
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		p, err := persistence.Open(cctx, name, pc, persistence.WithLogger(quiet), persistence.WithCheckOnly())
		if err != nil {
			cancel()
			allOK = false
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, pc.ProviderType(), "Unavailable", time.Since(start).Round(time.Millisecond), "-", oneLine(err.Error()))
			continue
		}
		h := p.HealthCheck(cctx)
		took := time.Since(start).Round(time.Millisecond)
		if h.Status == persistence.Unhealthy {
			allOK = false
		}
		caps := p.Capabilities().String()
		if caps == "" {
			caps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, pc.ProviderType(), h.Status, took, caps, oneLine(h.Reason))
		_ = p.Close(cctx)
		cancel()
	}
	_ = tw.Flush()
	return allOK
}

func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "\n", "; ")
}
