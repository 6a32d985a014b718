package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A migration that ran writes one admin.migrate event to the audit file of
// [server.audit]; a dry run writes none.
func TestMigrateAudited(t *testing.T) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.log")
	cfgPath := filepath.Join(dir, "orbit.toml")
	cfg := `
[defaults]
addressable = "mem"
cluster = "mem"

[providers.mem]
type = "Memory"

[providers.mem2]
type = "Memory"

[server.audit]
sink = "file"
path = "` + auditPath + `"
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "mem2", "--dry-run"); code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(auditPath); len(b) != 0 {
		t.Fatalf("a dry run was audited: %s", b)
	}
	if code, out, errOut := runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "mem2"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var e struct{ Event, Outcome, Identity, From, To string }
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil {
		t.Fatalf("audit file:\n%s", b)
	}
	if e.Event != "admin.migrate" || e.Outcome != "ok" || e.From != "mem" || e.To != "mem2" || !strings.HasPrefix(e.Identity, "local") {
		t.Fatalf("event %+v", e)
	}
}
