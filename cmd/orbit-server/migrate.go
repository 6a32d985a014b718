package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/migration"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes of orbit-server migrate.
const (
	migrateOK          = 0 // everything migrated (and verified with --validate)
	migrateError       = 1 // bad configuration, or a provider failed: the migration stopped
	migrateUsage       = 2 // bad flags: nothing was done (exitUsage)
	migrateInterrupted = 3 // interrupted by a signal; the checkpoint is saved
	migrateIncomplete  = 4 // completed, but records failed or validation found mismatches
)

type migrateFlags struct {
	config, from, to, checkpoint, namespace    string
	batchSize                                  int
	validate, dryRun, skipExpired, skipCorrupt bool
	openTimeout                                time.Duration
	progressEvery                              time.Duration
}

func newMigrateCmd() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate --config FILE --from NAME --to NAME",
		Short: "Copy both directories from one configured provider to another",
		Long: `Copies the cluster node directory and the addressable lease directory from
provider --from to provider --to of the configuration, in batches, preserving
every lease exactly (owner, times, fencing epoch). Expired and released lease
records are copied too (they carry the epochs that the next placements
continue), unless --skip-expired. A lease is never written over a newer epoch
on the target, so running the command again, or resuming it, is safe.

After each batch, progress is saved to a checkpoint file (--checkpoint; by
default next to the configuration file). If the command is interrupted
(Ctrl-C, SIGTERM, a crash, a provider failure), run the same command again:
it continues after the last completed batch. The checkpoint is removed when
the copy completes.

A source record that cannot be decoded stops the migration before the batch
that holds it (the error names it; run again once it is repaired or removed),
unless --skip-corrupt, which counts it as failed and goes on.

--validate reads both providers back at the end and compares every record.
--dry-run reads and counts the source and writes nothing.

Do not run servers on the target while migrating, and stop (or freeze) the
servers that use the source for the final pass: see docs/migration.md.

Exit codes:
  0  everything was migrated (and, with --validate, verified)
  1  bad configuration, or a provider failed (the migration stopped; run the
     command again to resume)
  2  usage error: a flag is missing or wrong; nothing was done
  3  interrupted by a signal; the checkpoint is saved (run again to resume)
  4  the migration completed but some records failed or validation found
     mismatches (listed)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			code := runMigrate(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != migrateOK {
				return exitError{code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (TOML or JSON) naming both providers")
	fl.StringVar(&f.from, "from", "", "name of the source provider in the configuration")
	fl.StringVar(&f.to, "to", "", "name of the target provider in the configuration")
	fl.IntVar(&f.batchSize, "batch-size", migration.DefaultBatchSize, "lease records per batch (at most 10000)")
	fl.BoolVar(&f.validate, "validate", false, "read both providers back and compare every record at the end")
	fl.BoolVar(&f.dryRun, "dry-run", false, "read and count the source; write nothing")
	fl.BoolVar(&f.skipExpired, "skip-expired", false, "copy only live leases and nodes (expired records are counted as skipped)")
	fl.BoolVar(&f.skipCorrupt, "skip-corrupt", false, "count source records that cannot be read as failed and go on (default: stop before their batch)")
	fl.StringVar(&f.namespace, "namespace", "", "migrate only this namespace (default: all)")
	fl.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint file (default: .orbit-migrate-FROM-TO.json next to the configuration)")
	fl.DurationVar(&f.openTimeout, "open-timeout", 30*time.Second, "time allowed to open each provider")
	fl.DurationVar(&f.progressEvery, "log-interval", 5*time.Second, "interval of the progress lines when stderr is not a terminal")
	return cmd
}

func runMigrate(parent context.Context, f migrateFlags, stdout, stderr io.Writer) int {
	if f.config == "" || f.from == "" || f.to == "" {
		fmt.Fprintln(stderr, "error: --config FILE, --from NAME and --to NAME are required")
		return migrateUsage
	}
	if f.from == f.to {
		fmt.Fprintln(stderr, "error: --from and --to name the same provider")
		return migrateUsage
	}
	if f.batchSize <= 0 || f.batchSize > persistence.MaxPageSize {
		fmt.Fprintf(stderr, "error: --batch-size %d must be between 1 and %d\n", f.batchSize, persistence.MaxPageSize)
		return migrateUsage
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		printErrors(stderr, err)
		return migrateError
	}
	fromCfg, toCfg := cfg.Providers[f.from], cfg.Providers[f.to]
	for _, c := range []struct {
		name string
		pc   config.ProviderConfig
	}{{f.from, fromCfg}, {f.to, toCfg}} {
		if c.pc == nil {
			fmt.Fprintf(stderr, "error: %s has no provider named %q (providers: %s)\n", f.config, c.name, providerNames(cfg))
			return migrateError
		}
	}
	scrub := newScrubber(fromCfg, toCfg)
	if f.checkpoint == "" {
		f.checkpoint = filepath.Join(filepath.Dir(f.config), ".orbit-migrate-"+f.from+"-"+f.to+".json")
	}

	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
	}()

	quiet := slog.New(slog.DiscardHandler)
	// The source is only read: opened like "check" does, so that a memory
	// provider does not write its backup file on close.
	src, err := openForMigration(ctx, f.from, fromCfg, f.openTimeout, persistence.WithLogger(quiet), persistence.WithCheckOnly())
	if err != nil {
		fmt.Fprintln(stderr, "error: source:", scrub.clean(err.Error()))
		return migrateError
	}
	defer func() { _ = src.Close(context.Background()) }()
	dstOpts := []persistence.Option{persistence.WithLogger(quiet)}
	if f.dryRun {
		dstOpts = append(dstOpts, persistence.WithCheckOnly())
	}
	dst, err := openForMigration(ctx, f.to, toCfg, f.openTimeout, dstOpts...)
	if err != nil {
		fmt.Fprintln(stderr, "error: target:", scrub.clean(err.Error()))
		return migrateError
	}
	dstClosed := false
	closeDst := func() error {
		if dstClosed {
			return nil
		}
		dstClosed = true
		return dst.Close(context.Background())
	}
	defer func() { _ = closeDst() }()

	mode := ""
	if f.dryRun {
		mode = " (dry run: nothing is written)"
	}
	fmt.Fprintf(stderr, "migrating %q (%s) -> %q (%s)%s\n", f.from, src.Type(), f.to, dst.Type(), mode)
	cp := migration.FileCheckpoint{Path: f.checkpoint}
	if !f.dryRun {
		if saved, found, err := cp.Load(ctx); err == nil && found {
			fmt.Fprintf(stderr, "resuming from checkpoint %s: %d batches (%d leases) done, last saved %s\n",
				f.checkpoint, saved.Batches, saved.LeasesMigrated+saved.LeasesSkipped+saved.LeasesFailed, saved.UpdatedAt.Format(time.RFC3339))
		}
		if toCfg.ProviderType() == config.TypeMemory {
			fmt.Fprintln(stderr, "note: the target is a memory provider: its data reaches its backup file only when this command ends; after a crash, delete the checkpoint and start over")
		}
	}
	rep := newReporter(stderr, f.progressEvery)
	res, runErr := migration.Run(ctx, src, dst, migration.Options{
		BatchSize: f.batchSize, Validate: f.validate, DryRun: f.dryRun, SkipExpired: f.skipExpired, SkipCorrupt: f.skipCorrupt,
		Namespace: f.namespace, Progress: rep.update, Checkpoint: cp,
	})
	rep.finish()
	// Close the target now: a memory target writes its backup on close.
	if err := closeDst(); err != nil && runErr == nil && !f.dryRun {
		runErr = fmt.Errorf("close target provider %q: %w", f.to, err)
	}
	printSummary(stdout, f, res, scrub)
	if !f.dryRun {
		auditMigration(cfg, f, res, runErr, scrub.clean, stderr)
	}
	switch {
	case errors.Is(runErr, migration.ErrInterrupted):
		fmt.Fprintf(stderr, "interrupted: %s\ncheckpoint saved to %s; run the same command again to resume\n", scrub.clean(runErr.Error()), f.checkpoint)
		return migrateInterrupted
	case runErr != nil:
		fmt.Fprintln(stderr, "error:", scrub.clean(runErr.Error()))
		if !f.dryRun {
			if _, found, _ := cp.Load(context.Background()); found {
				fmt.Fprintf(stderr, "the migration stopped; completed batches are recorded in %s: fix the cause and run the same command again to resume\n", f.checkpoint)
			}
		}
		return migrateError
	case !res.OK():
		return migrateIncomplete
	}
	return migrateOK
}

func openForMigration(ctx context.Context, name string, pc config.ProviderConfig, timeout time.Duration, opts ...persistence.Option) (persistence.Provider, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return persistence.Open(cctx, name, pc, opts...)
}

func providerNames(cfg *config.Config) string {
	if len(cfg.Providers) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(cfg.Providers)), ", ")
}

func printSummary(w io.Writer, f migrateFlags, res migration.Result, scrub scrubber) {
	verb := "migrated"
	if res.DryRun {
		verb = "to migrate"
	}
	fmt.Fprintf(w, "migration %q -> %q", f.from, f.to)
	if res.Resumed {
		fmt.Fprint(w, " (resumed; counts include earlier runs)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  nodes:      %d %s, %d skipped, %d failed\n", res.NodesMigrated, verb, res.NodesSkipped, res.NodesFailed)
	fmt.Fprintf(w, "  leases:     %d %s, %d skipped, %d failed\n", res.LeasesMigrated, verb, res.LeasesSkipped, res.LeasesFailed)
	if res.LiveOnly {
		fmt.Fprintln(w, "  note:       the source shows only live records; expired ones were not copied")
	}
	for i, fl := range res.Failures {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more failures\n", res.LeasesFailed+res.NodesFailed-20)
			break
		}
		fmt.Fprintf(w, "  failed:     %s %q: %s\n", fl.Directory, fl.Key, scrub.clean(fl.Error))
	}
	switch {
	case res.ValidationRan && res.Validated:
		fmt.Fprintf(w, "  validation: passed (%d leases and %d nodes compared)\n", res.LeasesChecked, res.NodesChecked)
	case res.ValidationRan:
		fmt.Fprintf(w, "  validation: FAILED: %d mismatches (%d leases and %d nodes compared)\n", res.MismatchCount, res.LeasesChecked, res.NodesChecked)
		for i, m := range res.Mismatches {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more mismatches\n", res.MismatchCount-20)
				break
			}
			fmt.Fprintf(w, "  mismatch:   %s\n", scrub.clean(m.String()))
		}
	case f.validate && res.DryRun:
		fmt.Fprintln(w, "  validation: skipped (dry run)")
	case f.validate:
		fmt.Fprintln(w, "  validation: not run (the migration did not complete)")
	}
	rate := ""
	if secs := res.Duration.Seconds(); secs > 0 && res.LeasesMigrated > 0 {
		rate = fmt.Sprintf(" (%.0f leases/s overall)", float64(res.LeasesMigrated+res.LeasesSkipped)/secs)
	}
	fmt.Fprintf(w, "  duration:   %s%s\n", res.Duration.Round(time.Millisecond), rate)
	status := "complete"
	switch {
	case res.DryRun:
		status = "dry run complete: nothing was written"
	case !res.OK():
		status = "INCOMPLETE"
	}
	fmt.Fprintf(w, "  status:     %s\n", status)
}

// reporter shows progress: a progress bar when w is a terminal, else a plain
// line every interval (and at each phase change).
type reporter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	every    time.Duration
	bar      *progressbar.ProgressBar
	phase    migration.Phase
	started  time.Time
	startN   int64
	lastLine time.Time
	last     migration.Progress
	printed  migration.Progress // the last plain line's
}

func newReporter(w io.Writer, every time.Duration) *reporter {
	r := &reporter{w: w, every: every}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = true
	}
	return r
}

func (r *reporter) update(p migration.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if p.Phase != r.phase {
		r.endPhase()
		r.phase, r.started, r.startN, r.lastLine = p.Phase, now, p.Done, now
		if p.Phase == migration.PhaseCount {
			fmt.Fprintln(r.w, "counting the source's lease records...")
			return
		}
		if r.tty && p.Total > 0 {
			r.bar = progressbar.NewOptions64(p.Total,
				progressbar.OptionSetWriter(r.w), progressbar.OptionSetDescription(string(p.Phase)),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rec"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionSetWidth(30))
			_ = r.bar.Set64(p.Done)
		} else if !r.tty {
			r.print(p, now)
		}
		r.last = p
		return
	}
	r.last = p
	if r.bar != nil {
		if p.Total > r.bar.GetMax64() {
			r.bar.ChangeMax64(p.Total)
		}
		_ = r.bar.Set64(p.Done)
		return
	}
	if !r.tty && now.Sub(r.lastLine) >= r.every && p != r.printed {
		r.print(p, now)
	}
}

func (r *reporter) print(p migration.Progress, now time.Time) {
	r.lastLine, r.printed = now, p
	fmt.Fprintf(r.w, "%s: %s\n", p.Phase, r.line(p, now))
}

// line renders "12000/100000 (12.0%), 4500/s, about 17s left".
func (r *reporter) line(p migration.Progress, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", p.Done)
	if p.Total > 0 {
		fmt.Fprintf(&b, "/%d (%.1f%%)", p.Total, 100*float64(p.Done)/float64(p.Total))
	}
	if p.Batches > 0 {
		fmt.Fprintf(&b, ", %d batches", p.Batches)
	}
	el := now.Sub(r.started).Seconds()
	if n := p.Done - r.startN; el > 0 && n > 0 {
		rate := float64(n) / el
		fmt.Fprintf(&b, ", %.0f/s", rate)
		if p.Total > p.Done {
			left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", about %s left", left.Round(time.Second))
		}
	}
	return b.String()
}

func (r *reporter) endPhase() {
	if r.bar != nil {
		_ = r.bar.Finish()
		fmt.Fprintln(r.w)
		r.bar = nil
	} else if !r.tty && r.phase != "" && r.phase != migration.PhaseCount && r.last.Phase == r.phase && r.last != r.printed {
		r.print(r.last, time.Now())
	}
}

func (r *reporter) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endPhase()
	r.phase = ""
}

// scrubber removes the secrets of the providers' configurations (the fields
// that config.Redact hides) from messages printed to the user.
type scrubber struct{ r *strings.Replacer }

func newScrubber(pcs ...config.ProviderConfig) scrubber {
	var pairs []string
	for _, pc := range pcs {
		for _, s := range secretsOf(pc) {
			pairs = append(pairs, s, config.RedactedValue)
		}
	}
	return scrubber{strings.NewReplacer(pairs...)}
}

func (s scrubber) clean(msg string) string { return s.r.Replace(msg) }

// secretsOf returns the values config.Redact replaces in pc: the strings
// that differ between pc and its redacted copy (for a URL, its password).
func secretsOf(pc config.ProviderConfig) []string {
	var a, b any
	ja, err1 := json.Marshal(pc)
	jb, err2 := json.Marshal(config.Redact(pc))
	if err1 != nil || err2 != nil || json.Unmarshal(ja, &a) != nil || json.Unmarshal(jb, &b) != nil {
		return nil
	}
	var out []string
	var walk func(x, y any)
	walk = func(x, y any) {
		switch xv := x.(type) {
		case map[string]any:
			yv, _ := y.(map[string]any)
			for k, v := range xv {
				walk(v, yv[k])
			}
		case []any:
			yv, _ := y.([]any)
			for i, v := range xv {
				if i < len(yv) {
					walk(v, yv[i])
				}
			}
		case string:
			if yv, _ := y.(string); xv != "" && xv != yv {
				if u, err := url.Parse(xv); err == nil && u.User != nil {
					if p, ok := u.User.Password(); ok && p != "" {
						out = append(out, p, url.QueryEscape(p))
						return
					}
				}
				out = append(out, xv)
			}
		}
	}
	walk(a, b)
	return out
}
