package s3

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeS3, func(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
		o, err := OptionsFromConfig(cfg.(*config.S3Config))
		if err != nil {
			return nil, err
		}
		return Open(ctx, o)
	})
	persistence.RegisterDriver(config.TypeMinIO, func(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
		o, err := OptionsFromMinIOConfig(cfg.(*config.MinIOConfig))
		if err != nil {
			return nil, err
		}
		return Open(ctx, o)
	})
}

// endpointURL turns host[:port] into a URL with the scheme the TLS flag
// selects; a URL is kept as it is (validation checked that its scheme
// agrees with the flag).
func endpointURL(endpoint string, tls bool) string {
	if endpoint == "" || strings.Contains(endpoint, "://") {
		return endpoint
	}
	if tls {
		return "https://" + endpoint
	}
	return "http://" + endpoint
}

// OptionsFromConfig maps the spec's S3 configuration onto Options:
//
//	endpoint, enable_ssl  → Endpoint (host[:port] gets https:// or http://);
//	                        empty: AWS S3 of the region
//	region, bucket        → Region, Bucket
//	access_key_id, secret_access_key → static credentials; both empty: the
//	                        SDK's default chain
//	prefix                → Prefix (the objects' folder)
//	connection_timeout    → ConnectTimeout and RequestTimeout (seconds)
//	retry_count           → RetryCount
//	server_side_encryption, sse_kms_key_id → SSE-S3 or SSE-KMS
//	virtual_hosted_style  → PathStyle = false for a custom endpoint (a
//	                        custom endpoint is path-style by default; AWS
//	                        itself is always virtual-hosted)
//	tombstone_retention   → TombstoneRetention (seconds)
func OptionsFromConfig(c *config.S3Config) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	timeout := time.Duration(c.ConnectionTimeout) * time.Second
	return Options{
		Endpoint:             endpointURL(c.Endpoint, c.EnableSSL),
		Region:               c.Region,
		Bucket:               c.Bucket,
		AccessKeyID:          c.AccessKeyID,
		SecretAccessKey:      c.SecretAccessKey,
		Prefix:               c.Prefix,
		PathStyle:            c.Endpoint != "" && !c.VirtualHostedStyle,
		ConnectTimeout:       timeout,
		RequestTimeout:       timeout,
		RetryCount:           c.RetryCount,
		ServerSideEncryption: c.ServerSideEncryption,
		SSEKMSKeyID:          c.SSEKMSKeyID,
		TombstoneRetention:   time.Duration(c.TombstoneRetention) * time.Second,
	}, nil
}

// OptionsFromMinIOConfig maps the spec's MinIO configuration onto the same
// engine: endpoint + secure → Endpoint, access_key/secret_key → static
// credentials, bucket_name → Bucket, region, prefix; path-style addressing,
// and the S3 defaults for everything else (30 s timeouts, 3 retries, 600 s
// tombstone retention).
func OptionsFromMinIOConfig(c *config.MinIOConfig) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	d := config.DefaultS3Config()
	region := c.Region
	if region == "" {
		region = d.Region
	}
	timeout := time.Duration(d.ConnectionTimeout) * time.Second
	o := Options{
		Endpoint:           endpointURL(c.Endpoint, c.Secure),
		Region:             region,
		Bucket:             c.BucketName,
		AccessKeyID:        c.AccessKey,
		SecretAccessKey:    c.SecretKey,
		Prefix:             c.Prefix,
		PathStyle:          true,
		ConnectTimeout:     timeout,
		RequestTimeout:     timeout,
		RetryCount:         d.RetryCount,
		TombstoneRetention: time.Duration(d.TombstoneRetention) * time.Second,
	}
	if o.Endpoint == "" {
		return Options{}, fmt.Errorf("minio: endpoint: must not be empty: %w", driver.ErrInvalidArgument)
	}
	return o, nil
}
