package main

import (
	"context"
	"fmt"
	"io"
	"os/user"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/migration"
	"github.com/orbit-go/orbit/server/audit"
)

// auditMigration writes the admin.migrate event of a migration that ran
// (not a dry run) to the audit log of cfg's [server.audit]: the command's
// stderr for the stderr sink, the (rotated) file for the file sink. The
// identity is the local user who ran the command ("local:NAME"). A sink
// that cannot be opened is reported on stderr; the migration's exit code
// does not change. clean takes credentials out of the error's text.
func auditMigration(cfg *config.Config, f migrateFlags, res migration.Result, runErr error, clean func(string) string, stderr io.Writer) {
	var log *audit.Log
	switch cfg.Server.Audit.SinkOrDefault() {
	case config.AuditSinkOff:
		return
	case config.AuditSinkStderr:
		log = audit.New(stderr)
	default:
		l, err := audit.Open(cfg.Server.Audit)
		if err != nil {
			fmt.Fprintln(stderr, "warning: audit log:", err)
			return
		}
		log = l
	}
	who := "local"
	if u, err := user.Current(); err == nil {
		who = "local:" + u.Username
	}
	e := audit.Event{Kind: audit.Migration, Identity: who, Namespace: f.namespace, From: f.from, To: f.to,
		Count: res.LeasesMigrated + res.NodesMigrated}.WithError(runErr)
	if runErr == nil && !res.OK() {
		e.Outcome, e.Reason = audit.Failed, fmt.Sprintf("%d leases and %d nodes failed", res.LeasesFailed, res.NodesFailed)
	}
	e.Reason = clean(e.Reason)
	log.Record(context.Background(), e)
	if err := log.Close(); err != nil {
		fmt.Fprintln(stderr, "warning: audit log:", err)
	}
}
