package azure

import (
	"context"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeAzure, func(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
		o, err := OptionsFromConfig(cfg.(*config.AzureConfig))
		if err != nil {
			return nil, err
		}
		return Open(ctx, o)
	})
}

// OptionsFromConfig maps the spec's Azure configuration onto Options:
//
//	connection_string     → ConnectionString, used alone (it carries the
//	                        account, the endpoint and a key or SAS)
//	account_name          → AccountName
//	account_key           → AccountKey (shared key)
//	sas_token             → SASToken (with or without the leading "?")
//	                        neither key nor SAS nor connection string:
//	                        DefaultAzureCredential (environment, workload
//	                        identity, managed identity, Azure CLI, ...)
//	endpoint              → Endpoint, the blob service URL (Azurite:
//	                        http://127.0.0.1:10000/devstoreaccount1); empty:
//	                        https://<account_name>.blob.core.windows.net
//	container_name        → Container (must exist)
//	prefix                → Prefix (the objects' folder)
//	connection_timeout    → ConnectTimeout and RequestTimeout (seconds)
//	retry_count           → RetryCount
//	tombstone_retention   → TombstoneRetention (seconds)
func OptionsFromConfig(c *config.AzureConfig) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	timeout := time.Duration(c.ConnectionTimeout) * time.Second
	return Options{
		Endpoint:           c.Endpoint,
		AccountName:        c.AccountName,
		Container:          c.ContainerName,
		ConnectionString:   c.ConnectionString,
		AccountKey:         c.AccountKey,
		SASToken:           c.SASToken,
		Prefix:             c.Prefix,
		ConnectTimeout:     timeout,
		RequestTimeout:     timeout,
		RetryCount:         c.RetryCount,
		TombstoneRetention: time.Duration(c.TombstoneRetention) * time.Second,
	}, nil
}
