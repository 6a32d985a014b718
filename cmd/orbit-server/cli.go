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
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/spf13/cobra"
)

// exitError carries an exit code; its message has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError is a command line that cannot be run as given (a missing or
// malformed flag or argument): exit code 2, with a pointer to --help.
// cobra's own flag, argument and unknown-command errors count as usage
// errors too; a command's RunE returns usageError for what only it can
// check (a flag required in combination, a malformed argument).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// runtimeError marks an error returned by a command's RunE: the command
// line was valid and running it failed (exit code 1).
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }
func (e runtimeError) Unwrap() error { return e.err }

// Exit codes shared by every command (migrate adds its own above 2).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong: nothing was done
)

// run executes the command line and returns the process exit code: 0 on
// success, 1 when a command failed, 2 for a usage error (see usageError),
// or a command's own exitError code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	markRuntimeErrors(root)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	var ee exitError
	var ue usageError
	var re runtimeError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue) || !errors.As(err, &re):
		// A usageError, or an error of cobra's own parsing.
		fmt.Fprintln(stderr, "orbit-server:", err)
		if cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	default:
		fmt.Fprintln(stderr, "orbit-server:", err)
		return exitFailure
	}
}

// markRuntimeErrors wraps the RunE of every command so that the errors it
// returns are told apart from cobra's usage errors (flags, arguments,
// unknown commands), which never pass through a RunE.
func markRuntimeErrors(c *cobra.Command) {
	if c.RunE != nil {
		inner := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := inner(cmd, args)
			var ue usageError
			var ee exitError
			if err == nil || errors.As(err, &ue) || errors.As(err, &ee) {
				return err
			}
			return runtimeError{err}
		}
	}
	for _, sub := range c.Commands() {
		markRuntimeErrors(sub)
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "orbit-server",
		Short: "Orbit virtual-actor cluster server",
		Long: `orbit-server keeps two directories in the storage provider you configure:
the cluster's nodes (with leases they renew) and the node that hosts each
addressable (actor), as a lease. No addressable is ever active on two nodes.

Exit codes: 0 success, 1 the command failed, 2 usage error (bad flag or
argument; nothing was done). migrate documents two more.`,
		Version:       readBuildInfo().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(readBuildInfo().String())
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(), newConfigCmd(), newCheckCmd(), newVersionCmd(), newCompositeCmd(), newMigrateCmd(), newTokenCmd(), newNodesCmd(), newLeasesCmd(), newLocateCmd(), newNodeCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version, platform and compiled-in providers",
		Long: `Prints what this binary is: the module version (or -ldflags
"-X main.version=..."), the VCS revision and time it was built from (with
"+dirty" when the work tree had changes), the Go version, the platform and the
storage providers compiled in. --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), readBuildInfo().String())
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

// loadConfig loads a file, applies the ORBIT_PROVIDER_*, ORBIT_DEFAULTS_*
// and ORBIT_SERVER_* overrides from the environment and validates.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return withEnv(cfg)
}

// withEnv applies the environment overrides to cfg and validates it.
func withEnv(cfg *config.Config) (*config.Config, error) {
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
		Long: `Prints FILE as serve would use it: after the ORBIT_PROVIDER_*, ORBIT_DEFAULTS_*
and ORBIT_SERVER_* environment overrides, with every [server] setting
(namespace, listeners, timings, logging) at its effective value, defaults
included. Flags of serve are not applied. Secrets are redacted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(args[0])
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			st := defaultSettings()
			st.applyFile(cfg.Server)
			cfg.Server = st.effective(cfg.Server)
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
				return usagef("--config FILE is required")
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
