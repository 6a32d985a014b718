package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// Every configuration example of the specification validates.
func TestConfigValidateAcceptsSpecExamples(t *testing.T) {
	files, err := filepath.Glob("../../persistence/config/testdata/spec_*")
	if err != nil || len(files) < 11 {
		t.Fatalf("spec example files: %v, %v", files, err)
	}
	for _, f := range files {
		if strings.Contains(f, "verbatim") {
			continue // the spec's combined example names an undefined "etcd" default
		}
		code, out, errOut := runCLI(t, "config", "validate", f)
		if code != 0 || !strings.Contains(out, "valid") {
			t.Errorf("config validate %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func TestConfigValidateRejectsMisspelledKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	writeFile(t, path, "[providers.s3]\ntype = \"S3\"\nbukcet = \"orbit-data\"\n")
	code, _, errOut := runCLI(t, "config", "validate", path)
	if code != 1 || !strings.Contains(errOut, `"bukcet"`) || !strings.Contains(errOut, path) || !strings.Contains(errOut, "providers.s3") {
		t.Fatalf("exit %d, stderr %q: want exit 1 naming the file, provider and key", code, errOut)
	}
	code, _, errOut = runCLI(t, "config", "validate", filepath.Join(t.TempDir(), "missing.toml"))
	if code != 1 || !strings.Contains(errOut, "missing.toml") {
		t.Fatalf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s3.toml")
	writeFile(t, path, "[providers.s3]\ntype = \"S3\"\nbucket = \"b\"\naccess_key_id = \"AKIA\"\nsecret_access_key = \"s3cr3t-value\"\n")
	code, out, errOut := runCLI(t, "config", "show", path)
	if code != 0 || strings.Contains(out+errOut, "s3cr3t-value") || !strings.Contains(out, "REDACTED") {
		t.Fatalf("config show: exit %d, output %q", code, out+errOut)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	backup := filepath.Join(dir, "data", "backup.orbit")
	writeFile(t, path, `
[defaults]
addressable = "mem"
cluster = "mem"

[providers.mem]
type = "Memory"
disk_backup = { path = "`+backup+`" }
`)
	code, out, errOut := runCLI(t, "check", "--config", path)
	if code != 0 || !strings.Contains(out, "mem") || !strings.Contains(out, "Healthy") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(backup); !os.IsNotExist(err) {
		t.Fatalf("check wrote the memory provider's backup (%v); it must only inspect", err)
	}
	// An unknown provider type is reported with the known ones, and fails the check.
	writeFile(t, path, "[providers.s]\ntype = \"Cassandra\"\n")
	code, out, errOut = runCLI(t, "check", "--config", path)
	if code == 0 || !strings.Contains(out+errOut, `unknown provider type "Cassandra"`) || !strings.Contains(out+errOut, "Kubernetes") {
		t.Fatalf("check of an unknown type: exit %d\n%s%s", code, out, errOut)
	}
	// An unreachable backend is reported as such, and fails the check.
	writeFile(t, path, "[providers.r]\ntype = \"Redis\"\nurl = \"redis://127.0.0.1:1\"\ndial_timeout = 1\n")
	code, out, _ = runCLI(t, "check", "--config", path)
	if code != 1 || !strings.Contains(out, "unavailable") || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("check of an unreachable redis: exit %d\n%s", code, out)
	}
	writeFile(t, path, "[providers.s]\ntype = \"S3\"\nendpoint = \"http://127.0.0.1:1\"\nenable_ssl = false\nbucket = \"orbit-data\"\n"+
		"access_key_id = \"AK\"\nsecret_access_key = \"sk-Secret-8\"\nconnection_timeout = 1\nretry_count = 0\n")
	code, out, _ = runCLI(t, "check", "--config", path)
	if code != 1 || !strings.Contains(out, "unavailable") || !strings.Contains(out, "127.0.0.1:1") ||
		!strings.Contains(out, "orbit-data") || strings.Contains(out, "sk-Secret-8") {
		t.Fatalf("check of an unreachable S3 endpoint: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "check"); code != 2 || !strings.Contains(errOut, "--config") {
		t.Fatalf("check without --config: exit %d, %q", code, errOut)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
