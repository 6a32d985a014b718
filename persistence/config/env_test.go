package config

import (
	"reflect"
	"strings"
	"testing"
)

// The spec's five variables.
func TestS3ConfigFromEnv(t *testing.T) {
	t.Setenv("ORBIT_S3_ENDPOINT", "https://s3.amazonaws.com")
	t.Setenv("ORBIT_S3_REGION", "us-west-2")
	t.Setenv("ORBIT_S3_BUCKET", "orbit-data")
	t.Setenv("ORBIT_S3_ACCESS_KEY_ID", "your_access_key")
	t.Setenv("ORBIT_S3_SECRET_ACCESS_KEY", "your_secret_key")
	t.Setenv("ORBIT_S3_BACKUP_BUCKET", "ignored") // not a key of ORBIT_S3
	got, err := S3ConfigFromEnv("ORBIT_S3")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultS3Config()
	want.Endpoint, want.Region, want.Bucket = "https://s3.amazonaws.com", "us-west-2", "orbit-data"
	want.AccessKeyID, want.SecretAccessKey = "your_access_key", "your_secret_key"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// A trailing underscore in the prefix is accepted.
	if got2, err := S3ConfigFromEnv("ORBIT_S3_"); err != nil || !reflect.DeepEqual(got2, want) {
		t.Errorf("prefix with '_': %v, %v", got2, err)
	}
}

func TestS3ConfigFromEnvErrors(t *testing.T) {
	t.Setenv("ORBIT_S3_RETRY_COUNT", "three")
	t.Setenv("ORBIT_S3_ENABLE_SSL", "yes")
	_, err := S3ConfigFromEnv("ORBIT_S3")
	checkErr(t, err,
		`ORBIT_S3_RETRY_COUNT: expected integer, got "three"`,
		`ORBIT_S3_ENABLE_SSL: expected boolean (true, false, 1 or 0), got "yes"`)

	// Validation problems name the variable to set.
	t.Setenv("ORBIT_S3_RETRY_COUNT", "3")
	t.Setenv("ORBIT_S3_ENABLE_SSL", "0")
	t.Setenv("ORBIT_S3_SECRET_ACCESS_KEY", "s3cr3t-value")
	got, err := S3ConfigFromEnv("ORBIT_S3")
	checkErr(t, err, "ORBIT_S3_BUCKET: must not be empty", "ORBIT_S3_ACCESS_KEY_ID: must be set when secret_access_key is set")
	if strings.Contains(err.Error(), "s3cr3t-value") || !reflect.DeepEqual(got, S3Config{}) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestTypedEnvLoaders(t *testing.T) {
	t.Setenv("T_MEMORY_DISK_BACKUP__PATH", "/b")
	t.Setenv("T_MEMORY_DISK_BACKUP__COMPRESSION", "gzip")
	t.Setenv("T_ETCD_ENDPOINTS", " http://a:1 , b:2,, ")
	t.Setenv("T_ETCD_LEASE_TTL", "60")
	t.Setenv("T_FLASH_PATHS", "/a,/b")
	t.Setenv("T_FLASH_ENABLE_MULTIPATHING", "TRUE")
	t.Setenv("T_FLASH_CACHE_SIZE", "1099511627776")
	t.Setenv("T_FLASH_WRITE_QUORUM", "2")
	t.Setenv("T_FLASH_SYNC", "false")
	t.Setenv("T_K8S_IN_CLUSTER", "1")
	t.Setenv("T_REDIS_URL", "rediss://u:pw@h:6380")
	t.Setenv("T_AZURE_CONNECTION_STRING", "UseDevelopmentStorage=true")
	t.Setenv("T_AZURE_CONTAINER_NAME", "c")
	t.Setenv("T_GCP_BUCKET_NAME", "g")
	t.Setenv("T_MINIO_ENDPOINT", "m:9000")
	t.Setenv("T_MINIO_BUCKET_NAME", "mb")

	mem, err := MemoryConfigFromEnv("T_MEMORY")
	if err != nil || mem.DiskBackup == nil || *mem.DiskBackup != (DiskBackupConfig{Path: "/b", SyncInterval: 300, Compression: CompressionGzip}) {
		t.Errorf("memory: %v, %v", mem, err)
	}
	etcd, err := EtcdConfigFromEnv("T_ETCD")
	if err != nil || !reflect.DeepEqual(etcd.Endpoints, []string{"http://a:1", "b:2"}) || etcd.LeaseTTL != 60 {
		t.Errorf("etcd: %v, %v", etcd, err)
	}
	flash, err := FlashConfigFromEnv("T_FLASH")
	if err != nil || !flash.EnableMultipathing || len(flash.Paths) != 2 || flash.CacheSize != 1<<40 || flash.WriteQuorum != 2 || flash.Sync {
		t.Errorf("flash: %v, %v", flash, err)
	}
	k8s, err := KubernetesConfigFromEnv("T_K8S")
	if err != nil || !k8s.InCluster || k8s.Namespace != "orbit" {
		t.Errorf("kubernetes: %v, %v", k8s, err)
	}
	redis, err := RedisConfigFromEnv("T_REDIS")
	if err != nil || redis.URL != "rediss://u:pw@h:6380" {
		t.Errorf("redis: %v", err)
	}
	az, err := AzureConfigFromEnv("T_AZURE")
	if err != nil || az.ContainerName != "c" {
		t.Errorf("azure: %v", err)
	}
	if g, err := GoogleCloudConfigFromEnv("T_GCP"); err != nil || g.BucketName != "g" {
		t.Errorf("gcp: %v, %v", g, err)
	}
	if m, err := MinIOConfigFromEnv("T_MINIO"); err != nil || m.Endpoint != "m:9000" {
		t.Errorf("minio: %v, %v", m, err)
	}
	// Validation errors of nested keys and list items name the variable.
	t.Setenv("T_MEMORY_DISK_BACKUP__SYNC_INTERVAL", "0")
	t.Setenv("T_ETCD_ENDPOINTS", "nohost")
	_, err = MemoryConfigFromEnv("T_MEMORY")
	checkErr(t, err, "T_MEMORY_DISK_BACKUP__SYNC_INTERVAL: must be at least 1 (seconds), got 0")
	_, err = EtcdConfigFromEnv("T_ETCD")
	checkErr(t, err, `T_ETCD_ENDPOINTS: must be an http(s) URL or host:port, got "nohost"`)
}

func TestFromEnv(t *testing.T) {
	c := okComposite()
	env := []string{"P_SYNC_INTERVAL=5", "P_PRIMARY__MAX_ENTRIES=7", "P_BACKUP__BUCKET=x", "P_BACKUP__BUCKET=y", "NOEQUALS", "P_UNKNOWN=1"}
	if err := FromEnv("P", env, c); err != nil {
		t.Fatal(err)
	}
	if c.SyncInterval != 5 || c.Primary.(*MemoryConfig).MaxEntries != 7 || c.Backup.(*S3Config).Bucket != "y" {
		t.Errorf("got %v", c)
	}
	checkErr(t, FromEnv("P", []string{"P_MAX_ENTRIES=-"}, okMemory()), `P_MAX_ENTRIES: expected integer, got "-"`)
	checkErr(t, FromEnv("P", []string{"P_COMPRESSION=brotli"}, okFlash()), `P_COMPRESSION: expected compression (None, Gzip, Lz4 or Zstd), got "brotli"`)
	checkErr(t, FromEnv("P", nil, foreign{}), "FromEnv: unsupported destination config.foreign")
	checkErr(t, FromEnv("P", nil, (*S3Config)(nil)), "FromEnv: unsupported destination *config.S3Config")
}

func loadCombined(t *testing.T) *Config {
	t.Helper()
	cfg, err := Parse([]byte(`
[defaults]
addressable = "s3"
cluster = "etcd"
[providers.s3]
type = "S3"
bucket = "b"
[providers.s3-backup]
type = "S3"
bucket = "bb"
[providers.etcd]
type = "Etcd"
endpoints = ["http://e:2379"]
[providers.composite]
type = "Composite"
[providers.composite.primary]
type = "Memory"
[providers.composite.backup]
type = "S3"
bucket = "cb"
`), FormatTOML, "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestApplyEnv(t *testing.T) {
	cfg := loadCombined(t)
	err := cfg.ApplyEnv([]string{
		"ORBIT_DEFAULTS_CLUSTER=composite",
		"ORBIT_PROVIDER_S3_BUCKET=new",
		"ORBIT_PROVIDER_S3_BACKUP_RETRY_COUNT=9", // provider "s3-backup"
		"ORBIT_PROVIDER_S3_ENABLE_SSL=false",
		"ORBIT_PROVIDER_ETCD_ENDPOINTS=http://a:1,http://b:2",
		"ORBIT_PROVIDER_COMPOSITE_PRIMARY__MAX_ENTRIES=42",
		"ORBIT_PROVIDER_COMPOSITE_PRIMARY__DISK_BACKUP__PATH=/bk",
		"ORBIT_PROVIDER_COMPOSITE_BACKUP__SECRET_ACCESS_KEY=sk",
		"ORBIT_PROVIDER_COMPOSITE_BACKUP__ACCESS_KEY_ID=ak",
		"ORBIT_S3_BUCKET=not-an-override",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Defaults != (Defaults{"s3", "composite"}) {
		t.Errorf("defaults = %+v", cfg.Defaults)
	}
	s3 := cfg.Providers["s3"].(*S3Config)
	if s3.Bucket != "new" || s3.EnableSSL || s3.RetryCount != 3 {
		t.Errorf("s3 = %v", s3)
	}
	if b := cfg.Providers["s3-backup"].(*S3Config); b.RetryCount != 9 || b.Bucket != "bb" {
		t.Errorf("s3-backup = %v", b)
	}
	if e := cfg.Providers["etcd"].(*EtcdConfig); !reflect.DeepEqual(e.Endpoints, []string{"http://a:1", "http://b:2"}) {
		t.Errorf("etcd = %v", e)
	}
	comp := cfg.Providers["composite"].(*CompositeConfig)
	p := comp.Primary.(*MemoryConfig)
	if p.MaxEntries != 42 || p.DiskBackup == nil || *p.DiskBackup != (DiskBackupConfig{Path: "/bk", SyncInterval: 300, Compression: CompressionZstd}) {
		t.Errorf("primary = %v", p)
	}
	if b := comp.Backup.(*S3Config); b.SecretAccessKey != "sk" || b.AccessKeyID != "ak" {
		t.Errorf("backup credentials not applied")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"ORBIT_PROVIDER_S3_BUKCET=x", `ORBIT_PROVIDER_S3_BUKCET: unknown variable: provider "s3" has no key "BUKCET" (did you mean "BUCKET"?)`},
		{"ORBIT_PROVIDER_NOPE_BUCKET=x", `ORBIT_PROVIDER_NOPE_BUCKET: unknown variable: no provider named by it (configured: composite, etcd, s3, s3-backup)`},
		{"ORBIT_PROVIDER_S3_RETRY_COUNT=x", `ORBIT_PROVIDER_S3_RETRY_COUNT: expected integer, got "x"`},
		{"ORBIT_PROVIDER_COMPOSITE_PRIMARY__NOPE=1", `ORBIT_PROVIDER_COMPOSITE_PRIMARY__NOPE: unknown variable: provider "composite" has no key "PRIMARY__NOPE"`},
		{"ORBIT_PROVIDER_COMPOSITE_PRIMARY=1", `ORBIT_PROVIDER_COMPOSITE_PRIMARY: unknown variable: provider "composite" has no key "PRIMARY"`},
		{"ORBIT_PROVIDER_ETCD_TYPE=Redis", `ORBIT_PROVIDER_ETCD_TYPE: unknown variable: provider "etcd" has no key "TYPE"`},
		{"ORBIT_DEFAULTS_ADRESSABLE=s3", `ORBIT_DEFAULTS_ADRESSABLE: unknown variable: only ORBIT_DEFAULTS_ADDRESSABLE and ORBIT_DEFAULTS_CLUSTER exist`},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			cfg := loadCombined(t)
			before := cfg.String()
			err := cfg.ApplyEnv([]string{"ORBIT_PROVIDER_S3_BUCKET=changed", tc.env})
			checkErr(t, err, tc.want)
			if cfg.String() != before {
				t.Errorf("a failed ApplyEnv changed the configuration")
			}
		})
	}

	// Two providers whose names differ only by '-' / '_' are ambiguous.
	cfg := &Config{Providers: map[string]ProviderConfig{"a-b": okS3(), "a_b": okS3()}}
	checkErr(t, cfg.ApplyEnv([]string{"ORBIT_PROVIDER_A_B_BUCKET=x"}), `ORBIT_PROVIDER_A_B_BUCKET: ambiguous: matches providers "a-b" and "a_b"`)

	// A composite child that is not configured cannot be set.
	cfg = &Config{Providers: map[string]ProviderConfig{"c": ptr(DefaultCompositeConfig())}}
	checkErr(t, cfg.ApplyEnv([]string{"ORBIT_PROVIDER_C_PRIMARY__MAX_ENTRIES=1"}), `ORBIT_PROVIDER_C_PRIMARY__MAX_ENTRIES: unknown variable: provider "c" has no key "PRIMARY__MAX_ENTRIES"`)

	var nilCfg *Config
	checkErr(t, nilCfg.ApplyEnv(nil), "ApplyEnv on a nil configuration")
}
