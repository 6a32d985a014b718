// Package config defines the typed configuration of Orbit's persistence
// providers and loads it from TOML, JSON, environment variables or a Builder.
//
// It holds the configuration types of the ten built-in provider types
// (MemoryConfig ... CompositeConfig) and an open registry: a provider
// written out of tree registers its own configuration type with
// RegisterType (from init, next to persistence.RegisterDriver), and from
// then on everything this package does (strict decoding, ApplyEnv and
// FromEnv, Builder, Validate, redaction, rendering) works for that type
// through the same code as for the built-in ones. Types lists the
// registered types. See "Providers written out of tree" in
// docs/configuration.md.
//
// A configuration file has the shape of the product specification:
//
//	[defaults]
//	addressable = "s3"
//	cluster = "etcd"
//
//	[providers.s3]
//	type = "S3"
//	bucket = "orbit-data"
//
// Decoding is strict: every provider starts from its DefaultXxxConfig value,
// the file overrides the keys it sets, and an unknown key, a value of the
// wrong type, a missing or unknown "type" is an error naming the file, the
// provider and the key. Decoding (Load, Parse) does not run the semantic
// checks; the intended sequence is
//
//	cfg, err := config.Load(path)      // strict decoding
//	err = cfg.ApplyEnv(os.Environ())   // optional ORBIT_PROVIDER_* overrides
//	err = cfg.Validate()               // semantic checks, before use
//
// Builder.Build validates on its own.
//
// Every error returned by this package for bad input wraps
// driver.ErrInvalidArgument (Load's I/O errors are returned as they are);
// problems are collected and joined with errors.Join, one per line. No error,
// String, Format or JSON rendering ever contains the value of a secret field
// (a field tagged secret:"true", or the password in the userinfo of the Redis
// URL, tagged secret:"userinfo").
package config

// ProviderType names a kind of storage provider; it is the value of the
// "type" key of a provider table.
type ProviderType string

// The ten built-in provider types, spelled as in configuration files.
const (
	TypeMemory      ProviderType = "Memory"
	TypeS3          ProviderType = "S3"
	TypeAzure       ProviderType = "Azure"
	TypeGoogleCloud ProviderType = "GoogleCloud"
	TypeEtcd        ProviderType = "Etcd"
	TypeRedis       ProviderType = "Redis"
	TypeKubernetes  ProviderType = "Kubernetes"
	TypeMinIO       ProviderType = "MinIO"
	TypeFlash       ProviderType = "Flash"
	TypeComposite   ProviderType = "Composite"
)

// ProviderConfig is the configuration of one provider. It is implemented by
// the ten *XxxConfig types of this package and by the configuration types
// registered with RegisterType (pointers to structs, pointer receivers).
// The rest of the package (decoding, environment, redaction, rendering,
// Builder, Config.Validate) supports exactly the registered types: another
// implementation is rendered as its type only, and Config.Validate rejects
// it.
type ProviderConfig interface {
	// ProviderType reports the provider type; it is safe on a nil pointer.
	ProviderType() ProviderType
	// Validate checks the configuration on its own. Each problem is an
	// error wrapping driver.ErrInvalidArgument whose text starts with the
	// key it concerns, e.g. `bucket: must not be empty` (KeyError builds
	// one); several problems are joined with errors.Join. The caller adds
	// file and provider name.
	Validate() error
}

// Compression is a compression algorithm for backups and flash storage.
// Decoding accepts the exact spellings below and their lower-case forms and
// stores the spellings below.
type Compression string

// The four compression algorithms.
const (
	CompressionNone Compression = "None"
	CompressionGzip Compression = "Gzip"
	CompressionLz4  Compression = "Lz4"
	CompressionZstd Compression = "Zstd"
)

// RedactedValue replaces the value of a secret in redacted copies and in
// every rendering of a configuration.
const RedactedValue = "REDACTED"

// MemoryConfig configures the in-memory provider.
type MemoryConfig struct {
	// MaxEntries bounds the number of stored entries; 0 means unlimited.
	MaxEntries int `toml:"max_entries" json:"max_entries"`
	// DiskBackup enables periodic backup to a file when non-nil.
	DiskBackup *DiskBackupConfig `toml:"disk_backup" json:"disk_backup"`
}

// DiskBackupConfig configures the memory provider's disk backup. A
// disk_backup table in a file starts from DefaultDiskBackupConfig.
type DiskBackupConfig struct {
	// Path of the backup file; required.
	Path string `toml:"path" json:"path"`
	// SyncInterval between backups, in seconds; at least 1.
	SyncInterval int `toml:"sync_interval" json:"sync_interval"`
	// Compression of the backup file.
	Compression Compression `toml:"compression" json:"compression"`
}

// S3Config configures the S3-compatible object storage provider. Timeouts are
// in seconds.
type S3Config struct {
	// Endpoint is a URL (http/https) or host[:port]; empty means AWS.
	Endpoint string `toml:"endpoint" json:"endpoint" secret:"userinfo"`
	Region   string `toml:"region" json:"region"`
	// Bucket is required.
	Bucket string `toml:"bucket" json:"bucket"`
	// AccessKeyID and SecretAccessKey are set together, or both left empty
	// to use the ambient credentials (IAM role, shared config).
	AccessKeyID     string `toml:"access_key_id" json:"access_key_id"`
	SecretAccessKey string `toml:"secret_access_key" json:"secret_access_key" secret:"true"`
	// Prefix is prepended to every object key.
	Prefix string `toml:"prefix" json:"prefix"`
	// EnableSSL selects https; it must agree with an explicit endpoint scheme.
	EnableSSL         bool `toml:"enable_ssl" json:"enable_ssl"`
	ConnectionTimeout int  `toml:"connection_timeout" json:"connection_timeout"`
	RetryCount        int  `toml:"retry_count" json:"retry_count"`
	// ServerSideEncryption is "" (the bucket's default), "AES256" (SSE-S3)
	// or "aws:kms" (SSE-KMS, with SSEKMSKeyID or the account's default key).
	ServerSideEncryption string `toml:"server_side_encryption" json:"server_side_encryption"`
	SSEKMSKeyID          string `toml:"sse_kms_key_id" json:"sse_kms_key_id"`
	// VirtualHostedStyle addresses a custom endpoint as bucket.host instead
	// of host/bucket (path style, what most S3-compatible servers need).
	VirtualHostedStyle bool `toml:"virtual_hosted_style" json:"virtual_hosted_style"`
	// TombstoneRetention is how long the last object of a deleted record is
	// kept before its storage is reclaimed, in seconds.
	TombstoneRetention int `toml:"tombstone_retention" json:"tombstone_retention"`
}

// AzureConfig configures the Azure Blob Storage provider. Authentication is
// either ConnectionString alone, or AccountName with AccountKey, SASToken or
// neither (DefaultAzureCredential).
type AzureConfig struct {
	AccountName       string `toml:"account_name" json:"account_name"`
	AccountKey        string `toml:"account_key" json:"account_key" secret:"true"`
	ContainerName     string `toml:"container_name" json:"container_name"`
	Prefix            string `toml:"prefix" json:"prefix"`
	ConnectionTimeout int    `toml:"connection_timeout" json:"connection_timeout"`
	RetryCount        int    `toml:"retry_count" json:"retry_count"`
	// Endpoint overrides the service URL (e.g. Azurite); http or https.
	Endpoint         string `toml:"endpoint" json:"endpoint" secret:"userinfo"`
	ConnectionString string `toml:"connection_string" json:"connection_string" secret:"true"`
	SASToken         string `toml:"sas_token" json:"sas_token" secret:"true"`
	// TombstoneRetention is how long the last object of a deleted record is
	// kept before its storage is reclaimed, in seconds.
	TombstoneRetention int `toml:"tombstone_retention" json:"tombstone_retention"`
}

// GoogleCloudConfig configures the Google Cloud Storage provider. An empty
// CredentialsPath means Application Default Credentials.
type GoogleCloudConfig struct {
	ProjectID         string `toml:"project_id" json:"project_id"`
	BucketName        string `toml:"bucket_name" json:"bucket_name"`
	CredentialsPath   string `toml:"credentials_path" json:"credentials_path"`
	Prefix            string `toml:"prefix" json:"prefix"`
	ConnectionTimeout int    `toml:"connection_timeout" json:"connection_timeout"`
	RetryCount        int    `toml:"retry_count" json:"retry_count"`
	// Endpoint overrides the service URL (e.g. an emulator); http or https.
	Endpoint string `toml:"endpoint" json:"endpoint" secret:"userinfo"`
	// TombstoneRetention is how long the last object of a deleted record is
	// kept before its storage is reclaimed, in seconds.
	TombstoneRetention int `toml:"tombstone_retention" json:"tombstone_retention"`
}

// EtcdConfig configures the etcd provider. LeaseTTL and timeouts are in
// seconds; CACert, ClientCert and ClientKey are file paths.
type EtcdConfig struct {
	// Endpoints are http(s) URLs or host:port pairs; at least one.
	Endpoints      []string `toml:"endpoints" json:"endpoints" secret:"userinfo"`
	Prefix         string   `toml:"prefix" json:"prefix"`
	LeaseTTL       int      `toml:"lease_ttl" json:"lease_ttl"`
	Username       string   `toml:"username" json:"username"`
	Password       string   `toml:"password" json:"password" secret:"true"`
	CACert         string   `toml:"ca_cert" json:"ca_cert"`
	ClientCert     string   `toml:"client_cert" json:"client_cert"`
	ClientKey      string   `toml:"client_key" json:"client_key"`
	DialTimeout    int      `toml:"dial_timeout" json:"dial_timeout"`
	RequestTimeout int      `toml:"request_timeout" json:"request_timeout"`
}

// RedisConfig configures the Redis provider. URL may carry a password in its
// userinfo; that password is redacted like a secret field.
type RedisConfig struct {
	// URL has scheme redis, rediss or unix.
	URL         string `toml:"url" json:"url" secret:"userinfo"`
	ClusterMode bool   `toml:"cluster_mode" json:"cluster_mode"`
	// Database is 0..15, and must be 0 in cluster mode.
	Database   int    `toml:"database" json:"database"`
	Username   string `toml:"username" json:"username"`
	Password   string `toml:"password" json:"password" secret:"true"`
	Prefix     string `toml:"prefix" json:"prefix"`
	PoolSize   int    `toml:"pool_size" json:"pool_size"`
	RetryCount int    `toml:"retry_count" json:"retry_count"`
	// Shards spreads the keys over this many hash tags (0 = 1, or 16 in
	// cluster mode); transactions need a single shard.
	Shards int `toml:"shards" json:"shards"`
	// CACert, ClientCert and ClientKey are PEM file paths for rediss://.
	CACert     string `toml:"ca_cert" json:"ca_cert"`
	ClientCert string `toml:"client_cert" json:"client_cert"`
	ClientKey  string `toml:"client_key" json:"client_key"`
	// DialTimeout and RequestTimeout are in seconds (0 = none).
	DialTimeout    int `toml:"dial_timeout" json:"dial_timeout"`
	RequestTimeout int `toml:"request_timeout" json:"request_timeout"`
}

// KubernetesConfig configures the Kubernetes (ConfigMap/Secret) provider.
// With InCluster false, Kubeconfig (or the client's default lookup when
// empty) locates the cluster. See docs/kubernetes.md.
type KubernetesConfig struct {
	Namespace     string `toml:"namespace" json:"namespace"`
	ConfigMapName string `toml:"config_map_name" json:"config_map_name"`
	// SecretName is accepted for the spec's sake; the provider stores
	// nothing sensitive and never reads or writes Secrets.
	SecretName string `toml:"secret_name" json:"secret_name"`
	InCluster  bool   `toml:"in_cluster" json:"in_cluster"`
	Kubeconfig string `toml:"kubeconfig" json:"kubeconfig"`
	// Shards (not in the spec) is how many ConfigMaps, named
	// <config_map_name>-000 and up, the keys are hashed over (1..1000, 0 =
	// the default 256). Every server sharing the data must use the same value.
	Shards int `toml:"shards" json:"shards"`
	// QPS and Burst (not in the spec) are client-go's client-side rate
	// limit: requests per second sustained, and the burst above it (0 =
	// the defaults 100 and 200).
	QPS   int `toml:"qps" json:"qps"`
	Burst int `toml:"burst" json:"burst"`
	// RequestTimeout (not in the spec) bounds every API request, in
	// seconds (0 = only the caller's deadline).
	RequestTimeout int `toml:"request_timeout" json:"request_timeout"`
}

// MinIOConfig configures the MinIO provider. Endpoint is host[:port] or a URL
// whose scheme agrees with Secure.
type MinIOConfig struct {
	Endpoint   string `toml:"endpoint" json:"endpoint" secret:"userinfo"`
	AccessKey  string `toml:"access_key" json:"access_key"`
	SecretKey  string `toml:"secret_key" json:"secret_key" secret:"true"`
	BucketName string `toml:"bucket_name" json:"bucket_name"`
	Region     string `toml:"region" json:"region"`
	Secure     bool   `toml:"secure" json:"secure"`
	Prefix     string `toml:"prefix" json:"prefix"`
}

// FlashConfig configures the flash-optimised local storage provider.
// BlockSize and CacheSize are in bytes. See docs/flash.md for what each key
// maps to in the storage engine.
type FlashConfig struct {
	DataDir            string      `toml:"data_dir" json:"data_dir"`
	EnableMultipathing bool        `toml:"enable_multipathing" json:"enable_multipathing"`
	IODepth            int         `toml:"io_depth" json:"io_depth"`
	BlockSize          int         `toml:"block_size" json:"block_size"`
	CacheSize          int64       `toml:"cache_size" json:"cache_size"`
	Compression        Compression `toml:"compression" json:"compression"`
	Paths              []string    `toml:"paths" json:"paths"`
	// WriteQuorum (not in the spec) is how many in-sync paths must apply a
	// write for it to succeed; 0 means a majority of the paths.
	WriteQuorum int `toml:"write_quorum" json:"write_quorum"`
	// Sync (not in the spec) fsyncs the write-ahead log of every path
	// before a write is acknowledged; false acknowledges writes that a
	// crash may lose.
	Sync bool `toml:"sync" json:"sync"`
}

// CompositeConfig configures a primary provider with a failover backup.
// Intervals are in seconds. Primary and Backup are tables with their own
// "type" ([providers.NAME.primary]); neither may be a composite.
type CompositeConfig struct {
	SyncInterval        int `toml:"sync_interval" json:"sync_interval"`
	HealthCheckInterval int `toml:"health_check_interval" json:"health_check_interval"`
	FailoverThreshold   int `toml:"failover_threshold" json:"failover_threshold"`
	// Mirror (not in the spec) is how writes reach the standby side:
	// "sync" (the default) copies every write before acknowledging it, so
	// a failover loses nothing; "async" copies only every sync_interval,
	// so a failover loses the writes of the last interval. "" = "sync".
	Mirror string `toml:"mirror" json:"mirror"`
	// Failback (not in the spec) is "auto" (the default: return to the
	// primary once it is healthy again and re-synchronised) or "manual"
	// (stay on the backup until `orbit-server composite failback`).
	// "" = "auto".
	Failback string         `toml:"failback" json:"failback"`
	Primary  ProviderConfig `toml:"primary" json:"primary"`
	Backup   ProviderConfig `toml:"backup" json:"backup"`
}

// ProviderType returns TypeMemory.
func (*MemoryConfig) ProviderType() ProviderType { return TypeMemory }

// ProviderType returns TypeS3.
func (*S3Config) ProviderType() ProviderType { return TypeS3 }

// ProviderType returns TypeAzure.
func (*AzureConfig) ProviderType() ProviderType { return TypeAzure }

// ProviderType returns TypeGoogleCloud.
func (*GoogleCloudConfig) ProviderType() ProviderType { return TypeGoogleCloud }

// ProviderType returns TypeEtcd.
func (*EtcdConfig) ProviderType() ProviderType { return TypeEtcd }

// ProviderType returns TypeRedis.
func (*RedisConfig) ProviderType() ProviderType { return TypeRedis }

// ProviderType returns TypeKubernetes.
func (*KubernetesConfig) ProviderType() ProviderType { return TypeKubernetes }

// ProviderType returns TypeMinIO.
func (*MinIOConfig) ProviderType() ProviderType { return TypeMinIO }

// ProviderType returns TypeFlash.
func (*FlashConfig) ProviderType() ProviderType { return TypeFlash }

// ProviderType returns TypeComposite.
func (*CompositeConfig) ProviderType() ProviderType { return TypeComposite }

// Defaults names the providers used by default for each directory.
type Defaults struct {
	// Addressable is the provider name for the addressable directory.
	Addressable string `toml:"addressable" json:"addressable"`
	// Cluster is the provider name for the cluster node directory.
	Cluster string `toml:"cluster" json:"cluster"`
}

// Config is a complete persistence configuration. Its String, Format and
// MarshalJSON methods render it redacted.
type Config struct {
	Defaults Defaults
	// Server is the optional [server] table (authentication, limits, audit
	// log); its zero value means every default.
	Server ServerConfig
	// Providers maps provider names ([a-zA-Z0-9_-]+) to their configuration.
	Providers map[string]ProviderConfig
	// Source is the file the configuration was loaded from ("" if built in
	// code); errors name it.
	Source string
}

// Format is a configuration file format.
type Format int

// The supported formats.
const (
	FormatTOML Format = iota + 1
	FormatJSON
)

// String returns "TOML", "JSON" or "Format(n)".
func (f Format) String() string {
	switch f {
	case FormatTOML:
		return "TOML"
	case FormatJSON:
		return "JSON"
	}
	return "Format(" + itoa(int64(f)) + ")"
}
