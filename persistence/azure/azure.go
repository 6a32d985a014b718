// Package azure is the Azure Blob Storage provider: the object-store
// protocol of package objstore on the official azblob client
// (github.com/Azure/azure-sdk-for-go/sdk/storage/azblob).
//
// What the provider relies on from the service is one thing: an upload
// with If-None-Match: * is atomic (of concurrent creations of one blob,
// one succeeds; the others get 409 BlobAlreadyExists). If-Match and
// conditional deletes are not used. See docs/azure.md.
package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/objstore"
)

// Options configure the Azure provider. Authentication is one of, in this
// order: ConnectionString; AccountName with AccountKey (shared key); a
// SASToken; Credential; else DefaultAzureCredential (azidentity:
// environment, workload identity, managed identity, Azure CLI, ...).
type Options struct {
	// Endpoint is the blob service URL (http:// or https://), account
	// included for path-style servers: "http://127.0.0.1:10000/devstoreaccount1"
	// for Azurite. Empty means https://<AccountName>.blob.core.windows.net/.
	// Not used with ConnectionString, which carries its own.
	Endpoint string
	// AccountName is the storage account; required unless ConnectionString
	// or Endpoint names it.
	AccountName string
	// Container must exist.
	Container string
	// ConnectionString is a storage connection string
	// ("DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...", or
	// with SharedAccessSignature= and BlobEndpoint=); it is used alone.
	ConnectionString string
	// AccountKey is the account's shared key (base64).
	AccountKey string
	// SASToken is a shared access signature ("sv=...&sig=..."), with or
	// without the leading "?": a container SAS needs the permissions read,
	// add, create, write, delete and list.
	SASToken string
	// Credential is a Microsoft Entra ID (Azure AD) credential; nil with no
	// other secret means azidentity.NewDefaultAzureCredential. Tokens are
	// only sent over https.
	Credential azcore.TokenCredential
	// Prefix is the folder of Orbit's objects in the container ("orbit" →
	// "orbit/..."); empty puts them at the container's root.
	Prefix string
	// ConnectTimeout bounds connecting; RequestTimeout bounds one attempt
	// of one request. 0 means 30 s for both.
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	// RetryCount is how many times a failed request (throttling 429/503,
	// other 5xx, 408, connection errors) is retried, with exponential
	// backoff and jitter up to 5 s.
	RetryCount int
	// TombstoneRetention: see objstore.Options.
	TombstoneRetention time.Duration
	// HTTPClient replaces the HTTP client (tests, proxies); its timeouts
	// then apply instead of ConnectTimeout.
	HTTPClient *http.Client
}

// Store is the Azure provider's driver.Store.
type Store struct {
	*objstore.Store
}

// Open connects to the container and checks it with a Get Container
// Properties request: wrong credentials, a missing container or an
// unreachable endpoint are errors naming the endpoint and the container
// (never a key, a SAS or a connection string).
func Open(ctx context.Context, o Options) (*Store, error) {
	b, err := newBucket(o)
	if err != nil {
		return nil, err
	}
	st, err := objstore.Open(ctx, b, objstore.Options{Prefix: b.prefix, TombstoneRetention: o.TombstoneRetention, Describe: b.describe})
	if err != nil {
		return nil, err
	}
	return &Store{st}, nil
}

// bucket is the objstore.Bucket of one Azure container.
type bucket struct {
	cc       *container.Client
	name     string // the container's
	prefix   string // the store's, for the probe of a SAS
	sas      bool   // authenticated by a SAS: probe with a listing
	describe string
	secrets  []string // scrubbed from every error message
	idle     func()
	list     listState
}

// maxRetryDelay caps the backoff between retries.
const maxRetryDelay = 5 * time.Second

func newBucket(o Options) (*bucket, error) {
	if o.Container == "" {
		return nil, fmt.Errorf("azure: container: must not be empty: %w", driver.ErrInvalidArgument)
	}
	connect, request := o.ConnectTimeout, o.RequestTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	if request <= 0 {
		request = 30 * time.Second
	}
	b := &bucket{idle: func() {}}
	var transport policy.Transporter = o.HTTPClient
	if o.HTTPClient == nil {
		tr := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   connect,
			ExpectContinueTimeout: time.Second,
		}
		transport = &http.Client{Transport: tr}
		b.idle = tr.CloseIdleConnections
	}
	retries := int32(o.RetryCount)
	if retries <= 0 {
		retries = -1 // azcore: 0 means its default (3), negative means none
	}
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: transport,
		Retry: policy.RetryOptions{
			MaxRetries:    retries,
			TryTimeout:    request,
			MaxRetryDelay: maxRetryDelay,
		},
		Telemetry: policy.TelemetryOptions{ApplicationID: "orbit"},
	}}

	var (
		client *azblob.Client
		err    error
	)
	switch {
	case o.ConnectionString != "":
		if o.AccountName != "" || o.AccountKey != "" || o.SASToken != "" || o.Endpoint != "" || o.Credential != nil {
			return nil, fmt.Errorf("azure: connection_string is used alone (it carries the account, the endpoint and the secret): %w", driver.ErrInvalidArgument)
		}
		b.secrets = connectionStringSecrets(o.ConnectionString)
		b.sas = strings.Contains(strings.ToLower(o.ConnectionString), "sharedaccesssignature=")
		client, err = azblob.NewClientFromConnectionString(o.ConnectionString, opts)
		if err != nil {
			return nil, fmt.Errorf("azure: connection_string: %s: %w", b.scrub(err.Error()), driver.ErrInvalidArgument)
		}
	default:
		service, err := serviceURL(o.Endpoint, o.AccountName)
		if err != nil {
			return nil, err
		}
		secretModes := 0
		for _, set := range []bool{o.AccountKey != "", o.SASToken != "", o.Credential != nil} {
			if set {
				secretModes++
			}
		}
		if secretModes > 1 {
			return nil, fmt.Errorf("azure: account_key, sas_token and a token credential exclude each other: %w", driver.ErrInvalidArgument)
		}
		switch {
		case o.AccountKey != "":
			if o.AccountName == "" {
				return nil, fmt.Errorf("azure: account_name: must not be empty with account_key: %w", driver.ErrInvalidArgument)
			}
			b.secrets = []string{o.AccountKey}
			cred, cerr := azblob.NewSharedKeyCredential(o.AccountName, o.AccountKey)
			if cerr != nil {
				return nil, fmt.Errorf("azure: account_key: not a base64 key: %w", driver.ErrInvalidArgument)
			}
			client, err = azblob.NewClientWithSharedKeyCredential(service, cred, opts)
		case o.SASToken != "":
			sas := strings.TrimPrefix(o.SASToken, "?")
			b.secrets, b.sas = sasSecrets(sas), true
			client, err = azblob.NewClientWithNoCredential(service+"?"+sas, opts)
		default:
			if strings.HasPrefix(service, "http://") {
				return nil, fmt.Errorf("azure: endpoint %s: Microsoft Entra ID tokens are only sent over https; set account_key, sas_token or connection_string for a plain-http server: %w", service, driver.ErrInvalidArgument)
			}
			cred := o.Credential
			if cred == nil {
				cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts.ClientOptions})
				if err != nil {
					return nil, fmt.Errorf("azure: DefaultAzureCredential: %v: %w", err, driver.ErrUnavailable)
				}
			}
			client, err = azblob.NewClient(service, cred, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("azure: %s: %w", b.scrub(err.Error()), driver.ErrInvalidArgument)
		}
	}
	b.cc, b.name = client.ServiceClient().NewContainerClient(o.Container), o.Container
	if b.prefix = strings.Trim(o.Prefix, "/"); b.prefix != "" {
		b.prefix += "/"
	}
	b.describe = fmt.Sprintf("azure container %q at %s", o.Container, publicURL(client.URL()))
	return b, nil
}

// serviceURL returns the blob service URL of an endpoint or an account,
// without a trailing slash.
func serviceURL(endpoint, account string) (string, error) {
	if endpoint == "" {
		if account == "" {
			return "", fmt.Errorf("azure: account_name: must not be empty unless endpoint or connection_string is set: %w", driver.ErrInvalidArgument)
		}
		return "https://" + account + ".blob.core.windows.net", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("azure: endpoint: must be an http:// or https:// URL: %w", driver.ErrInvalidArgument)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("azure: endpoint: must not carry credentials, a query or a fragment (put a SAS in sas_token): %w", driver.ErrInvalidArgument)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// publicURL returns a URL without its user information and query (where a
// SAS travels), for messages.
func publicURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return strings.TrimRight(u.String(), "/")
}

func ifNoneMatchAny() *blob.AccessConditions {
	star := azcore.ETagAny
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &star}}
}

// Create uploads body under name if no blob has it. The body's MD5 is
// stored as the blob's Content-MD5, so that a create the SDK resent after
// losing the answer of a first attempt that worked is recognised: the
// resend finds a blob whose Content-MD5 is that of our body, which is
// unique (random bytes in its header), and reports success.
func (b *bucket) Create(ctx context.Context, name string, body []byte) (string, error) {
	sum := md5.Sum(body)
	resp, err := b.cc.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		AccessConditions: ifNoneMatchAny(),
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentMD5: sum[:]},
	})
	if err != nil {
		err = b.classify(ctx, "create", name, err)
		if errors.Is(err, driver.ErrConflict) {
			props, perr := b.cc.NewBlobClient(name).GetProperties(ctx, nil)
			if perr == nil && props.ETag != nil && bytes.Equal(props.ContentMD5, sum[:]) {
				return objstore.NormalizeETag(string(*props.ETag)), nil
			}
		}
		return "", err
	}
	if resp.ETag == nil {
		return "", fmt.Errorf("%s: create %q: the server returned no ETag: %w", b.describe, name, driver.ErrUnsupported)
	}
	return objstore.NormalizeETag(string(*resp.ETag)), nil
}

func (b *bucket) Read(ctx context.Context, name string) ([]byte, string, error) {
	resp, err := b.cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, "", b.classify(ctx, "read", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", b.classify(ctx, "read", name, err)
	}
	etag := ""
	if resp.ETag != nil {
		etag = objstore.NormalizeETag(string(*resp.ETag))
	}
	return body, etag, nil
}

func (b *bucket) Stat(ctx context.Context, name string) (string, error) {
	resp, err := b.cc.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return "", b.classify(ctx, "stat", name, err)
	}
	if resp.ETag == nil {
		return "", fmt.Errorf("%s: stat %q: the server returned no ETag: %w", b.describe, name, driver.ErrUnsupported)
	}
	return objstore.NormalizeETag(string(*resp.ETag)), nil
}

func (b *bucket) Remove(ctx context.Context, name string) error {
	_, err := b.cc.NewBlobClient(name).Delete(ctx, nil)
	if err != nil {
		err = b.classify(ctx, "delete", name, err)
		if errors.Is(err, driver.ErrNotFound) {
			return nil
		}
	}
	return err
}

// Probe gets the container's properties; with a SAS, which may be a
// service SAS that does not authorize that, it lists one blob of the
// store's prefix instead (the list permission is needed anyway).
func (b *bucket) Probe(ctx context.Context) error {
	if b.sas {
		one := int32(1)
		if _, err := b.cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: optional(b.prefix), MaxResults: &one}).NextPage(ctx); err != nil {
			return b.classify(ctx, "probe (List Blobs)", "", err)
		}
		return nil
	}
	if _, err := b.cc.GetProperties(ctx, nil); err != nil {
		return b.classify(ctx, "probe (Get Container Properties)", "", err)
	}
	return nil
}

func (b *bucket) Close() error {
	b.idle()
	return nil
}
