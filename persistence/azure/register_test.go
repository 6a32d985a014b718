package azure_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/azure"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func TestOptionsFromConfig(t *testing.T) {
	c := config.DefaultAzureConfig()
	c.AccountName, c.AccountKey, c.ContainerName = "acct", "a2V5LVNlY3JldC0x", "ctr"
	c.Endpoint, c.TombstoneRetention, c.ConnectionTimeout, c.RetryCount = "http://127.0.0.1:10000/acct", 120, 7, 5
	o, err := azure.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "http://127.0.0.1:10000/acct" || o.AccountName != "acct" || o.AccountKey != "a2V5LVNlY3JldC0x" ||
		o.Container != "ctr" || o.Prefix != "orbit" || o.TombstoneRetention != 2*time.Minute ||
		o.ConnectTimeout != 7*time.Second || o.RequestTimeout != 7*time.Second || o.RetryCount != 5 ||
		o.SASToken != "" || o.ConnectionString != "" || o.Credential != nil {
		t.Fatalf("options = %+v", o)
	}
	c.AccountKey, c.SASToken = "", "?sv=2024&sig=x"
	if o, err = azure.OptionsFromConfig(&c); err != nil || o.SASToken != "?sv=2024&sig=x" || o.AccountKey != "" {
		t.Fatalf("SAS: options = %+v, %v", o, err)
	}
	c = config.DefaultAzureConfig()
	c.ContainerName, c.ConnectionString = "ctr", "UseDevelopmentStorage=true"
	if o, err = azure.OptionsFromConfig(&c); err != nil || o.ConnectionString != "UseDevelopmentStorage=true" || o.AccountName != "" || o.RetryCount != 3 {
		t.Fatalf("connection string: options = %+v, %v", o, err)
	}
}

func TestOptionsFromConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.AzureConfig)
		want string
	}{
		{"no container", func(c *config.AzureConfig) { c.ContainerName = "" }, "container_name"},
		{"no account", func(c *config.AzureConfig) { c.AccountName = "" }, "account_name"},
		{"key and SAS", func(c *config.AzureConfig) { c.SASToken = "sv=x&sig=Secret-3" }, "sas_token"},
		{"connection string and key", func(c *config.AzureConfig) { c.ConnectionString = "AccountName=a;AccountKey=Secret-3" }, "account_key"},
		{"retention", func(c *config.AzureConfig) { c.TombstoneRetention = 0 }, "tombstone_retention"},
		{"endpoint", func(c *config.AzureConfig) { c.Endpoint = "ftp://host" }, "endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.DefaultAzureConfig()
			c.AccountName, c.AccountKey, c.ContainerName = "acct", "a2V5LVNlY3JldC0z", "ctr"
			tc.edit(&c)
			_, err := azure.OptionsFromConfig(&c)
			if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) ||
				strings.Contains(err.Error(), "Secret-3") || strings.Contains(err.Error(), "a2V5LVNlY3JldC0z") {
				t.Fatalf("error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// Options that cannot work fail before any request, without a secret in
// the message.
func TestOpenInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    azure.Options
		want string
	}{
		{"no container", azure.Options{AccountName: "a", AccountKey: "a2V5"}, "container"},
		{"no account nor endpoint", azure.Options{Container: "c", SASToken: "sig=Secret-5"}, "account_name"},
		{"key not base64", azure.Options{AccountName: "a", AccountKey: "not base64 Secret-5", Container: "c"}, "account_key"},
		{"key without account", azure.Options{Endpoint: "http://127.0.0.1:1/a", AccountKey: "a2V5", Container: "c"}, "account_name"},
		{"key and SAS", azure.Options{AccountName: "a", AccountKey: "a2V5", SASToken: "sig=Secret-5", Container: "c"}, "exclude"},
		{"connection string and endpoint", azure.Options{ConnectionString: "AccountName=a;AccountKey=U2VjcmV0LTU=", Endpoint: "http://h", Container: "c"}, "alone"},
		{"bad connection string", azure.Options{ConnectionString: "Secret-5", Container: "c"}, "connection_string"},
		{"endpoint with a query", azure.Options{Endpoint: "http://h/a?sig=Secret-5", AccountName: "a", AccountKey: "a2V5", Container: "c"}, "endpoint"},
		{"token over http", azure.Options{Endpoint: "http://127.0.0.1:1/a", Container: "c"}, "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azure.Open(context.Background(), tc.o)
			if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) ||
				strings.Contains(err.Error(), "Secret-5") || strings.Contains(err.Error(), "U2VjcmV0LTU=") {
				t.Fatalf("error = %v, want ErrInvalidArgument naming %s", err, tc.want)
			}
		})
	}
}

// noSecret fails the test when msg holds one of the secrets.
func noSecret(t *testing.T, what, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("%s: the message holds a secret (%.6s...): %s", what, s, msg)
		}
	}
}

// containerSAS returns a SAS with the permissions docs/azure.md lists on
// the container, without the leading "?".
func containerSAS(t *testing.T, srv *azuritetest.Server, ctr string) string {
	t.Helper()
	u, err := srv.Client(t).ServiceClient().NewContainerClient(ctr).GetSASURL(
		sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true},
		time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, q, _ := strings.Cut(u, "?")
	return q
}

// Wrong credentials and a missing container fail to open with an error
// that names the endpoint and the container, never a secret; the provider
// opens through the registry with a shared key, a connection string and a
// SAS token, all seeing the same records.
func TestOpen(t *testing.T) {
	srv := azuritetest.Start(t)
	ctx := context.Background()

	c := azureConfig(srv)
	c.AccountKey = "d3JvbmctU2VjcmV0LTQtd3Jvbmc="
	_, err := persistence.Open(ctx, "a", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), srv.Endpoint) ||
		!strings.Contains(err.Error(), srv.Container) || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("open with a wrong key = %v", err)
	}
	noSecret(t, "wrong key", err.Error(), c.AccountKey, srv.AccountKey)
	t.Logf("wrong key: %v", err)

	c = azureConfig(srv)
	c.ContainerName = "no-such-container"
	_, err = persistence.Open(ctx, "a", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), `"no-such-container"`) ||
		!strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("open of a missing container = %v", err)
	}
	t.Logf("missing container: %v", err)

	c = azureConfig(srv)
	p, err := persistence.Open(ctx, "a", &c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if got := p.Capabilities().String(); got != "cache-stats,health" {
		t.Fatalf("capabilities = %s", got)
	}
	n := persistence.NodeID{Namespace: "default", Key: "n1"}
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey("k")}
	if _, err := p.Addressables().Place(ctx, ref, n, time.Minute); err != nil {
		t.Fatal(err)
	}
	sees := func(what string, cfg *config.AzureConfig) {
		t.Helper()
		q, err := persistence.Open(ctx, what, cfg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer q.Close(ctx)
		if l, err := q.Addressables().Get(ctx, ref); err != nil || l.Node != n {
			t.Fatalf("%s: does not see the lease: %+v, %v", what, l, err)
		}
	}

	cs := config.DefaultAzureConfig()
	cs.ContainerName, cs.ConnectionString = srv.Container, srv.ConnectionString()
	sees("connection string", &cs)

	token := containerSAS(t, srv, srv.Container)
	sc := config.DefaultAzureConfig()
	sc.Endpoint, sc.AccountName, sc.ContainerName, sc.SASToken = srv.Endpoint, srv.AccountName, srv.Container, "?"+token
	sees("container SAS", &sc)

	accountSAS, err := srv.Client(t).ServiceClient().GetSASURL(sas.AccountResourceTypes{Container: true, Object: true},
		sas.AccountPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sc.SASToken, _ = strings.Cut(accountSAS, "?")
	sees("account SAS", &sc)
	missing := sc
	missing.ContainerName = "no-such-container"
	_, err = persistence.Open(ctx, "a", &missing)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open of a missing container with an account SAS = %v", err)
	}
	noSecret(t, "missing container with a SAS", err.Error(), sc.SASToken)

	csSAS := config.DefaultAzureConfig()
	csSAS.ContainerName = srv.Container
	csSAS.ConnectionString = "BlobEndpoint=" + srv.Endpoint + ";SharedAccessSignature=" + token
	sees("connection string with a SAS", &csSAS)

	// A SAS with a wrong signature, in the endpoint-and-token form and in a
	// connection string: access denied, and neither the token nor its
	// signature in the message.
	v, _ := url.ParseQuery(token)
	sig := v.Get("sig")
	v.Set("sig", "d3JvbmctU2lnbmF0dXJlLTc=")
	bad := v.Encode()
	sc.SASToken = bad
	_, err = persistence.Open(ctx, "a", &sc)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("open with a wrong SAS = %v", err)
	}
	noSecret(t, "wrong SAS", err.Error(), bad, "d3JvbmctU2lnbmF0dXJlLTc", sig)
	t.Logf("wrong SAS: %v", err)

	cs.ConnectionString = strings.Replace(srv.ConnectionString(), srv.AccountKey, "d3JvbmctU2VjcmV0LTQtd3Jvbmc=", 1)
	_, err = persistence.Open(ctx, "a", &cs)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("open with a connection string holding a wrong key = %v", err)
	}
	noSecret(t, "connection string with a wrong key", err.Error(), cs.ConnectionString, "d3JvbmctU2VjcmV0LTQtd3Jvbmc=")
}

// closedPort returns an address of 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// staticToken is a TokenCredential that hands out a fixed token.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "token-Secret-8", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// An unreachable endpoint fails to open with ErrUnavailable naming it, in
// every authentication mode; the SAS, which travels in the URL, is not in
// the message.
func TestOpenUnreachable(t *testing.T) {
	addr := closedPort(t)
	endpoint := "http://" + addr + "/devstoreaccount1"
	token := "sv=2024-08-04&ss=b&srt=co&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=U2VjcmV0LVNpZy05JTJGJTJCYQ%3D%3D"
	for _, tc := range []struct {
		name string
		o    azure.Options
	}{
		{"shared key", azure.Options{Endpoint: endpoint, AccountName: azuritetest.AccountName, AccountKey: azuritetest.AccountKey}},
		{"SAS", azure.Options{Endpoint: endpoint, SASToken: token}},
		{"connection string", azure.Options{ConnectionString: "BlobEndpoint=" + endpoint + ";SharedAccessSignature=" + token}},
		{"token", azure.Options{Endpoint: "https://" + addr + "/devstoreaccount1", Credential: staticToken{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Container, tc.o.ConnectTimeout, tc.o.RetryCount = "ctr", 2*time.Second, 0
			_, err := azure.Open(context.Background(), tc.o)
			if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), `"ctr"`) {
				t.Fatalf("error = %v", err)
			}
			noSecret(t, tc.name, err.Error(), azuritetest.AccountKey, token, "U2VjcmV0LVNpZy05", "token-Secret-8")
			t.Logf("%v", err)
		})
	}
}

// Health follows the server: Unhealthy (naming the endpoint and the
// container) while it is down, Healthy again after it restarts, without
// reopening; operations fail with ErrUnavailable meanwhile and work again
// after. Down once by a clean stop (Azurite saves its data) and once by
// SIGKILL.
func TestHealthRecovers(t *testing.T) {
	srv := azuritetest.StartPersistent(t)
	ctx := context.Background()
	c := azureConfig(srv)
	c.ConnectionTimeout, c.RetryCount = 2, 0
	s := openConfig(t, c)
	if _, err := s.Put(ctx, "k", []byte("v"), driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
	down := func(what string) {
		t.Helper()
		h := s.HealthCheck(ctx)
		if h.Status != driver.Unhealthy || !strings.Contains(h.Reason, srv.Endpoint) || !strings.Contains(h.Reason, srv.Container) {
			t.Fatalf("health while %s = %+v", what, h)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, driver.ErrUnavailable) {
			t.Fatalf("get while %s = %v, want ErrUnavailable", what, err)
		}
	}
	srv.Stop(t)
	down("stopped")
	srv.Restart(t)
	if h := s.HealthCheck(ctx); h.Status != driver.Healthy {
		t.Fatalf("health after restart = %+v", h)
	}
	if e, err := s.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("get after restart = %q, %v", e.Value, err)
	}

	srv.Kill(t)
	down("killed")
	srv.Restart(t)
	if h := s.HealthCheck(ctx); h.Status != driver.Healthy {
		t.Fatalf("health after kill and restart = %+v", h)
	}
	if _, err := s.Put(ctx, "k2", []byte("v2"), driver.CreateOnly()); err != nil {
		t.Fatalf("put after kill and restart: %v", err)
	}
}
