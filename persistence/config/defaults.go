package config

import (
	"fmt"
	"reflect"
)

// The defaults below are the starting point of decoding: a file, an
// environment loader or ProviderConfigFor starts from them and overrides
// what it sets. Fields without a sane default (bucket names, endpoints of
// remote services) are left empty and Validate requires them.

// DefaultMemoryConfig returns MaxEntries 1,000,000 and no disk backup.
func DefaultMemoryConfig() MemoryConfig {
	return MemoryConfig{MaxEntries: 1_000_000}
}

// DefaultDiskBackupConfig returns SyncInterval 300 s and Zstd compression,
// with an empty (required) Path.
func DefaultDiskBackupConfig() DiskBackupConfig {
	return DiskBackupConfig{SyncInterval: 300, Compression: CompressionZstd}
}

// DefaultS3Config returns region us-east-1, SSL on, 30 s connection timeout,
// 3 retries, prefix "orbit" and a 600 s tombstone retention; Bucket is empty
// (required).
func DefaultS3Config() S3Config {
	return S3Config{Region: "us-east-1", Prefix: "orbit", EnableSSL: true, ConnectionTimeout: 30, RetryCount: 3, TombstoneRetention: 600}
}

// DefaultAzureConfig returns prefix "orbit", 30 s connection timeout, 3
// retries and a 600 s tombstone retention; the container and credentials are
// empty (required).
func DefaultAzureConfig() AzureConfig {
	return AzureConfig{Prefix: "orbit", ConnectionTimeout: 30, RetryCount: 3, TombstoneRetention: 600}
}

// DefaultGoogleCloudConfig returns prefix "orbit", 30 s connection timeout,
// 3 retries and a 600 s tombstone retention; BucketName is empty (required).
func DefaultGoogleCloudConfig() GoogleCloudConfig {
	return GoogleCloudConfig{Prefix: "orbit", ConnectionTimeout: 30, RetryCount: 3, TombstoneRetention: 600}
}

// DefaultEtcdConfig returns prefix "orbit", lease TTL 300 s, dial and request
// timeouts of 5 s; Endpoints is empty (required).
func DefaultEtcdConfig() EtcdConfig {
	return EtcdConfig{Prefix: "orbit", LeaseTTL: 300, DialTimeout: 5, RequestTimeout: 5}
}

// DefaultRedisConfig returns URL redis://127.0.0.1:6379, database 0, pool
// size 10, 3 retries, prefix "orbit", dial and request timeouts of 5 s.
func DefaultRedisConfig() RedisConfig {
	return RedisConfig{URL: "redis://127.0.0.1:6379", Prefix: "orbit", PoolSize: 10, RetryCount: 3, DialTimeout: 5, RequestTimeout: 5}
}

// DefaultKubernetesConfig returns namespace "orbit", ConfigMap "orbit-data"
// and Secret "orbit-secrets", out of cluster (default kubeconfig lookup),
// 256 shards, a client-side rate limit of 100 requests per second with
// bursts of 200, and a request timeout of 30 s. Shards, QPS and Burst of 0
// also mean these defaults.
func DefaultKubernetesConfig() KubernetesConfig {
	return KubernetesConfig{Namespace: "orbit", ConfigMapName: "orbit-data", SecretName: "orbit-secrets",
		Shards: 256, QPS: 100, Burst: 200, RequestTimeout: 30}
}

// DefaultMinIOConfig returns region us-east-1, Secure false and prefix
// "orbit"; Endpoint and BucketName are empty (required).
func DefaultMinIOConfig() MinIOConfig {
	return MinIOConfig{Region: "us-east-1", Prefix: "orbit"}
}

// DefaultFlashConfig returns I/O depth 32, block size 4096, a 64 MiB cache,
// Lz4 compression, a majority write quorum and synced writes; DataDir (or
// Paths) is empty (required).
func DefaultFlashConfig() FlashConfig {
	return FlashConfig{IODepth: 32, BlockSize: 4096, CacheSize: 64 << 20, Compression: CompressionLz4, Sync: true}
}

// The values of CompositeConfig.Mirror and CompositeConfig.Failback.
const (
	MirrorSync     = "sync"
	MirrorAsync    = "async"
	FailbackAuto   = "auto"
	FailbackManual = "manual"
)

// DefaultCompositeConfig returns sync interval 60 s, health check interval
// 30 s, failover threshold 3, synchronous mirroring and automatic
// failback; Primary and Backup are nil (required).
func DefaultCompositeConfig() CompositeConfig {
	return CompositeConfig{SyncInterval: 60, HealthCheckInterval: 30, FailoverThreshold: 3,
		Mirror: MirrorSync, Failback: FailbackAuto}
}

// ProviderConfigFor returns a fresh pointer to the default configuration of
// type t, built-in (e.g. *S3Config holding DefaultS3Config()) or registered
// with RegisterType (a deep copy of what its newDefault returns, so that no
// two configurations share a list or a table). An unknown type is an error
// wrapping driver.ErrInvalidArgument that lists the registered types
// (Types) and suggests the closest one.
func ProviderConfigFor(t ProviderType) (ProviderConfig, error) {
	e, ok := lookupType(t)
	if !ok {
		return nil, &fieldError{msg: unknownTypeMsg(string(t))}
	}
	pc := e.newDefault()
	if isNilConfig(pc) || reflect.TypeOf(pc) != e.goType {
		return nil, &fieldError{msg: fmt.Sprintf("the default configuration of type %s is a %T, not a non-nil %s (its newDefault function is broken)",
			quoteString(string(t)), pc, e.goType)}
	}
	return cloneConfig(pc, 0), nil
}
