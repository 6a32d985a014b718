// Package s3 is the S3 (and MinIO, and any S3-compatible server) provider:
// the object-store protocol of package objstore on the official
// aws-sdk-go-v2 client.
//
// What the provider relies on from the server is one thing: a PUT with
// If-None-Match: * is atomic (of concurrent creations of one name, one
// succeeds). If-Match and conditional DELETE are not used. See docs/s3.md.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/objstore"
)

// Options configure the S3 provider.
type Options struct {
	// Endpoint is the service URL (http:// or https://); empty means AWS
	// S3 of Region.
	Endpoint string
	// Region signs the requests (us-east-1 for most S3-compatible servers).
	Region string
	// Bucket must exist.
	Bucket string
	// AccessKeyID and SecretAccessKey are static credentials; when both are
	// empty the SDK's default chain is used (environment, shared config and
	// credentials files, web identity, ECS/EC2 instance roles).
	AccessKeyID     string
	SecretAccessKey string
	// Prefix is the folder of Orbit's objects in the bucket ("orbit" →
	// "orbit/..."); empty puts them at the bucket's root.
	Prefix string
	// PathStyle addresses the bucket as endpoint/bucket (S3-compatible
	// servers) instead of bucket.endpoint (AWS).
	PathStyle bool
	// ConnectTimeout bounds connecting; RequestTimeout bounds one attempt
	// of one request. 0 means 30 s for both.
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	// RetryCount is how many times a failed request (throttling, 5xx,
	// connection errors) is retried, with exponential backoff and jitter.
	RetryCount int
	// ServerSideEncryption is "", "AES256" or "aws:kms"; SSEKMSKeyID the
	// KMS key of "aws:kms" (empty: the account's default key).
	ServerSideEncryption string
	SSEKMSKeyID          string
	// TombstoneRetention: see objstore.Options.
	TombstoneRetention time.Duration
	// HTTPClient replaces the HTTP client (tests, proxies); its timeouts
	// then apply instead of ConnectTimeout and RequestTimeout.
	HTTPClient *http.Client
}

// Store is the S3 provider's driver.Store.
type Store struct {
	*objstore.Store
}

// Open connects to the bucket and checks it with a HeadBucket request:
// wrong credentials, a missing bucket or an unreachable endpoint are errors
// naming the endpoint and the bucket (never a secret).
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

// bucket is the objstore.Bucket of one S3 bucket.
type bucket struct {
	client   *s3.Client
	name     string
	describe string
	sse      types.ServerSideEncryption
	kmsKey   *string
	idle     func()
}

func newBucket(ctx context.Context, o Options) (*bucket, error) {
	if o.Bucket == "" {
		return nil, fmt.Errorf("s3: bucket: must not be empty: %w", driver.ErrInvalidArgument)
	}
	where := "AWS S3"
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint: must be an http:// or https:// URL: %w", driver.ErrInvalidArgument)
		}
		u.User = nil
		where = u.String()
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, fmt.Errorf("s3: access_key_id and secret_access_key are set together or not at all: %w", driver.ErrInvalidArgument)
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	connect, request := o.ConnectTimeout, o.RequestTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	if request <= 0 {
		request = 30 * time.Second
	}
	var hc aws.HTTPClient = o.HTTPClient
	idle := func() {}
	if o.HTTPClient == nil {
		var transport *http.Transport
		hc = awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = connect }).
			WithTransportOptions(func(tr *http.Transport) {
				tr.TLSHandshakeTimeout = connect
				tr.MaxIdleConnsPerHost = 64
				transport = tr
			}).
			WithTimeout(request)
		idle = func() {
			if transport != nil {
				transport.CloseIdleConnections()
			}
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.AddWithErrorCodes(retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.RetryCount + 1
				so.MaxBackoff = 5 * time.Second
			}), transientCodes...)
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w: %w", err, driver.ErrInvalidArgument)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	b := &bucket{client: client, name: o.Bucket, describe: fmt.Sprintf("s3 bucket %q at %s", o.Bucket, where), idle: idle}
	switch o.ServerSideEncryption {
	case "":
	case "AES256":
		b.sse = types.ServerSideEncryptionAes256
	case "aws:kms":
		b.sse = types.ServerSideEncryptionAwsKms
		if o.SSEKMSKeyID != "" {
			b.kmsKey = aws.String(o.SSEKMSKeyID)
		}
	default:
		return nil, fmt.Errorf("s3: server_side_encryption %q: must be AES256, aws:kms or empty: %w", o.ServerSideEncryption, driver.ErrInvalidArgument)
	}
	return b, nil
}

func (b *bucket) Create(ctx context.Context, name string, body []byte) (string, error) {
	out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               &b.name,
		Key:                  &name,
		Body:                 bytes.NewReader(body),
		ContentLength:        aws.Int64(int64(len(body))),
		IfNoneMatch:          aws.String("*"),
		ServerSideEncryption: b.sse,
		SSEKMSKeyId:          b.kmsKey,
	})
	if err != nil {
		err = b.classify("create", name, err)
		if errors.Is(err, driver.ErrConflict) {
			// The SDK resends a PUT whose answer was lost; the resend then
			// finds the object the first attempt created. Bodies are unique
			// (random bytes in the header), so an object whose ETag is our
			// body's MD5 is ours (not with SSE-KMS, whose ETags are no MD5).
			sum := md5.Sum(body)
			if etag, serr := b.Stat(ctx, name); serr == nil && etag == hex.EncodeToString(sum[:]) {
				return etag, nil
			}
		}
		return "", err
	}
	if out.ETag == nil {
		return "", fmt.Errorf("%s: create %q: the server returned no ETag: %w", b.describe, name, driver.ErrUnsupported)
	}
	return objstore.NormalizeETag(*out.ETag), nil
}

func (b *bucket) Read(ctx context.Context, name string) ([]byte, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.name, Key: &name})
	if err != nil {
		return nil, "", b.classify("read", name, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: read %q: %w: %w", b.describe, name, err, driver.ErrUnavailable)
	}
	return body, objstore.NormalizeETag(aws.ToString(out.ETag)), nil
}

func (b *bucket) Stat(ctx context.Context, name string) (string, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.name, Key: &name})
	if err != nil {
		return "", b.classify("stat", name, err)
	}
	return objstore.NormalizeETag(aws.ToString(out.ETag)), nil
}

func (b *bucket) Remove(ctx context.Context, name string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.name, Key: &name})
	if err != nil {
		err = b.classify("delete", name, err)
		if errors.Is(err, driver.ErrNotFound) {
			return nil
		}
	}
	return err
}

func (b *bucket) List(ctx context.Context, prefix, startAfter string, limit int) (objstore.Listing, error) {
	in := &s3.ListObjectsV2Input{Bucket: &b.name, Prefix: &prefix, MaxKeys: aws.Int32(int32(limit))}
	if startAfter != "" {
		in.StartAfter = &startAfter
	}
	out, err := b.client.ListObjectsV2(ctx, in)
	if err != nil {
		return objstore.Listing{}, b.classify("list", prefix, err)
	}
	l := objstore.Listing{Objects: make([]objstore.Object, 0, len(out.Contents)), More: aws.ToBool(out.IsTruncated)}
	for _, c := range out.Contents {
		l.Objects = append(l.Objects, objstore.Object{
			Name:     aws.ToString(c.Key),
			ETag:     objstore.NormalizeETag(aws.ToString(c.ETag)),
			Size:     aws.ToInt64(c.Size),
			Modified: aws.ToTime(c.LastModified),
		})
	}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			l.ServerTime = t
		}
	}
	return l, nil
}

func (b *bucket) Probe(ctx context.Context) error {
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.name}); err != nil {
		return b.classify("probe (HeadBucket)", "", err)
	}
	return nil
}

func (b *bucket) Close() error {
	b.idle()
	return nil
}
