package gcs

import (
	"context"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeGoogleCloud, func(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
		o, err := OptionsFromConfig(cfg.(*config.GoogleCloudConfig))
		if err != nil {
			return nil, err
		}
		return Open(ctx, o)
	})
}

// OptionsFromConfig maps the spec's GoogleCloud configuration onto Options:
//
//	bucket_name           → Bucket
//	credentials_path      → CredentialsFile (a JSON credentials file); empty:
//	                        Application Default Credentials, or no
//	                        authentication at all when endpoint is set (an
//	                        emulator)
//	endpoint              → Endpoint (empty: https://storage.googleapis.com;
//	                        /storage/v1/ is appended to a URL without path)
//	prefix                → Prefix (the objects' folder)
//	connection_timeout    → ConnectTimeout and RequestTimeout (seconds)
//	retry_count           → RetryCount
//	tombstone_retention   → TombstoneRetention (seconds)
//	project_id            → not used: bucket names are global and Orbit
//	                        creates no bucket, so no request needs a project
//
// The rule for an endpoint without credentials_path: requests are sent
// without credentials (fake-gcs-server, the Cloud Storage testbench). A
// custom endpoint that needs authentication (a Private Service Connect
// endpoint) takes a credentials_path.
func OptionsFromConfig(c *config.GoogleCloudConfig) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	timeout := time.Duration(c.ConnectionTimeout) * time.Second
	return Options{
		Bucket:             c.BucketName,
		CredentialsFile:    c.CredentialsPath,
		Anonymous:          c.Endpoint != "" && c.CredentialsPath == "",
		Endpoint:           c.Endpoint,
		Prefix:             c.Prefix,
		ConnectTimeout:     timeout,
		RequestTimeout:     timeout,
		RetryCount:         c.RetryCount,
		TombstoneRetention: time.Duration(c.TombstoneRetention) * time.Second,
	}, nil
}
