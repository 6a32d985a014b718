package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

// The example provider written out of tree: its own configuration type,
// registered with config.RegisterType and persistence.RegisterDriver from
// init, and a factory that opens the memory driver. docs/configuration.md
// ("Providers written out of tree") shows the same code as a package of its
// own; keep the two in sync. Only the recording of the received
// configurations is particular to the test.

// TypeExample is the provider type named in configuration files.
const TypeExample config.ProviderType = "Example"

// ExampleConfig configures the Example provider.
type ExampleConfig struct {
	// Label names the store in logs; required.
	Label string `toml:"label" json:"label"`
	// MaxEntries bounds the stored entries; 0 means unlimited.
	MaxEntries int `toml:"max_entries" json:"max_entries"`
	// Tags are free-form labels.
	Tags []string `toml:"tags" json:"tags"`
	// Token is a credential: never rendered, never echoed in errors.
	Token string `toml:"token" json:"token" secret:"true"`
}

// DefaultExampleConfig returns label "example" and at most 10,000 entries.
func DefaultExampleConfig() ExampleConfig {
	return ExampleConfig{Label: "example", MaxEntries: 10_000}
}

// ProviderType returns TypeExample (also on a nil pointer).
func (*ExampleConfig) ProviderType() config.ProviderType { return TypeExample }

// Validate requires a label and max_entries ≥ 0, naming the bad key.
func (c *ExampleConfig) Validate() error {
	var errs []error
	if c.Label == "" {
		errs = append(errs, config.KeyError("label", "must not be empty"))
	}
	if c.MaxEntries < 0 {
		errs = append(errs, config.KeyError("max_entries", "must not be negative, got %d", c.MaxEntries))
	}
	return errors.Join(errs...)
}

// String, Format and MarshalJSON render the configuration redacted.
func (c ExampleConfig) String() string               { return string(config.RedactedJSON(&c)) }
func (c ExampleConfig) Format(f fmt.State, _ rune)   { _, _ = f.Write(config.RedactedJSON(&c)) }
func (c ExampleConfig) MarshalJSON() ([]byte, error) { return config.RedactedJSON(&c), nil }

func init() {
	config.RegisterType(TypeExample, func() config.ProviderConfig { c := DefaultExampleConfig(); return &c })
	persistence.RegisterDriver(TypeExample, openExample)
}

// openExample is the driver factory: cfg is a validated *ExampleConfig.
func openExample(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
	c := cfg.(*ExampleConfig)
	exampleOpened.record(env.Name, *c) // test only
	return memory.Open(ctx, memory.Options{
		MaxEntries: c.MaxEntries,
		Uncounted:  persistence.IndexKeyPrefix, // the lease logic's index entries do not count
		Logger:     env.Logger,
	})
}

// exampleOpened records what the example factory received (test only).
var exampleOpened openedConfigs

type openedConfigs struct {
	mu sync.Mutex
	m  map[string]ExampleConfig
}

func (o *openedConfigs) record(name string, c ExampleConfig) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[string]ExampleConfig)
	}
	o.m[name] = c
}

func (o *openedConfigs) get(name string) (ExampleConfig, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, ok := o.m[name]
	return c, ok
}

const exampleTOML = `
[defaults]
addressable = "ex"
cluster = "ex"

[providers.ex]
type = "Example"
label = "from-file"
max_entries = 500
tags = ["blue", "green"]
token = "tok-s3cr3t-value"
`

func writeConfig(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// (a) A file naming the out-of-tree type loads, takes environment
// overrides, validates and opens; the factory receives the decoded values,
// and the registry's default provider places and reads a lease.
func TestOutOfTreeProviderFromTOML(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, "orbit.toml", exampleTOML)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ApplyEnv([]string{"ORBIT_PROVIDER_EX_MAX_ENTRIES=600"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := persistence.OpenRegistry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	got, ok := exampleOpened.get("ex")
	want := ExampleConfig{Label: "from-file", MaxEntries: 600, Tags: []string{"blue", "green"}, Token: "tok-s3cr3t-value"}
	if !ok || got.Label != want.Label || got.MaxEntries != want.MaxEntries || !slices.Equal(got.Tags, want.Tags) || got.Token != want.Token {
		t.Fatalf("the factory received %#v (%v), want %#v", got, ok, want)
	}
	p, err := r.DefaultAddressableProvider()
	if err != nil || p.Name() != "ex" || p.Type() != string(TypeExample) {
		t.Fatalf("default addressable provider = %v, %v", p, err)
	}
	if c, err := r.DefaultClusterProvider(); err != nil || c != p {
		t.Fatalf("default cluster provider = %v, %v", c, err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}
	node := persistence.NodeID{Namespace: "default", Key: "node-a"}
	placed, err := p.Addressables().Place(ctx, ref, node, time.Minute)
	if err != nil || placed.Node != node {
		t.Fatalf("Place = %+v, %v", placed, err)
	}
	read, err := p.Addressables().Get(ctx, ref)
	if err != nil || read.Node != node || read.Epoch != placed.Epoch {
		t.Fatalf("Get = %+v, %v; placed %+v", read, err, placed)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// (b) Strict decoding applies to the out-of-tree type: an unknown key, a
// value of the wrong type and a bad value name the file, the provider and
// the key; an unknown type lists the registered ones, Example included.
func TestOutOfTreeProviderErrors(t *testing.T) {
	path := writeConfig(t, "orbit.toml", exampleTOML+"colour = \"red\"\nmax_entires = 3\n")
	_, err := config.Load(path)
	if err == nil || !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("Load with unknown keys: %v", err)
	}
	for _, want := range []string{
		path + `: providers.ex: unknown key "colour"`,
		path + `: providers.ex: unknown key "max_entires" (did you mean "max_entries"?)`,
	} {
		if !slices.Contains(strings.Split(err.Error(), "\n"), want) {
			t.Errorf("error\n%v\nhas no line %q", err, want)
		}
	}

	path = writeConfig(t, "orbit.json", `{"providers": {"ex": {"type": "Example", "max_entries": "many"}}}`)
	if _, err := config.Load(path); err == nil || err.Error() != path+`: providers.ex.max_entries: expected integer, got string` {
		t.Errorf("Load with a wrong value type: %v", err)
	}

	// The type's own Validate runs in Config.Validate and before opening.
	path = writeConfig(t, "bad.toml", "[providers.ex]\ntype = \"Example\"\nlabel = \"\"\nmax_entries = -1\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil || err.Error() != path+": providers.ex.label: must not be empty\n"+path+": providers.ex.max_entries: must not be negative, got -1" {
		t.Errorf("Validate = %v", err)
	}
	if _, err := persistence.OpenRegistry(context.Background(), cfg); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Errorf("OpenRegistry of an invalid Example = %v", err)
	}

	path = writeConfig(t, "typo.toml", "[providers.ex]\ntype = \"Exampel\"\n")
	_, err = config.Load(path)
	if err == nil || !strings.Contains(err.Error(), `unknown provider type "Exampel" (did you mean "Example"?)`) ||
		!strings.Contains(err.Error(), "Composite, Example)") {
		t.Errorf("unknown type: %v", err)
	}
	if ts := config.Types(); ts[len(ts)-1] != TypeExample || ts[0] != config.TypeMemory {
		t.Errorf("Types() = %v", ts)
	}
	if pc, err := config.ProviderConfigFor(TypeExample); err != nil || !reflect.DeepEqual(*pc.(*ExampleConfig), DefaultExampleConfig()) {
		t.Errorf("ProviderConfigFor(Example) = %v, %v", pc, err)
	}
}

// (c) The secret of the out-of-tree type never appears in a rendering of
// the configuration, nor in a print of the provider's own configuration.
func TestOutOfTreeProviderSecretRedacted(t *testing.T) {
	cfg, err := config.Load(writeConfig(t, "orbit.toml", exampleTOML))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Providers["ex"]
	pjs, err := json.Marshal(pc)
	if err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{
		"String": cfg.String(), "json.Marshal(cfg)": string(js), "fmt(cfg)": fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		"Redacted": cfg.Redacted().String(), "fmt(provider)": fmt.Sprintf("%v %+v %#v %s", pc, pc, pc, *pc.(*ExampleConfig)),
		"json.Marshal(provider)": string(pjs),
	} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s shows the secret:\n%s", what, out)
		}
		if !strings.Contains(out, "token") || !strings.Contains(out, config.RedactedValue) || !strings.Contains(out, "from-file") {
			t.Errorf("%s does not show the redacted configuration:\n%s", what, out)
		}
	}
	if pc.(*ExampleConfig).Token != "tok-s3cr3t-value" {
		t.Fatal("rendering modified the configuration")
	}
}

// halfConfig is registered by TestRegisterProviderType.
type halfConfig struct {
	Path string `toml:"path"`
}

func (*halfConfig) ProviderType() config.ProviderType { return "Half" }
func (*halfConfig) Validate() error                   { return nil }

// RegisterProviderType registers both halves, or (on misuse of the driver
// half) neither.
func TestRegisterProviderType(t *testing.T) {
	newHalf := func() config.ProviderConfig { return &halfConfig{Path: "/h"} }
	factory := func(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
		return memory.Open(ctx, memory.Options{Logger: env.Logger})
	}
	mustPanic := func(what, want string, f func()) {
		t.Helper()
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, want) {
				t.Errorf("%s: panic %q, want one containing %q", what, msg, want)
			}
		}()
		f()
	}
	mustPanic("nil factory", "factory is nil for Half", func() { persistence.RegisterProviderType("Half", newHalf, nil) })
	mustPanic("driver registered", "a driver is already registered for Memory", func() {
		persistence.RegisterProviderType(config.TypeMemory, func() config.ProviderConfig { c := config.DefaultMemoryConfig(); return &c }, factory)
	})
	if slices.Contains(config.Types(), "Half") {
		t.Fatal("a failed RegisterProviderType registered the configuration type")
	}
	persistence.RegisterProviderType("Half", newHalf, factory)
	if !slices.Contains(config.Types(), "Half") || !slices.Contains(persistence.RegisteredTypes(), "Half") {
		t.Fatalf("types %v, drivers %v: want Half in both", config.Types(), persistence.RegisteredTypes())
	}
	cfg, err := config.Parse([]byte("[providers.h]\ntype = \"Half\"\n"), config.FormatTOML, "h.toml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := persistence.OpenRegistry(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The example in docs/configuration.md ("Providers written out of tree") is
// the code above, from TypeExample to openExample, without the test's
// recording.
func TestOutOfTreeExampleMatchesDocs(t *testing.T) {
	docs, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("outoftree_test.go")
	if err != nil {
		t.Fatal(err)
	}
	span := func(s string) string {
		i := strings.Index(s, "// TypeExample is")
		if i < 0 {
			return ""
		}
		j := strings.Index(s[i:], "func openExample")
		k := strings.Index(s[i+j:], "\n}\n")
		if j < 0 || k < 0 {
			return ""
		}
		return s[i : i+j+k+3]
	}
	d := string(docs)
	if i := strings.Index(d, "## 6. Providers written out of tree"); i >= 0 {
		d = d[i:]
	}
	want := strings.Replace(span(string(src)), "\texampleOpened.record(env.Name, *c) // test only\n", "", 1)
	if got := span(d); want == "" || got != want {
		t.Fatalf("the example in docs/configuration.md differs from persistence/outoftree_test.go:\n--- docs\n%s\n--- test\n%s", got, want)
	}
}
