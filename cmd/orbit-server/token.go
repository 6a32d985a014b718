package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/spf13/cobra"
)

// newTokenCmd is `orbit-server token`: bearer tokens for [server.auth].
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create bearer tokens and the digests [server.auth] stores instead of them",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "new NAME",
		Short: "Print a new random token and its NAME:sha256:HEX configuration line",
		Long: `Prints a new random bearer token (32 random bytes, base64url) once, to
stdout, and the line to add to [server.auth] tokens or a token file. The token
is not stored anywhere: give it to the caller now. Lines starting with '#' are
comments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTokenName(args[0]); err != nil {
				return err
			}
			tok, err := auth.NewToken()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "# the token, for the caller (shown once, stored nowhere):")
			fmt.Fprintln(out, tok)
			fmt.Fprintln(out, "# the line for [server.auth] tokens or a token file:")
			fmt.Fprintln(out, auth.DigestLine(args[0], tok))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "hash NAME",
		Short: "Read a token on stdin and print its NAME:sha256:HEX configuration line",
		Long: `Reads a bearer token from the first line of stdin (surrounding spaces
trimmed) and prints the line to add to [server.auth] tokens or a token file.
The token itself is never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTokenName(args[0]); err != nil {
				return err
			}
			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 4096), 64<<10)
			var tok string
			if sc.Scan() {
				tok = strings.TrimSpace(sc.Text())
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("token hash: read stdin: %w", err)
			}
			if tok == "" {
				return errors.New("token hash: no token on stdin")
			}
			fmt.Fprintln(cmd.OutOrStdout(), auth.DigestLine(args[0], tok))
			return nil
		},
	})
	return cmd
}

// checkTokenName accepts the names a digest line may carry.
func checkTokenName(name string) error {
	if _, err := config.ParseTokenDigest(name + ":sha256:" + strings.Repeat("0", 64)); err != nil {
		return fmt.Errorf("token name: %w", err)
	}
	return nil
}

// catchHangups starts catching SIGHUP, from the start of serve: a hang-up
// before the server is built (systemctl reload while the providers open)
// must not kill the process, which is SIGHUP's default. The signals are
// buffered until reloadTokensOnHangup serves them.
func catchHangups() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadTokensOnHangup re-reads the token files of [server.auth] on each
// SIGHUP caught on hup, until ctx ends.
func reloadTokensOnHangup(ctx context.Context, hup chan os.Signal, srv *server.Server, log *slog.Logger) {
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.ReloadTokens(); err != nil {
					log.Error("SIGHUP: bearer tokens not reloaded, the previous ones stay in force", "error", err)
				}
			}
		}
	}()
}
