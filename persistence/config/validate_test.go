package config

import (
	"strings"
	"testing"
)

// Minimal valid configurations of each type.
func okMemory() *MemoryConfig { c := DefaultMemoryConfig(); return &c }
func okS3() *S3Config         { c := DefaultS3Config(); c.Bucket = "b"; return &c }
func okAzure() *AzureConfig {
	c := DefaultAzureConfig()
	c.ContainerName, c.AccountName = "c", "acct"
	return &c
}
func okGCP() *GoogleCloudConfig { c := DefaultGoogleCloudConfig(); c.BucketName = "b"; return &c }
func okEtcd() *EtcdConfig {
	c := DefaultEtcdConfig()
	c.Endpoints = []string{"http://127.0.0.1:2379"}
	return &c
}
func okRedis() *RedisConfig           { c := DefaultRedisConfig(); return &c }
func okKubernetes() *KubernetesConfig { c := DefaultKubernetesConfig(); return &c }
func okMinIO() *MinIOConfig {
	c := DefaultMinIOConfig()
	c.Endpoint, c.BucketName = "localhost:9000", "b"
	return &c
}
func okFlash() *FlashConfig { c := DefaultFlashConfig(); c.DataDir = "/d"; return &c }
func okComposite() *CompositeConfig {
	c := DefaultCompositeConfig()
	c.Primary, c.Backup = okMemory(), okS3()
	return &c
}

func TestProviderValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ProviderConfig
		want []string // nil: valid
	}{
		{"memory ok", okMemory(), nil},
		{"memory unlimited", with(okMemory(), func(c *MemoryConfig) { c.MaxEntries = 0 }), nil},
		{"memory negative", with(okMemory(), func(c *MemoryConfig) { c.MaxEntries = -1 }), []string{"max_entries: must not be negative, got -1"}},
		{"memory disk backup", with(okMemory(), func(c *MemoryConfig) { c.DiskBackup = &DiskBackupConfig{} }), []string{
			"disk_backup.path: must not be empty",
			"disk_backup.sync_interval: must be at least 1 (seconds), got 0",
			`disk_backup.compression: must be one of None, Gzip, Lz4, Zstd, got ""`}},
		{"memory default disk backup needs path", with(okMemory(), func(c *MemoryConfig) { c.DiskBackup = ptr(DefaultDiskBackupConfig()) }),
			[]string{"disk_backup.path: must not be empty"}},

		{"s3 ok", okS3(), nil},
		{"s3 defaults", ptr(DefaultS3Config()), []string{"bucket: must not be empty"}},
		{"s3 host:port endpoint", with(okS3(), func(c *S3Config) { c.Endpoint = "localhost:9000" }), nil},
		{"s3 http endpoint with ssl", with(okS3(), func(c *S3Config) { c.Endpoint = "http://localhost:9000" }),
			[]string{"enable_ssl: is true but the endpoint uses http://; set enable_ssl = false or use https://"}},
		{"s3 bad endpoint", with(okS3(), func(c *S3Config) { c.Endpoint = "ftp://x" }),
			[]string{`endpoint: must be an http:// or https:// URL with a host, got "ftp://x"`}},
		{"s3 half credentials", with(okS3(), func(c *S3Config) { c.SecretAccessKey = "s" }),
			[]string{"access_key_id: must be set when secret_access_key is set"}},
		{"s3 negative", with(okS3(), func(c *S3Config) { c.RetryCount, c.ConnectionTimeout = -1, -2 }),
			[]string{"retry_count: must not be negative, got -1", "connection_timeout: must not be negative, got -2"}},

		{"azure ok (DefaultAzureCredential)", okAzure(), nil},
		{"azure key", with(okAzure(), func(c *AzureConfig) { c.AccountKey = "k" }), nil},
		{"azure connection string", with(okAzure(), func(c *AzureConfig) { c.AccountName, c.ConnectionString = "", "cs" }), nil},
		{"azure no auth", with(okAzure(), func(c *AzureConfig) { c.AccountName = "" }),
			[]string{"account_name: must not be empty unless connection_string is set"}},
		{"azure both", with(okAzure(), func(c *AzureConfig) { c.ConnectionString = "cs" }),
			[]string{"account_name: cannot be combined with connection_string, which already carries it"}},
		{"azure key and sas", with(okAzure(), func(c *AzureConfig) { c.AccountKey, c.SASToken = "k", "t" }),
			[]string{"sas_token: cannot be combined with account_key; choose one"}},
		{"azure container", with(okAzure(), func(c *AzureConfig) { c.ContainerName = "" }), []string{"container_name: must not be empty"}},
		{"azure endpoint", with(okAzure(), func(c *AzureConfig) { c.Endpoint = "127.0.0.1:10000" }),
			[]string{`endpoint: must be an http:// or https:// URL with a host, got "127.0.0.1:10000"`}},

		{"gcp ok", okGCP(), nil},
		{"gcp bucket", ptr(DefaultGoogleCloudConfig()), []string{"bucket_name: must not be empty"}},
		{"gcp endpoint", with(okGCP(), func(c *GoogleCloudConfig) { c.Endpoint = "http://127.0.0.1:4443/storage/v1/" }), nil},

		{"etcd ok", okEtcd(), nil},
		{"etcd host:port", with(okEtcd(), func(c *EtcdConfig) { c.Endpoints = []string{"127.0.0.1:2379", "[::1]:2379"} }), nil},
		{"etcd no endpoints", ptr(DefaultEtcdConfig()), []string{"endpoints: must list at least one endpoint"}},
		{"etcd bad endpoints", with(okEtcd(), func(c *EtcdConfig) { c.Endpoints = []string{"localhost", "unix://x", "h:0"} }), []string{
			`endpoints[0]: must be an http(s) URL or host:port, got "localhost"`,
			`endpoints[1]: must be an http:// or https:// URL with a host, got "unix://x"`,
			`endpoints[2]: must be an http(s) URL or host:port, got "h:0"`}},
		{"etcd credentials not echoed", with(okEtcd(), func(c *EtcdConfig) { c.Endpoints = []string{"ftp://u:pw@h"} }),
			[]string{"endpoints[0]: must be an http:// or https:// URL with a host, got a value with credentials (not shown)"}},
		{"etcd lease ttl", with(okEtcd(), func(c *EtcdConfig) { c.LeaseTTL = 4 }), []string{"lease_ttl: must be at least 5 (seconds), got 4"}},
		{"etcd password alone", with(okEtcd(), func(c *EtcdConfig) { c.Password = "p" }), []string{"password: is set but username is empty"}},
		{"etcd cert without key", with(okEtcd(), func(c *EtcdConfig) { c.ClientCert = "/c" }), []string{"client_key: must be set when client_cert is set"}},

		{"redis ok", okRedis(), nil},
		{"redis rediss and unix", with(okRedis(), func(c *RedisConfig) { c.URL = "unix:///run/redis.sock" }), nil},
		{"redis scheme", with(okRedis(), func(c *RedisConfig) { c.URL = "http://h:1" }), []string{`url: scheme must be redis, rediss or unix, got "http"`}},
		{"redis bad url not echoed", with(okRedis(), func(c *RedisConfig) { c.URL = "redis://u:s3cr3t%zz@h" }), []string{"url: is not a valid URL"}},
		{"redis database", with(okRedis(), func(c *RedisConfig) { c.Database = 16 }), []string{"database: must be between 0 and 15, got 16"}},
		{"redis cluster database", with(okRedis(), func(c *RedisConfig) { c.ClusterMode, c.Database = true, 1 }), []string{"database: must be 0 in cluster mode, got 1"}},
		{"redis empty url", with(okRedis(), func(c *RedisConfig) { c.URL = "" }), []string{"url: must not be empty"}},

		{"kubernetes ok", okKubernetes(), nil},
		{"kubernetes names", with(okKubernetes(), func(c *KubernetesConfig) { c.Namespace, c.ConfigMapName, c.SecretName = "a.b", "", "X" }), []string{
			`namespace: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63), got "a.b"`,
			`config_map_name: must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253), got ""`,
			`secret_name: must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253), got "X"`}},
		{"kubernetes in cluster with kubeconfig", with(okKubernetes(), func(c *KubernetesConfig) { c.InCluster, c.Kubeconfig = true, "/k" }),
			[]string{"kubeconfig: must be empty when in_cluster is true"}},
		{"kubernetes client limits", with(okKubernetes(), func(c *KubernetesConfig) { c.Shards, c.QPS, c.Burst, c.RequestTimeout = -1, -1, -1, -1 }), []string{
			"shards: must be between 1 and 1000 (0 = the default), got -1", "qps: must not be negative, got -1",
			"burst: must not be negative, got -1", "request_timeout: must not be negative, got -1"}},
		{"kubernetes zero limits are the defaults", with(okKubernetes(), func(c *KubernetesConfig) { c.Shards, c.QPS, c.Burst = 0, 0, 0 }), nil},
		{"kubernetes burst below qps and too many shards", with(okKubernetes(), func(c *KubernetesConfig) { c.Shards, c.QPS, c.Burst = 1001, 20, 10 }), []string{
			"shards: must be between 1 and 1000 (0 = the default), got 1001", "burst: must be at least qps (20), got 10"}},
		{"kubernetes long config map name", with(okKubernetes(), func(c *KubernetesConfig) {
			c.ConfigMapName = strings.Repeat("a", 62) + "." + strings.Repeat("b", 62) + "." + strings.Repeat("c", 62) + "." + strings.Repeat("d", 62)
		}), []string{"config_map_name: must be at most 249 characters (the shards append \"-NNN\"), got 251"}},

		{"minio ok", okMinIO(), nil},
		{"minio required", ptr(DefaultMinIOConfig()), []string{"endpoint: must not be empty", "bucket_name: must not be empty"}},
		{"minio https without secure", with(okMinIO(), func(c *MinIOConfig) { c.Endpoint = "https://m:9000" }),
			[]string{"secure: is false but the endpoint uses https://; set secure = true or use http://"}},
		{"minio keys", with(okMinIO(), func(c *MinIOConfig) { c.AccessKey = "a" }), []string{"secret_key: must be set when access_key is set"}},

		{"flash ok", okFlash(), nil},
		{"flash paths only", with(okFlash(), func(c *FlashConfig) { c.DataDir, c.Paths = "", []string{"/p"} }), nil},
		{"flash nothing", ptr(DefaultFlashConfig()), []string{"data_dir: must not be empty when paths is empty"}},
		{"flash numbers", with(okFlash(), func(c *FlashConfig) { c.IODepth, c.BlockSize, c.CacheSize = 0, 3000, -1 }), []string{
			"io_depth: must be between 1 and 1024, got 0",
			"block_size: must be a power of two between 512 and 65536, got 3000",
			"cache_size: must not be negative, got -1"}},
		{"flash block size bounds", with(okFlash(), func(c *FlashConfig) { c.BlockSize, c.IODepth = 131072, 1025 }), []string{
			"block_size: must be a power of two between 512 and 65536, got 131072", "io_depth: must be between 1 and 1024, got 1025"}},
		{"flash multipath", with(okFlash(), func(c *FlashConfig) { c.EnableMultipathing, c.Paths = true, []string{"/a"} }),
			[]string{"enable_multipathing: requires at least 2 paths, got 1"}},
		{"flash paths", with(okFlash(), func(c *FlashConfig) { c.EnableMultipathing, c.Paths = true, []string{"/a", "", "/a"} }),
			[]string{"paths[1]: must not be empty", `paths[2]: duplicate path "/a"`}},
		{"flash compression", with(okFlash(), func(c *FlashConfig) { c.Compression = "lz4" }),
			[]string{`compression: must be one of None, Gzip, Lz4, Zstd, got "lz4"`}},
		{"flash gzip", with(okFlash(), func(c *FlashConfig) { c.Compression = CompressionGzip }),
			[]string{"compression: Gzip is not available for Flash (its storage engine has no gzip codec); use None, Lz4 or Zstd"}},
		{"flash paths without multipathing", with(okFlash(), func(c *FlashConfig) { c.DataDir, c.Paths = "", []string{"/a", "/b"} }),
			[]string{"enable_multipathing: must be true to use 2 paths (without it the store has one path)"}},
		{"flash data_dir and one path", with(okFlash(), func(c *FlashConfig) { c.Paths = []string{"/a"} }),
			[]string{"paths: must be empty when data_dir is set and enable_multipathing is false (the store has one path)"}},
		{"flash multipath with data_dir (the spec's example)", with(okFlash(), func(c *FlashConfig) {
			c.EnableMultipathing, c.Paths, c.WriteQuorum = true, []string{"/a", "/b", "/c"}, 3
		}), nil},
		{"flash write quorum", with(okFlash(), func(c *FlashConfig) {
			c.EnableMultipathing, c.Paths, c.WriteQuorum = true, []string{"/a", "/b", "/c"}, 4
		}),
			[]string{"write_quorum: must be between 0 (a majority) and 3 (the number of paths), got 4"}},
		{"flash write quorum single path", with(okFlash(), func(c *FlashConfig) { c.WriteQuorum = -1 }),
			[]string{"write_quorum: must be between 0 (a majority) and 1 (the number of paths), got -1"}},

		{"composite ok", okComposite(), nil},
		{"composite empty", ptr(DefaultCompositeConfig()), []string{"primary: must be set", "backup: must be set"}},
		{"composite typed nil", with(okComposite(), func(c *CompositeConfig) { c.Backup = (*S3Config)(nil) }), []string{"backup: must be set"}},
		{"composite children", with(okComposite(), func(c *CompositeConfig) {
			c.Primary, c.Backup = &MemoryConfig{DiskBackup: &DiskBackupConfig{SyncInterval: 1, Compression: "Gzip"}}, ptr(DefaultS3Config())
		}), []string{"primary.disk_backup.path: must not be empty", "backup.bucket: must not be empty"}},
		{"composite nested", with(okComposite(), func(c *CompositeConfig) { c.Primary = okComposite() }),
			[]string{"primary: a composite may not nest a composite"}},
		{"composite self cycle", func() ProviderConfig { c := okComposite(); c.Backup = c; return c }(),
			[]string{"backup: a composite may not nest a composite"}},
		{"composite numbers", with(okComposite(), func(c *CompositeConfig) { c.FailoverThreshold, c.SyncInterval, c.HealthCheckInterval = 0, 0, -1 }), []string{
			"sync_interval: must be at least 1, got 0", "health_check_interval: must be at least 1, got -1", "failover_threshold: must be at least 1, got 0"}},
		{"composite modes", with(okComposite(), func(c *CompositeConfig) { c.Mirror, c.Failback = "semi", "never" }), []string{
			`mirror: must be sync or async, got "semi"`, `failback: must be auto or manual, got "never"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			checkErr(t, err, tc.want...)
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
}

func TestValidateNilAndForeign(t *testing.T) {
	var nilS3 *S3Config
	checkErr(t, nilS3.Validate(), "nil S3 configuration")
	var nilCfg *Config
	checkErr(t, nilCfg.Validate(), "nil configuration")

	cfg := &Config{Source: "f", Defaults: Defaults{"a", "a"}, Providers: map[string]ProviderConfig{"a": foreign{}, "b c": okS3(), "n": nilS3}}
	checkErr(t, cfg.Validate(),
		`f: providers.a: unsupported configuration type config.foreign; use the types of package config or register it with config.RegisterType`,
		`f: providers."b c": invalid provider name (use letters, digits, '_' and '-')`,
		`f: providers.n: no configuration`)
}

// Config.Validate prefixes each provider problem with the file and the
// provider; composite problems get the child's name.
func TestConfigValidatePrefixes(t *testing.T) {
	c := okComposite()
	c.Backup = ptr(DefaultS3Config())
	cfg := &Config{Source: "orbit.toml", Defaults: Defaults{"ha", "s3"}, Providers: map[string]ProviderConfig{"ha": c, "s3": ptr(DefaultS3Config())}}
	checkErr(t, cfg.Validate(),
		"orbit.toml: providers.ha.backup.bucket: must not be empty",
		"orbit.toml: providers.s3.bucket: must not be empty")
}

// foreign implements ProviderConfig outside the ten types.
type foreign struct{}

func (foreign) ProviderType() ProviderType { return TypeS3 }
func (foreign) Validate() error            { return nil }

// with applies f to c and returns c.
func with[T any](c *T, f func(*T)) *T { f(c); return c }
