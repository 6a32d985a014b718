package azuritetest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode checks that err is an azcore.ResponseError with status and code.
func wantCode(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s: %v, want HTTP %d %s", what, err, status, code)
	}
}

func ifNoneMatch() *blockblob.UploadOptions {
	return &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}}
}

func upload(ctx context.Context, c *azblob.Client, ctr, name, body string, o *blockblob.UploadOptions) (azcore.ETag, error) {
	r, err := c.ServiceClient().NewContainerClient(ctr).NewBlockBlobClient(name).UploadBuffer(ctx, []byte(body), &blockblob.UploadBufferOptions{AccessConditions: o.AccessConditions})
	if err != nil {
		return "", err
	}
	return *r.ETag, nil
}

func listNames(t *testing.T, ctx context.Context, cc *container.Client, o *container.ListBlobsFlatOptions) (names []string, pages int) {
	t.Helper()
	p := cc.NewListBlobsFlatPager(o)
	for p.More() {
		r, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if r.Date == nil {
			t.Fatalf("list: no Date header")
		}
		pages++
		for _, it := range r.Segment.BlobItems {
			names = append(names, *it.Name)
		}
	}
	return names, pages
}

// TestAzurite checks the behaviours the Azure provider relies on, as the
// package documentation states them.
func TestAzurite(t *testing.T) {
	s := azuritetest.Start(t)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || !strings.HasSuffix(s.Endpoint, "/devstoreaccount1") || s.Container == "" || s.Persistent {
		t.Fatalf("server %+v", s)
	}
	ctx := ctx(t)
	c := s.Client(t)
	cc := c.ServiceClient().NewContainerClient(s.Container)

	// Create only: If-None-Match "*" wins once; 409 BlobAlreadyExists.
	name := "a/k!!/0000000000000001-0000000000000000"
	etag, err := upload(ctx, c, s.Container, name, "v1", ifNoneMatch())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(etag), `"0x`) {
		t.Errorf("upload ETag %s: want a quoted 0x... value", etag)
	}
	_, err = upload(ctx, c, s.Container, name, "v2", ifNoneMatch())
	wantCode(t, "second create-only upload", err, http.StatusConflict, "BlobAlreadyExists")

	// A stale If-Match: 412 ConditionNotMet.
	stale := &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(`"0x1"`))}}}
	_, err = upload(ctx, c, s.Container, name, "v2", stale)
	wantCode(t, "upload with a stale If-Match", err, http.StatusPreconditionFailed, "ConditionNotMet")

	// The same body written again gets a new ETag (not a content hash).
	bc := cc.NewBlobClient(name)
	if _, err := bc.Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	etag2, err := upload(ctx, c, s.Container, name, "v1", ifNoneMatch())
	if err != nil || etag2 == etag {
		t.Fatalf("re-creation with the same body: ETag %s (was %s), %v", etag2, etag, err)
	}

	// Missing blob and container.
	_, err = cc.NewBlobClient("nope").DownloadStream(ctx, nil)
	wantCode(t, "GET of a missing blob", err, http.StatusNotFound, "BlobNotFound")
	_, err = cc.NewBlobClient("nope").GetProperties(ctx, nil)
	wantCode(t, "HEAD of a missing blob", err, http.StatusNotFound, "BlobNotFound")
	_, err = c.ServiceClient().NewContainerClient("no-such-container").GetProperties(ctx, nil)
	wantCode(t, "HEAD of a missing container", err, http.StatusNotFound, "ContainerNotFound")

	// A wrong key: 403.
	wrong, _ := azblob.NewSharedKeyCredential(s.AccountName, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")
	wc, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint, wrong, azuritetest.ClientOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wc.ServiceClient().NewContainerClient(s.Container).GetProperties(ctx, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong key: %v, want 403", err)
	}
	t.Logf("wrong key: %d %s", re.StatusCode, re.ErrorCode)

	// Listings: byte order, prefix, maxresults, markers; ETags unquoted;
	// startFrom ignored.
	for _, n := range []string{"p/b", "p!x", "p/a", "p/b!", "p/c", "q/a"} {
		if _, err := upload(ctx, c, s.Container, n, n, ifNoneMatch()); err != nil {
			t.Fatal(err)
		}
	}
	names, pages := listNames(t, ctx, cc, &container.ListBlobsFlatOptions{Prefix: to.Ptr("p"), MaxResults: to.Ptr(int32(2))})
	if got := strings.Join(names, " "); got != "p!x p/a p/b p/b! p/c" || pages != 3 {
		t.Fatalf("listing of p in pages of 2: %q in %d pages", got, pages)
	}
	names, _ = listNames(t, ctx, cc, &container.ListBlobsFlatOptions{Prefix: to.Ptr("p/"), StartFrom: to.Ptr("p/b!")})
	if got := strings.Join(names, " "); got != "p/a p/b p/b! p/c" {
		t.Fatalf("listing with startFrom: %q (Azurite 3.35 ignores startFrom; has that changed?)", got)
	}
	p := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr("p/a")})
	r, err := p.NextPage(ctx)
	if err != nil || len(r.Segment.BlobItems) != 1 {
		t.Fatalf("listing of p/a: %v", err)
	}
	if e := string(*r.Segment.BlobItems[0].Properties.ETag); strings.HasPrefix(e, `"`) {
		t.Errorf("listed ETag %s is quoted", e)
	}
}

// Of 16 concurrent create-only uploads of one name, exactly one wins.
func TestCreateOnlyIsAtomic(t *testing.T) {
	s := azuritetest.Start(t)
	ctx := ctx(t)
	c := s.Client(t)
	for round := 0; round < 20; round++ {
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := upload(ctx, c, s.Container, fmt.Sprint("race-", round), fmt.Sprint("w", w), ifNoneMatch())
				var re *azcore.ResponseError
				switch {
				case err == nil:
					wins.Add(1)
				case errors.As(err, &re) && re.ErrorCode == "BlobAlreadyExists":
					conflicts.Add(1)
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 15 {
			t.Fatalf("round %d: %d wins, %d conflicts", round, wins.Load(), conflicts.Load())
		}
	}
}

// A persistent server keeps containers and blobs across Stop and Restart,
// on the same endpoint; Kill and Restart work too.
func TestRestart(t *testing.T) {
	s := azuritetest.StartPersistent(t)
	ctx := ctx(t)
	c := s.Client(t)
	if _, err := upload(ctx, c, s.Container, "k", "v", ifNoneMatch()); err != nil {
		t.Fatal(err)
	}
	endpoint := s.Endpoint
	s.Stop(t)
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if resp, err := http.Get(s.Endpoint + "?comp=list"); err == nil {
		resp.Body.Close()
		t.Fatal("the server answers after Stop")
	}
	s.Restart(t)
	if s.Endpoint != endpoint || !s.Running() {
		t.Fatalf("endpoint after restart %s, was %s", s.Endpoint, endpoint)
	}
	if _, err := c.ServiceClient().NewContainerClient(s.Container).NewBlobClient("k").GetProperties(ctx, nil); err != nil {
		t.Fatalf("the blob after a clean restart: %v", err)
	}
	s.Kill(t)
	s.Restart(t)
	if _, err := c.ServiceClient().NewContainerClient(s.Container).GetProperties(ctx, nil); err != nil {
		t.Fatalf("the container (saved by the clean stop) after Kill and Restart: %v", err)
	}

	m := azuritetest.Start(t)
	m.Kill(t)
	m.Restart(t)
	_, err := m.Client(t).ServiceClient().NewContainerClient(m.Container).GetProperties(ctx, nil)
	wantCode(t, "in-memory container after a restart", err, http.StatusNotFound, "ContainerNotFound")
}

// The connection string reaches the server.
func TestConnectionString(t *testing.T) {
	s := azuritetest.Start(t)
	c, err := azblob.NewClientFromConnectionString(s.ConnectionString(), azuritetest.ClientOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceClient().NewContainerClient(s.Container).GetProperties(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
}
