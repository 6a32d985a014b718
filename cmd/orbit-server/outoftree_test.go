package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/server"
)

// A provider written out of tree, as a binary built from this command
// would blank-import it (the full example, with its own tests, is in
// persistence/outoftree_test.go and docs/configuration.md).

const typeOutOfTree config.ProviderType = "Example"

type outOfTreeConfig struct {
	Label string `toml:"label" json:"label"`
	Token string `toml:"token" json:"token" secret:"true"`
}

func (*outOfTreeConfig) ProviderType() config.ProviderType { return typeOutOfTree }

func (c *outOfTreeConfig) Validate() error {
	if c.Label == "" {
		return config.KeyError("label", "must not be empty")
	}
	return nil
}

func (c outOfTreeConfig) String() string               { return string(config.RedactedJSON(&c)) }
func (c outOfTreeConfig) Format(f fmt.State, _ rune)   { _, _ = f.Write(config.RedactedJSON(&c)) }
func (c outOfTreeConfig) MarshalJSON() ([]byte, error) { return config.RedactedJSON(&c), nil }

func init() {
	config.RegisterType(typeOutOfTree, func() config.ProviderConfig { return &outOfTreeConfig{Label: "example"} })
	persistence.RegisterDriver(typeOutOfTree, func(ctx context.Context, _ config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
		return memory.Open(ctx, memory.Options{Uncounted: persistence.IndexKeyPrefix, Logger: env.Logger})
	})
}

// The commands and the serve path (loadConfig, then
// server.NewBuilder().WithPersistence(cfg).Build) work with a provider
// type registered out of tree: config validate and show (redacted), check,
// and a server on a loopback port that a client joins and places through.
func TestOutOfTreeProviderServes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orbit.toml")
	writeFile(t, path, "[providers.ex]\ntype = \"Example\"\nlabel = \"cli\"\ntoken = \"tok-s3cr3t\"\n")

	if code, out, errOut := runCLI(t, "config", "validate", path); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("config validate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "config", "show", path)
	if code != 0 || strings.Contains(out+errOut, "s3cr3t") || !strings.Contains(out, `type = "Example"`) || !strings.Contains(out, `token = "REDACTED"`) {
		t.Fatalf("config show: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "check", "--config", path); code != 0 || !strings.Contains(out, "Example") || !strings.Contains(out, "Healthy") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.Contains(out, "Example") {
		t.Fatalf("version does not list the registered driver: %q", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := loadConfig(path) // what serve --config does
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("").
		WithPersistence(cfg).WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Stop(ctx)
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if p, err := srv.PersistenceRegistry().DefaultAddressableProvider(); err != nil || p.Type() != string(typeOutOfTree) {
		t.Fatalf("the server's addressable provider = %v, %v", p, err)
	}
	c, err := client.Dial(ctx, srv.Addr(), client.WithConnectTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{Key: "node-a", URL: "grpc://127.0.0.1:9000",
		Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}
	placed, _, err := c.LocateOrPlace(ctx, ref)
	if err != nil || placed.Node != n.ID() {
		t.Fatalf("placement = %+v, %v", placed, err)
	}
	if err := n.Leave(ctx); err != nil {
		t.Fatal(err)
	}

	// An invalid value is reported by the type's own Validate, naming the file, provider and key.
	writeFile(t, path, "[providers.ex]\ntype = \"Example\"\nlabel = \"\"\n")
	if _, err := loadConfig(path); err == nil || !errors.Is(err, persistence.ErrInvalidArgument) ||
		err.Error() != path+": providers.ex.label: must not be empty" {
		t.Fatalf("loadConfig of an invalid Example: %v", err)
	}
}
