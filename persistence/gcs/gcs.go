// Package gcs is the Google Cloud Storage provider: the object-store
// protocol of package objstore on the official cloud.google.com/go/storage
// client (JSON API, XML API for reads).
//
// What the provider relies on from the service is one thing: an insert with
// ifGenerationMatch=0 is atomic (of concurrent creations of one name, one
// succeeds). Generation preconditions on overwrites and deletes are not
// used. The entity tag of an object is its generation number. See
// docs/gcs.md.
package gcs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"cloud.google.com/go/storage"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/objstore"
)

// DefaultEndpoint is the JSON API endpoint of Google Cloud Storage.
const DefaultEndpoint = "https://storage.googleapis.com/storage/v1/"

// Scope is the OAuth scope the provider asks for: objects are read, created
// and deleted, nothing else.
const Scope = "https://www.googleapis.com/auth/devstorage.read_write"

// Options configure the Google Cloud Storage provider.
type Options struct {
	// Bucket must exist; Orbit never creates or deletes buckets.
	Bucket string
	// CredentialsFile is a JSON credentials file: a service account key,
	// or an authorized_user, external_account (workload identity
	// federation), external_account_authorized_user or
	// impersonated_service_account configuration. Empty means Application
	// Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud ADC
	// file, the metadata server on GCE, GKE, Cloud Run), unless Anonymous.
	CredentialsFile string
	// Anonymous sends no credentials at all: for emulators such as
	// fake-gcs-server. It excludes CredentialsFile.
	Anonymous bool
	// Endpoint overrides the service URL (an emulator, a Private Service
	// Connect endpoint): http(s)://host[:port], to which /storage/v1/ is
	// appended, or a URL with the JSON API path already. Empty means
	// DefaultEndpoint.
	Endpoint string
	// Prefix is the folder of Orbit's objects in the bucket ("orbit" →
	// "orbit/..."); empty puts them at the bucket's root.
	Prefix string
	// ConnectTimeout bounds connecting (and the TLS handshake);
	// RequestTimeout bounds one attempt of one request. 0 means 30 s for
	// both.
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	// RetryCount is how many times a failed request (408, 429, 5xx,
	// connection errors) is retried, with exponential backoff and jitter
	// (100 ms doubling up to 5 s).
	RetryCount int
	// TombstoneRetention: see objstore.Options.
	TombstoneRetention time.Duration
	// HTTPClient replaces the HTTP client (tests, proxies); its transport
	// and timeout then apply instead of ConnectTimeout and RequestTimeout.
	// The provider wraps a copy of it with the authentication.
	HTTPClient *http.Client
}

// Store is the Google Cloud Storage provider's driver.Store.
type Store struct {
	*objstore.Store
}

// Open connects to the bucket and checks it by reading its metadata
// (buckets.get): wrong credentials, a missing bucket or an unreachable
// endpoint are errors naming the endpoint and the bucket (never a secret).
func Open(ctx context.Context, o Options) (*Store, error) {
	b, err := newBucket(ctx, o)
	if err != nil {
		return nil, err
	}
	st, err := objstore.Open(ctx, b, objstore.Options{Prefix: o.Prefix, TombstoneRetention: o.TombstoneRetention, Describe: b.describe})
	if err != nil {
		return nil, err
	}
	return &Store{st}, nil
}

// bucket is the objstore.Bucket of one Google Cloud Storage bucket.
type bucket struct {
	client   *storage.Client
	name     string
	describe string
	retries  int
	backoff  gax.Backoff
	// Handles of the same bucket with different retry policies (a
	// BucketHandle's Retryer changes the handle it is called on, so each
	// policy has a handle of its own).
	handle *storage.BucketHandle // the client's policy: idempotent requests are retried
	create *storage.BucketHandle // never retried by the client: Create retries itself
	remove *storage.BucketHandle // always retried: a retried delete of a deleted name is a 404
	idle   func()
}

// credentialTypes are the credentials files accepted in CredentialsFile.
var credentialTypes = []credentials.CredType{
	credentials.ServiceAccount, credentials.AuthorizedUser, credentials.ExternalAccount,
	credentials.ExternalAccountAuthorizedUser, credentials.ImpersonatedServiceAccount,
}

func newBucket(ctx context.Context, o Options) (*bucket, error) {
	if o.Bucket == "" {
		return nil, fmt.Errorf("gcs: bucket: must not be empty: %w", driver.ErrInvalidArgument)
	}
	endpoint, where, err := endpointURL(o.Endpoint)
	if err != nil {
		return nil, err
	}
	describe := fmt.Sprintf("gcs bucket %q at %s", o.Bucket, where)
	if o.Anonymous && o.CredentialsFile != "" {
		return nil, fmt.Errorf("gcs: a credentials file and anonymous access exclude each other: %w", driver.ErrInvalidArgument)
	}
	if o.RetryCount < 0 {
		return nil, fmt.Errorf("gcs: retry count: must not be negative: %w", driver.ErrInvalidArgument)
	}
	connect, request := o.ConnectTimeout, o.RequestTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	if request <= 0 {
		request = 30 * time.Second
	}

	var hc http.Client
	idle := func() {}
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
		if hc.Transport == nil {
			hc.Transport = http.DefaultTransport
		}
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = connect
		tr.MaxIdleConnsPerHost = 64
		hc = http.Client{Transport: tr, Timeout: request}
		idle = tr.CloseIdleConnections
	}
	hc.Transport = dateTransport{hc.Transport}

	if !o.Anonymous {
		creds, err := loadCredentials(o.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describe, err)
		}
		if err := httptransport.AddAuthorizationMiddleware(&hc, creds); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", describe, err, driver.ErrInvalidArgument)
		}
	}
	// The HTTP client carries the authentication (or none): the storage
	// client must not look for credentials of its own.
	client, err := storage.NewClient(ctx,
		option.WithHTTPClient(&hc),
		option.WithoutAuthentication(),
		option.WithEndpoint(endpoint),
		storage.WithDisabledClientMetrics(),
	)
	if err != nil {
		idle()
		return nil, fmt.Errorf("%s: create the storage client: %w: %w", describe, err, driver.ErrInvalidArgument)
	}
	b := &bucket{
		client:   client,
		name:     o.Bucket,
		describe: describe,
		retries:  o.RetryCount,
		backoff:  gax.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2},
		idle:     idle,
	}
	policy, removePolicy := storage.RetryIdempotent, storage.RetryAlways
	if o.RetryCount == 0 {
		// Not WithMaxAttempts(1): the client then words every error as
		// "retry failed after 1 attempts".
		policy, removePolicy = storage.RetryNever, storage.RetryNever
	}
	client.SetRetry(
		storage.WithPolicy(policy),
		storage.WithMaxAttempts(o.RetryCount+1),
		storage.WithBackoff(b.backoff),
	)
	b.handle = client.Bucket(o.Bucket)
	b.create = client.Bucket(o.Bucket).Retryer(storage.WithPolicy(storage.RetryNever))
	b.remove = client.Bucket(o.Bucket).Retryer(storage.WithPolicy(removePolicy))
	return b, nil
}

// endpointURL returns the JSON API endpoint of Options.Endpoint and how
// error messages name it (without userinfo, which is refused anyway).
func endpointURL(endpoint string) (api, where string, err error) {
	if endpoint == "" {
		return DefaultEndpoint, "https://storage.googleapis.com", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("gcs: endpoint: must be an http:// or https:// URL with a host: %w", driver.ErrInvalidArgument)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("gcs: endpoint: must not carry a user or password (authentication is credentials_path or Application Default Credentials): %w", driver.ErrInvalidArgument)
	}
	where = strings.TrimSuffix(u.String(), "/")
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/storage/v1/"
	} else if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), where, nil
}

// loadCredentials returns the credentials of file, or Application Default
// Credentials when file is empty. The errors name the file, never its
// content.
func loadCredentials(file string) (*auth.Credentials, error) {
	opts := &credentials.DetectOptions{Scopes: []string{Scope}}
	if file == "" {
		creds, err := credentials.DetectDefault(opts)
		if err != nil {
			return nil, fmt.Errorf("no credentials_path and no Application Default Credentials (set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or run on Google Cloud with a service account): %w: %w", err, driver.ErrInvalidArgument)
		}
		return creds, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("credentials file %q does not exist: %w", file, driver.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("credentials file %q cannot be read: %w: %w", file, errors.Unwrap(err), driver.ErrInvalidArgument)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("credentials file %q is not a JSON credentials file: %w", file, driver.ErrInvalidArgument)
	}
	for _, t := range credentialTypes {
		if head.Type == string(t) {
			creds, err := credentials.NewCredentialsFromJSON(t, raw, opts)
			if err != nil {
				return nil, fmt.Errorf("credentials file %q (%s): %w: %w", file, t, err, driver.ErrInvalidArgument)
			}
			return creds, nil
		}
	}
	return nil, fmt.Errorf("credentials file %q: type %q is not supported (want one of %v): %w", file, head.Type, credentialTypes, driver.ErrInvalidArgument)
}

// etag is the entity tag the provider gives an object: its generation,
// which GCS assigns anew to every write of a name (also after a delete)
// and reports alike in insert results, object metadata, XML reads and
// listings.
func etag(generation int64) string { return strconv.FormatInt(generation, 10) }

func (b *bucket) Create(ctx context.Context, name string, body []byte) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%s: create %q: GCS object names must be valid UTF-8: %w", b.describe, name, driver.ErrInvalidArgument)
	}
	bo := b.backoff // a copy: Pause advances it
	for attempt := 0; ; attempt++ {
		gen, err := b.insert(ctx, name, body)
		if err == nil {
			return etag(gen), nil
		}
		if attempt > 0 && isPrecondition(err) {
			// An earlier attempt may have created the object and lost
			// the answer: the object is ours when it holds our body
			// (bodies are unique). When that cannot be told, the outcome
			// is unknown: an error, but not a conflict.
			gen, mine, err := b.ours(ctx, name, body)
			switch {
			case mine:
				return etag(gen), nil
			case err != nil && !errors.Is(err, storage.ErrObjectNotExist):
				return "", b.classify(ctx, "create (check of an earlier attempt)", name, err)
			}
		}
		if attempt >= b.retries || !storage.ShouldRetry(err) || ctx.Err() != nil {
			return "", b.classify(ctx, "create", name, err)
		}
		if err := gax.Sleep(ctx, bo.Pause()); err != nil {
			return "", b.classify(ctx, "create", name, err)
		}
	}
}

// insert is one create-only upload (ifGenerationMatch=0), in a single
// request.
func (b *bucket) insert(ctx context.Context, name string, body []byte) (int64, error) {
	w := b.create.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ChunkSize = 0 // one request, no 256 KiB buffer; retried by Create
	w.ContentType = "application/octet-stream"
	_, werr := w.Write(body)
	cerr := w.Close()
	if werr != nil {
		return 0, werr
	}
	if cerr != nil {
		return 0, cerr
	}
	if w.Attrs() == nil || w.Attrs().Generation == 0 {
		return 0, fmt.Errorf("the server returned no generation: %w", driver.ErrUnsupported)
	}
	return w.Attrs().Generation, nil
}

// ours reports whether name holds body, and its generation.
func (b *bucket) ours(ctx context.Context, name string, body []byte) (int64, bool, error) {
	a, err := b.handle.Object(name).Attrs(ctx)
	if err != nil {
		return 0, false, err
	}
	if a.Size != int64(len(body)) {
		return 0, false, nil
	}
	if len(a.MD5) > 0 {
		sum := md5.Sum(body)
		return a.Generation, bytes.Equal(a.MD5, sum[:]), nil
	}
	return a.Generation, a.CRC32C == crc32.Checksum(body, castagnoli), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func isPrecondition(err error) bool { return statusOf(err) == http.StatusPreconditionFailed }

func (b *bucket) Read(ctx context.Context, name string) ([]byte, string, error) {
	r, err := b.handle.Object(name).NewReader(ctx)
	if err != nil {
		return nil, "", b.classify(ctx, "read", name, err)
	}
	defer r.Close()
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, "", b.classify(ctx, "read", name, err)
	}
	return body, etag(r.Attrs.Generation), nil
}

func (b *bucket) Stat(ctx context.Context, name string) (string, error) {
	a, err := b.handle.Object(name).Attrs(ctx)
	if err != nil {
		return "", b.classify(ctx, "stat", name, err)
	}
	return etag(a.Generation), nil
}

func (b *bucket) Remove(ctx context.Context, name string) error {
	err := b.remove.Object(name).Delete(ctx)
	if err != nil {
		err = b.classify(ctx, "delete", name, err)
		if errors.Is(err, driver.ErrNotFound) {
			return nil
		}
	}
	return err
}

// listAttrs are the object attributes a listing asks for.
var listAttrs = []string{"Name", "Generation", "Size", "Updated"}

// maxPage is the most objects one GCS listing request returns.
const maxPage = 1000

func (b *bucket) List(ctx context.Context, prefix, startAfter string, limit int) (objstore.Listing, error) {
	if limit <= 0 || limit > maxPage {
		limit = maxPage
	}
	// startOffset is inclusive: an object named startAfter is skipped, and
	// one more object is asked for in its place (within the page limit).
	q := &storage.Query{Prefix: prefix, StartOffset: startAfter, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection(listAttrs); err != nil {
		return objstore.Listing{}, fmt.Errorf("%s: list %q: %w", b.describe, prefix, err)
	}
	ask := limit
	if startAfter != "" && ask < maxPage {
		ask++
	}
	var date atomic.Int64
	ctx = context.WithValue(ctx, dateKey{}, &date)
	pager := iterator.NewPager(b.handle.Objects(ctx, q), ask, "")
	var l objstore.Listing
	for {
		var page []*storage.ObjectAttrs
		token, err := pager.NextPage(&page)
		if err != nil {
			return objstore.Listing{}, b.classify(ctx, "list", prefix, err)
		}
		l.More = token != ""
		for _, a := range page {
			if startAfter != "" && a.Name == startAfter {
				continue
			}
			l.Objects = append(l.Objects, objstore.Object{Name: a.Name, ETag: etag(a.Generation), Size: a.Size, Modified: a.Updated})
		}
		// A page that held only startAfter says nothing yet: the engine
		// stops at an empty page.
		if len(l.Objects) > 0 || !l.More {
			break
		}
	}
	if len(l.Objects) > limit {
		l.Objects, l.More = l.Objects[:limit], true
	}
	if d := date.Load(); d != 0 {
		l.ServerTime = time.Unix(d, 0)
	}
	return l, nil
}

func (b *bucket) Probe(ctx context.Context) error {
	if _, err := b.handle.Attrs(ctx); err != nil {
		return b.classify(ctx, "probe (buckets.get)", "", err)
	}
	return nil
}

func (b *bucket) Close() error {
	err := b.client.Close()
	b.idle()
	return err
}

// dateKey is the context key of the *atomic.Int64 that dateTransport sets
// to the Date of the responses of a request made with that context (the
// storage client does not expose response headers).
type dateKey struct{}

// dateTransport records the server's Date header for List (ServerTime).
type dateTransport struct{ base http.RoundTripper }

func (t dateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		if sink, ok := r.Context().Value(dateKey{}).(*atomic.Int64); ok {
			if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
				sink.Store(d.Unix())
			}
		}
	}
	return resp, err
}
