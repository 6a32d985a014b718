package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
)

// checkErr requires err to wrap ErrInvalidArgument and to contain each of
// the wanted lines exactly (one problem per line).
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !errors.Is(err, driver.ErrInvalidArgument) {
		t.Errorf("error does not wrap driver.ErrInvalidArgument: %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if l == w {
				found = true
			}
		}
		if !found {
			t.Errorf("missing line %q in error:\n%v", w, err)
		}
	}
}

func TestStrictDecodingTOML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"top-level typo", "provider = 1\n", []string{`c.toml: unknown key "provider" (did you mean "providers"?)`}},
		{"defaults typo", "[defaults]\nadressable = \"m\"\n", []string{`c.toml: defaults: unknown key "adressable" (did you mean "addressable"?)`}},
		{"provider key typo", "[providers.s3]\ntype = \"S3\"\nbukcet = \"b\"\n",
			[]string{`c.toml: providers.s3: unknown key "bukcet" (did you mean "bucket"?)`}},
		{"camelCase key", "[providers.s3]\ntype = \"S3\"\naccessKeyId = \"b\"\n",
			[]string{`c.toml: providers.s3: unknown key "accessKeyId" (did you mean "access_key_id"?)`}},
		{"unrelated key, no suggestion", "[providers.s3]\ntype = \"S3\"\nzzzzzzzz = 1\n",
			[]string{`c.toml: providers.s3: unknown key "zzzzzzzz"`}},
		{"disk_backup typo (inline table)", "[providers.memory]\ntype = \"Memory\"\ndisk_backup = { pth = \"/x\" }\n",
			[]string{`c.toml: providers.memory.disk_backup: unknown key "pth" (did you mean "path"?)`}},
		{"composite primary typo", "[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\ntype = \"Memory\"\nmax_entrie = 5\n",
			[]string{`c.toml: providers.c.primary: unknown key "max_entrie" (did you mean "max_entries"?)`}},
		{"composite backup disk_backup typo", "[providers.c]\ntype = \"Composite\"\n[providers.c.backup]\ntype = \"Memory\"\n[providers.c.backup.disk_backup]\npath = \"/x\"\ncompresion = \"Gzip\"\n",
			[]string{`c.toml: providers.c.backup.disk_backup: unknown key "compresion" (did you mean "compression"?)`}},
		{"wrong type integer", "[providers.memory]\ntype = \"Memory\"\nmax_entries = \"100\"\n",
			[]string{`c.toml: providers.memory.max_entries: expected integer, got string`}},
		{"float for integer", "[providers.memory]\ntype = \"Memory\"\nmax_entries = 1.5\n",
			[]string{`c.toml: providers.memory.max_entries: expected integer, got float`}},
		{"wrong type bool", "[providers.s3]\ntype = \"S3\"\nenable_ssl = \"yes\"\n",
			[]string{`c.toml: providers.s3.enable_ssl: expected boolean, got string`}},
		{"string for list", "[providers.e]\ntype = \"Etcd\"\nendpoints = \"http://x:1\"\n",
			[]string{`c.toml: providers.e.endpoints: expected array of strings, got string`}},
		{"list element", "[providers.e]\ntype = \"Etcd\"\nendpoints = [\"http://x:1\", 2]\n",
			[]string{`c.toml: providers.e.endpoints[1]: expected string, got integer`}},
		{"scalar for table", "[providers.memory]\ntype = \"Memory\"\ndisk_backup = 5\n",
			[]string{`c.toml: providers.memory.disk_backup: expected table, got integer`}},
		{"datetime", "[providers.s3]\ntype = \"S3\"\nbucket = 2024-01-01\n",
			[]string{`c.toml: providers.s3.bucket: expected string, got datetime`}},
		{"providers not a table", "providers = [1]\n", []string{`c.toml: providers: expected table, got array`}},
		{"array of tables", "[[providers.x]]\ntype = \"S3\"\n", []string{`c.toml: providers.x: expected table, got array of tables`}},
		{"missing type", "[providers.s3]\nbucket = \"b\"\n",
			[]string{`c.toml: providers.s3: missing key "type" (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite)`}},
		{"type not a string", "[providers.s3]\ntype = 3\n", []string{`c.toml: providers.s3.type: expected string, got integer`}},
		{"unknown type", "[providers.s3]\ntype = \"S4\"\n",
			[]string{`c.toml: providers.s3.type: unknown provider type "S4" (did you mean "S3"?) (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite)`}},
		{"missing type in primary", "[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\nmax_entries = 5\n",
			[]string{`c.toml: providers.c.primary: missing key "type" (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite)`}},
		{"nested composite", "[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\ntype = \"Composite\"\n",
			[]string{`c.toml: providers.c.primary.type: a composite may not nest a composite`}},
		{"unknown compression", "[providers.f]\ntype = \"Flash\"\ncompression = \"brotli\"\n",
			[]string{`c.toml: providers.f.compression: unknown compression "brotli" (known: None, Gzip, Lz4, Zstd)`}},
		{"upper-case compression is not accepted", "[providers.f]\ntype = \"Flash\"\ncompression = \"LZ4\"\n",
			[]string{`c.toml: providers.f.compression: unknown compression "LZ4" (known: None, Gzip, Lz4, Zstd)`}},
		{"invalid provider name", "[providers.\"a.b\"]\ntype = \"S3\"\n",
			[]string{`c.toml: providers."a.b": invalid provider name (use letters, digits, '_' and '-')`}},
		{"syntax error", "[providers.s3]\ntype = \"S3\"\nbucket = \n", []string{`c.toml: line 3 (last key "providers.s3.bucket"): invalid TOML: expected value but found '\n' instead`}},
		{"several problems at once", "[providers.s3]\ntype = \"S3\"\nbukcet = \"b\"\nretry_count = \"3\"\n[providers.m]\ntype = \"Memory\"\nmax_entires = 1\n",
			[]string{
				`c.toml: providers.m: unknown key "max_entires" (did you mean "max_entries"?)`,
				`c.toml: providers.s3: unknown key "bukcet" (did you mean "bucket"?)`,
				`c.toml: providers.s3.retry_count: expected integer, got string`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.in), FormatTOML, "c.toml")
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			checkErr(t, err, tc.want...)
		})
	}
}

func TestStrictDecodingJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"top-level typo", `{"provider": {}}`, []string{`c.json: unknown key "provider" (did you mean "providers"?)`}},
		{"defaults typo", `{"defaults": {"clustr": "m"}}`, []string{`c.json: defaults: unknown key "clustr" (did you mean "cluster"?)`}},
		{"provider key typo", `{"providers": {"s3": {"type": "S3", "bukcet": "b"}}}`,
			[]string{`c.json: providers.s3: unknown key "bukcet" (did you mean "bucket"?)`}},
		{"disk_backup typo", `{"providers": {"memory": {"type": "Memory", "disk_backup": {"path": "/x", "sync_intervall": 3}}}}`,
			[]string{`c.json: providers.memory.disk_backup: unknown key "sync_intervall" (did you mean "sync_interval"?)`}},
		{"composite primary typo", `{"providers": {"c": {"type": "Composite", "primary": {"type": "Memory", "max_entrie": 1}}}}`,
			[]string{`c.json: providers.c.primary: unknown key "max_entrie" (did you mean "max_entries"?)`}},
		{"wrong type", `{"providers": {"memory": {"type": "Memory", "max_entries": "100"}}}`,
			[]string{`c.json: providers.memory.max_entries: expected integer, got string`}},
		{"fractional number", `{"providers": {"memory": {"type": "Memory", "max_entries": 100.5}}}`,
			[]string{`c.json: providers.memory.max_entries: expected integer, got float`}},
		{"out of range", `{"providers": {"flash": {"type": "Flash", "cache_size": 99999999999999999999}}}`,
			[]string{`c.json: providers.flash.cache_size: integer out of range`}},
		{"null for integer", `{"providers": {"memory": {"type": "Memory", "max_entries": null}}}`,
			[]string{`c.json: providers.memory.max_entries: expected integer, got null`}},
		{"string for table", `{"providers": {"memory": {"type": "Memory", "disk_backup": "x"}}}`,
			[]string{`c.json: providers.memory.disk_backup: expected object, got string`}},
		{"missing type", `{"providers": {"s3": {"bucket": "b"}}}`,
			[]string{`c.json: providers.s3: missing key "type" (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite)`}},
		{"unknown type", `{"providers": {"x": {"type": "Cassandra"}}}`,
			[]string{`c.json: providers.x.type: unknown provider type "Cassandra" (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite)`}},
		{"duplicate key", `{"providers": {"s3": {"type": "S3", "bucket": "a", "bucket": "b"}}}`,
			[]string{`c.json: providers.s3: duplicate key "bucket"`}},
		{"not an object", `[1]`, []string{`c.json: invalid JSON: the document must be an object`}},
		{"trailing data", "{}\n{}", []string{`c.json: line 2: invalid JSON: unexpected data after the top-level object`}},
		{"syntax error", "{\n\"providers\": {,}}", []string{`c.json: line 2: invalid JSON: invalid character ','`}},
		{"truncated", `{"providers": {`, []string{`c.json: invalid JSON: unexpected end of input`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.in), FormatJSON, "c.json")
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			checkErr(t, err, tc.want...)
		})
	}
}

func TestDecodingAccepts(t *testing.T) {
	// lower-case compression is normalized; an empty list decodes to nil;
	// JSON null leaves a table unset; keys not in the file keep defaults.
	cfg, err := Parse([]byte(`{"providers": {"f": {"type": "Flash", "compression": "zstd", "paths": [], "data_dir": "/d"},
		"m": {"type": "Memory", "disk_backup": null}, "n": {"type": "Memory", "disk_backup": {"path": "/b"}}},
		"defaults": {"addressable": "f", "cluster": "m"}}`), FormatJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Providers["f"].(*FlashConfig)
	if f.Compression != CompressionZstd || f.Paths != nil || f.IODepth != 32 {
		t.Errorf("flash = %v", f)
	}
	if m := cfg.Providers["m"].(*MemoryConfig); m.DiskBackup != nil || m.MaxEntries != 1_000_000 {
		t.Errorf("memory = %v", m)
	}
	want := DiskBackupConfig{Path: "/b", SyncInterval: 300, Compression: CompressionZstd}
	if n := cfg.Providers["n"].(*MemoryConfig); n.DiskBackup == nil || *n.DiskBackup != want {
		t.Errorf("disk_backup = %+v, want defaults for the omitted keys", n.DiskBackup)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	// An empty document is an empty configuration, which Validate rejects.
	for _, f := range []Format{FormatTOML, FormatJSON} {
		in := ""
		if f == FormatJSON {
			in = "{}"
		}
		cfg, err := Parse([]byte(in), f, "e")
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		checkErr(t, cfg.Validate(), `e: providers: at least one provider must be configured`)
	}
}

func TestDefaultsRules(t *testing.T) {
	// A single provider becomes the default for the empty default only.
	cfg, err := Parse([]byte("[defaults]\ncluster = \"x\"\n[providers.m]\ntype = \"Memory\"\n"), FormatTOML, "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Defaults != (Defaults{Addressable: "m", Cluster: "x"}) {
		t.Errorf("defaults = %+v", cfg.Defaults)
	}
	checkErr(t, cfg.Validate(), `c.toml: defaults.cluster: provider "x" is not configured (configured: m)`)

	// With two providers nothing is filled in.
	cfg, err = Parse([]byte("[providers.m]\ntype = \"Memory\"\n[providers.n]\ntype = \"Memory\"\n"), FormatTOML, "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, cfg.Validate(),
		`c.toml: defaults.addressable: must name a provider (configured: m, n)`,
		`c.toml: defaults.cluster: must name a provider (configured: m, n)`)
}

func TestTOMLSyntaxErrorHidesSecret(t *testing.T) {
	for _, key := range []string{"secret_access_key", "password", "account_key", "url"} {
		_, err := Parse([]byte("[providers.x]\ntype = \"S3\"\n"+key+" = s3cr3tvalue\n"), FormatTOML, "c.toml")
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: %v", key, err)
		}
	}
}
