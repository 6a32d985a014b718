package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
)

// specFiles are the spec's examples (testdata/spec_*), each a complete and
// valid configuration, with the provider name each one defines.
var specFiles = []struct {
	file string
	want map[string]ProviderType
}{
	{"spec_memory.toml", map[string]ProviderType{"memory": TypeMemory}},
	{"spec_s3.toml", map[string]ProviderType{"s3": TypeS3}},
	{"spec_azure.toml", map[string]ProviderType{"azure": TypeAzure}},
	{"spec_gcp.toml", map[string]ProviderType{"gcp": TypeGoogleCloud}},
	{"spec_etcd.toml", map[string]ProviderType{"etcd": TypeEtcd}},
	{"spec_redis.toml", map[string]ProviderType{"redis": TypeRedis}},
	{"spec_kubernetes.toml", map[string]ProviderType{"kubernetes": TypeKubernetes}},
	{"spec_minio.toml", map[string]ProviderType{"minio": TypeMinIO}},
	{"spec_flash.toml", map[string]ProviderType{"flash": TypeFlash}},
	{"spec_composite.toml", map[string]ProviderType{"composite": TypeComposite}},
	// completed: an [providers.etcd] table added, see the file's header
	{"spec_combined.toml", map[string]ProviderType{"memory": TypeMemory, "s3": TypeS3, "etcd": TypeEtcd}},
	// completed the same way
	{"spec_example.json", map[string]ProviderType{"memory": TypeMemory, "s3": TypeS3, "etcd": TypeEtcd}},
}

func mustLoad(t *testing.T, file string) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", file))
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return cfg
}

func TestSpecExamplesParseAndValidate(t *testing.T) {
	for _, tc := range specFiles {
		t.Run(tc.file, func(t *testing.T) {
			cfg := mustLoad(t, tc.file)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := len(cfg.Providers); got != len(tc.want) {
				t.Fatalf("got %d providers, want %d", got, len(tc.want))
			}
			for name, typ := range tc.want {
				pc := cfg.Providers[name]
				if pc == nil || pc.ProviderType() != typ {
					t.Errorf("provider %q: got %v, want type %s", name, pc, typ)
				}
			}
			if want := filepath.Join("testdata", tc.file); cfg.Source != want {
				t.Errorf("Source = %q, want %q", cfg.Source, want)
			}
			if len(tc.want) == 1 {
				for name := range tc.want {
					if cfg.Defaults != (Defaults{name, name}) {
						t.Errorf("single provider: defaults = %+v, want %q for both", cfg.Defaults, name)
					}
				}
			}
		})
	}
}

func TestSpecExampleValues(t *testing.T) {
	mem := mustLoad(t, "spec_memory.toml").Providers["memory"].(*MemoryConfig)
	wantMem := &MemoryConfig{MaxEntries: 100000, DiskBackup: &DiskBackupConfig{Path: "/data/orbit-backup.json", SyncInterval: 300, Compression: CompressionGzip}}
	if !reflect.DeepEqual(mem, wantMem) {
		t.Errorf("memory = %#v, want %#v", *mem, *wantMem)
	}

	s3 := mustLoad(t, "spec_s3.toml").Providers["s3"].(*S3Config)
	wantS3 := &S3Config{Endpoint: "https://s3.amazonaws.com", Region: "us-west-2", Bucket: "orbit-data",
		AccessKeyID: "YOUR_ACCESS_KEY", SecretAccessKey: "YOUR_SECRET_KEY", Prefix: "orbit", EnableSSL: true,
		ConnectionTimeout: 30, RetryCount: 3, TombstoneRetention: 600}
	if !reflect.DeepEqual(s3, wantS3) {
		t.Errorf("s3 = %v, want %v (secrets not shown)", s3, wantS3)
	}

	etcd := mustLoad(t, "spec_etcd.toml").Providers["etcd"].(*EtcdConfig)
	if len(etcd.Endpoints) != 3 || etcd.Endpoints[2] != "http://localhost:32379" || etcd.ClientKey != "/path/to/client.key" ||
		etcd.DialTimeout != 5 || etcd.RequestTimeout != 5 || etcd.Password != "secret" {
		t.Errorf("etcd: unexpected values (defaults for dial/request timeouts expected)")
	}

	flash := mustLoad(t, "spec_flash.toml").Providers["flash"].(*FlashConfig)
	wantFlash := &FlashConfig{DataDir: "/nvme/orbit", EnableMultipathing: true, IODepth: 32, BlockSize: 4096,
		CacheSize: 1073741824, Compression: CompressionLz4, Paths: []string{"/nvme0/orbit", "/nvme1/orbit", "/nvme2/orbit"}, Sync: true}
	if !reflect.DeepEqual(flash, wantFlash) {
		t.Errorf("flash = %v, want %v", flash, wantFlash)
	}

	comp := mustLoad(t, "spec_composite.toml").Providers["composite"].(*CompositeConfig)
	if comp.SyncInterval != 60 || comp.HealthCheckInterval != 30 || comp.FailoverThreshold != 3 {
		t.Errorf("composite intervals: %v", comp)
	}
	if p, ok := comp.Primary.(*MemoryConfig); !ok || p.MaxEntries != 50000 || p.DiskBackup != nil {
		t.Errorf("composite primary = %v", comp.Primary)
	}
	b, ok := comp.Backup.(*S3Config)
	// keys the file leaves out come from DefaultS3Config
	if !ok || b.Bucket != "orbit-backup" || b.EnableSSL || b.Prefix != "orbit" || b.ConnectionTimeout != 30 || b.RetryCount != 3 {
		t.Errorf("composite backup = %v", comp.Backup)
	}

	// The JSON example and the TOML example describe the same configuration.
	tc, jc := mustLoad(t, "spec_combined.toml"), mustLoad(t, "spec_example.json")
	tc.Source, jc.Source = "", ""
	if !reflect.DeepEqual(tc, jc) {
		t.Errorf("TOML and JSON examples differ:\n%s\n%s", tc, jc)
	}
}

// The verbatim combined examples parse; their only problem is the default
// cluster provider "etcd", which they do not define.
func TestSpecVerbatimCombinedExamples(t *testing.T) {
	for _, file := range []string{"spec_combined_verbatim.toml", "spec_example_verbatim.json"} {
		cfg := mustLoad(t, file)
		err := cfg.Validate()
		if err == nil {
			t.Fatalf("%s: Validate succeeded, want the undefined etcd default reported", file)
		}
		want := filepath.Join("testdata", file) + `: defaults.cluster: provider "etcd" is not configured (configured: memory, s3)`
		if err.Error() != want {
			t.Errorf("%s: got %q, want %q", file, err, want)
		}
		if !errors.Is(err, driver.ErrInvalidArgument) {
			t.Errorf("%s: error does not wrap ErrInvalidArgument", file)
		}
	}
}

// Parse(MarshalJSON(cfg)) and Parse(String()) reproduce cfg.Redacted().
func TestRoundTrip(t *testing.T) {
	for _, tc := range specFiles {
		t.Run(tc.file, func(t *testing.T) {
			cfg := mustLoad(t, tc.file)
			want := cfg.Redacted()
			want.Source = "rt"

			data, err := cfg.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data, FormatJSON, "rt")
			if err != nil {
				t.Fatalf("Parse(MarshalJSON): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("JSON round trip differs:\n got %s\nwant %s", got, want)
			}

			got, err = Parse([]byte(cfg.String()), FormatTOML, "rt")
			if err != nil {
				t.Fatalf("Parse(String()): %v\n%s", err, cfg)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("TOML round trip differs:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// A configuration without secrets survives MarshalJSON/Parse unchanged,
// including non-default values of every kind and composite children.
func TestRoundTripWithoutSecrets(t *testing.T) {
	s3 := DefaultS3Config()
	s3.Bucket, s3.Endpoint, s3.EnableSSL = "b", "http://localhost:9000", false
	mem := DefaultMemoryConfig()
	mem.MaxEntries = 0
	mem.DiskBackup = &DiskBackupConfig{Path: `C:\backup "x".json`, SyncInterval: 7, Compression: CompressionNone}
	cfg, err := NewBuilder().
		WithComposite("ha", CompositeConfig{SyncInterval: 1, HealthCheckInterval: 2, FailoverThreshold: 4, Primary: &mem, Backup: &s3}, true).
		WithFlash("nvme-1", FlashConfig{DataDir: "/d", IODepth: 1, BlockSize: 65536, CacheSize: 1 << 40, Compression: CompressionZstd, Paths: []string{"/a", "/b"}, EnableMultipathing: true}, false).
		WithKubernetes("k8s", KubernetesConfig{Namespace: "ns", ConfigMapName: "cm.x", InCluster: true}, false).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Redacted(), cfg) {
		t.Fatal("Redacted changed a configuration without secrets")
	}
	data, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, FormatJSON, "")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("round trip differs:\n got %s\nwant %s", got, cfg)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate after round trip: %v", err)
	}
}

func TestMarshalJSONShape(t *testing.T) {
	cfg := mustLoad(t, "spec_memory.toml")
	data, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"defaults":{"addressable":"memory","cluster":"memory"},"providers":{"memory":{"type":"Memory","max_entries":100000,"disk_backup":{"path":"/data/orbit-backup.json","sync_interval":300,"compression":"Gzip"}}}}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("c.TOML", "[providers.m]\ntype = \"Memory\"\n")
	if cfg, err := Load(p); err != nil || cfg.Providers["m"] == nil {
		t.Errorf("Load(.TOML): %v", err)
	}
	p = write("c.yaml", "x: 1")
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), p+": unsupported file extension") || !errors.Is(err, driver.ErrInvalidArgument) {
		t.Errorf("Load(.yaml): %v", err)
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing): %v", err)
	}
	p = write("bad.json", `{"providers": {"m": {"type": "Memory", "max_entries": "many"}}}`)
	if _, err := Load(p); err == nil || err.Error() != p+`: providers.m.max_entries: expected integer, got string` {
		t.Errorf("Load(bad.json): %v", err)
	}
	if _, err := Parse(nil, Format(9), "x"); err == nil || !errors.Is(err, driver.ErrInvalidArgument) {
		t.Errorf("Parse(unknown format): %v", err)
	}
}

func TestProviderConfigFor(t *testing.T) {
	want := []ProviderType{TypeMemory, TypeS3, TypeAzure, TypeGoogleCloud, TypeEtcd,
		TypeRedis, TypeKubernetes, TypeMinIO, TypeFlash, TypeComposite}
	if got := Types(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Types() = %v, want the ten built-in types in the order of the specification", got)
	}
	defaults := []ProviderConfig{ptr(DefaultMemoryConfig()), ptr(DefaultS3Config()), ptr(DefaultAzureConfig()),
		ptr(DefaultGoogleCloudConfig()), ptr(DefaultEtcdConfig()), ptr(DefaultRedisConfig()),
		ptr(DefaultKubernetesConfig()), ptr(DefaultMinIOConfig()), ptr(DefaultFlashConfig()), ptr(DefaultCompositeConfig())}
	for i, typ := range Types() {
		pc, err := ProviderConfigFor(typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if pc.ProviderType() != typ || !reflect.DeepEqual(pc, defaults[i]) {
			t.Errorf("ProviderConfigFor(%s) = %v, want %v", typ, pc, defaults[i])
		}
	}
	_, err := ProviderConfigFor("s3")
	if err == nil || !errors.Is(err, driver.ErrInvalidArgument) {
		t.Fatalf("unknown type: %v", err)
	}
	for _, typ := range Types() {
		if !strings.Contains(err.Error(), string(typ)) {
			t.Errorf("error %q does not list %s", err, typ)
		}
	}
	if !strings.Contains(err.Error(), `did you mean "S3"?`) {
		t.Errorf("error %q has no suggestion", err)
	}
}

// The toml and json tags agree, every secret is a string (or a list of
// URLs whose userinfo is secret), and every key is snake_case, for all ten types.
func TestStructTags(t *testing.T) {
	for _, typ := range registeredGoTypes() {
		st := typ.Elem()
		for i := range st.NumField() {
			f := st.Field(i)
			if f.Tag.Get("toml") != f.Tag.Get("json") || f.Tag.Get("toml") == "" {
				t.Errorf("%s.%s: toml tag %q, json tag %q", st.Name(), f.Name, f.Tag.Get("toml"), f.Tag.Get("json"))
			}
			isURLs := f.Tag.Get("secret") == "userinfo" && f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String
			if s := f.Tag.Get("secret"); s != "" && f.Type.Kind() != reflect.String && !isURLs {
				t.Errorf("%s.%s: secret field is not a string", st.Name(), f.Name)
			}
			if k := f.Tag.Get("toml"); strings.ToLower(k) != k {
				t.Errorf("%s.%s: key %q is not snake_case", st.Name(), f.Name, k)
			}
		}
		if len(fieldsOf(st)) != st.NumField() {
			t.Errorf("%s: some fields are not configuration keys", st.Name())
		}
	}
}

func ptr[T any](v T) *T { return &v }
