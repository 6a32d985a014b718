package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// unregisterType undoes RegisterType, so that the types a test registers do
// not change the messages other tests pin (the list of known types).
func unregisterType(t ProviderType) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	e, ok := registry.byName[t]
	if !ok {
		return
	}
	delete(registry.byName, t)
	delete(registry.byGoType, e.goType)
	registry.order = slices.DeleteFunc(registry.order, func(x ProviderType) bool { return x == t })
}

// register registers a type for the duration of the test.
func register(t *testing.T, typ ProviderType, newDefault func() ProviderConfig) {
	t.Helper()
	RegisterType(typ, newDefault)
	t.Cleanup(func() { unregisterType(typ) })
}

// boltConfig is registered by the tests as an out-of-tree provider would
// register its configuration: a key of every kind the decoder reads, two
// secrets, a table set by default and one nil by default.
type boltConfig struct {
	Path     string      `toml:"path" json:"path"`
	Pages    int         `toml:"pages" json:"pages"`
	Big      int64       `toml:"big" json:"big"`
	ReadOnly bool        `toml:"read_only" json:"read_only"`
	Peers    []string    `toml:"peers" json:"peers" secret:"userinfo"`
	Token    string      `toml:"token" json:"token" secret:"true"`
	Codec    Compression `toml:"codec" json:"codec"`
	Mode     boltMode    `toml:"mode" json:"mode"`
	Limits   *boltLimits `toml:"limits" json:"limits"`
	Spill    *boltSpill  `toml:"spill" json:"spill"`
	Runtime  string      `toml:"-"` // not a key
	internal int         // not a key
}

type boltMode string

type boltLimits struct {
	Depth int    `toml:"depth"`
	Name  string `toml:"name"`
}

type boltSpill struct {
	Dir string `toml:"dir"`
	Key string `toml:"key" secret:"true"`
}

const typeBolt ProviderType = "Bolt"

func (*boltConfig) ProviderType() ProviderType { return typeBolt }

func (c *boltConfig) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, KeyError("path", "must not be empty"))
	}
	if c.Pages < 1 {
		errs = append(errs, KeyError("pages", "must be at least 1, got %d", c.Pages))
	}
	if c.Limits != nil && c.Limits.Depth > 10 {
		errs = append(errs, KeyError("limits.depth", "must be at most 10, got %d", c.Limits.Depth))
	}
	if c.Mode == "plain" {
		errs = append(errs, errors.New("mode plain: a plain error")) // not a KeyError
	}
	return errors.Join(errs...)
}

// sharedLimits is the table of every default boltConfig: ProviderConfigFor
// must copy it, so that decoding never changes it.
var sharedLimits = boltLimits{Depth: 3, Name: "default"}

func newBolt() ProviderConfig {
	return &boltConfig{Pages: 8, Mode: "fast", Limits: &sharedLimits, Runtime: "r"}
}

const boltTOML = `
[defaults]
addressable = "b"
cluster = "m"

[providers.m]
type = "Memory"

[providers.b]
type = "Bolt"
path = "/data/bolt"
pages = 16
big = 5000000000
read_only = true
peers = ["https://u:peer-s3cr3t@p1:1", "p2:2"]
token = "tok-s3cr3t"
codec = "zstd"
mode = "safe"
limits = { name = "L" }

[providers.b.spill]
dir = "/spill"
key = "spill-s3cr3t"
`

const boltJSON = `{
  "defaults": {"addressable": "b", "cluster": "m"},
  "providers": {
    "m": {"type": "Memory"},
    "b": {"type": "Bolt", "path": "/data/bolt", "pages": 16, "big": 5000000000, "read_only": true,
          "peers": ["https://u:peer-s3cr3t@p1:1", "p2:2"], "token": "tok-s3cr3t", "codec": "zstd", "mode": "safe",
          "limits": {"name": "L"}, "spill": {"dir": "/spill", "key": "spill-s3cr3t"}}
  }
}`

func wantBolt() *boltConfig {
	return &boltConfig{Path: "/data/bolt", Pages: 16, Big: 5_000_000_000, ReadOnly: true,
		Peers: []string{"https://u:peer-s3cr3t@p1:1", "p2:2"}, Token: "tok-s3cr3t", Codec: CompressionZstd, Mode: "safe",
		Limits: &boltLimits{Depth: 3, Name: "L"}, Spill: &boltSpill{Dir: "/spill", Key: "spill-s3cr3t"}, Runtime: "r"}
}

// The ten built-in types come first, in the order of the specification,
// then the registered ones, sorted.
func TestTypesOrder(t *testing.T) {
	register(t, typeBolt, newBolt)
	register(t, "Anvil", func() ProviderConfig { return &anvilConfig{} })
	want := []ProviderType{TypeMemory, TypeS3, TypeAzure, TypeGoogleCloud, TypeEtcd,
		TypeRedis, TypeKubernetes, TypeMinIO, TypeFlash, TypeComposite, "Anvil", "Bolt"}
	got := Types()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Types()[0] != TypeMemory {
		t.Fatal("Types returned the registry's own slice")
	}
	_, err := ProviderConfigFor("Blot")
	checkErr(t, err, `unknown provider type "Blot" (did you mean "Bolt"?) (known types: Memory, S3, Azure, GoogleCloud, Etcd, Redis, Kubernetes, MinIO, Flash, Composite, Anvil, Bolt)`)
}

// anvilConfig has no keys at all.
type anvilConfig struct{}

func (*anvilConfig) ProviderType() ProviderType { return "Anvil" }
func (*anvilConfig) Validate() error            { return nil }

// A registered type decodes from TOML and JSON like a built-in one: every
// kind of key, a table starting from the default's values, a table nil by
// default; the default's shared table is not modified.
func TestRegisteredTypeDecodes(t *testing.T) {
	register(t, typeBolt, newBolt)
	pc, err := ProviderConfigFor(typeBolt)
	if err != nil {
		t.Fatal(err)
	}
	if b := pc.(*boltConfig); b.Limits == &sharedLimits || !reflect.DeepEqual(b, newBolt()) {
		t.Fatalf("ProviderConfigFor(Bolt) = %v (Limits %p): want a deep copy of the default", b, b.Limits)
	}
	for _, src := range []struct {
		data   string
		format Format
	}{{boltTOML, FormatTOML}, {boltJSON, FormatJSON}} {
		cfg, err := Parse([]byte(src.data), src.format, "c")
		if err != nil {
			t.Fatalf("%s: %v", src.format, err)
		}
		if got := cfg.Providers["b"]; !reflect.DeepEqual(got, wantBolt()) {
			t.Errorf("%s: decoded %#v\nwant %#v", src.format, *got.(*boltConfig), *wantBolt())
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", src.format, err)
		}
	}
	if sharedLimits != (boltLimits{Depth: 3, Name: "default"}) {
		t.Fatalf("decoding modified the default's table: %v", sharedLimits)
	}
	// A key-less type decodes; any key is unknown.
	register(t, "Anvil", func() ProviderConfig { return &anvilConfig{} })
	if cfg, err := Parse([]byte("[providers.a]\ntype = \"Anvil\"\n"), FormatTOML, "a.toml"); err != nil || cfg.Validate() != nil {
		t.Fatalf("Anvil: %v", err)
	}
	_, err = Parse([]byte("[providers.a]\ntype = \"Anvil\"\nx = 1\n"), FormatTOML, "a.toml")
	checkErr(t, err, `a.toml: providers.a: unknown key "x"`)
}

// Decoding errors for a registered type name the file, the provider and the
// key, as for the built-in types.
func TestRegisteredTypeDecodeErrors(t *testing.T) {
	register(t, typeBolt, newBolt)
	for _, tc := range []struct {
		name, src string
		format    Format
		want      []string
	}{
		{"unknown key", "[providers.b]\ntype = \"Bolt\"\npagez = 3\n", FormatTOML,
			[]string{`c: providers.b: unknown key "pagez" (did you mean "pages"?)`}},
		{"camelCase", "[providers.b]\ntype = \"Bolt\"\nreadOnly = true\n", FormatTOML,
			[]string{`c: providers.b: unknown key "readOnly" (did you mean "read_only"?)`}},
		{"unknown key in a table", "[providers.b]\ntype = \"Bolt\"\nlimits = { dept = 1 }\n", FormatTOML,
			[]string{`c: providers.b.limits: unknown key "dept" (did you mean "depth"?)`}},
		{"wrong types", "[providers.b]\ntype = \"Bolt\"\npages = \"many\"\nread_only = 1\npeers = [1]\nlimits = 3\ncodec = \"brotli\"\n", FormatTOML,
			[]string{`c: providers.b.pages: expected integer, got string`, `c: providers.b.read_only: expected boolean, got integer`,
				`c: providers.b.peers[0]: expected string, got integer`, `c: providers.b.limits: expected table, got integer`,
				`c: providers.b.codec: unknown compression "brotli" (known: None, Gzip, Lz4, Zstd)`}},
		{"json", `{"providers": {"b": {"type": "Bolt", "pages": 1.5, "tokn": "x", "spill": {"dir": true}}}}`, FormatJSON,
			[]string{`c: providers.b.pages: expected integer, got float`, `c: providers.b: unknown key "tokn" (did you mean "token"?)`,
				`c: providers.b.spill.dir: expected string, got boolean`}},
		{"composite child", "[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\ntype = \"Bolt\"\npagez = 1\n", FormatTOML,
			[]string{`c: providers.c.primary: unknown key "pagez" (did you mean "pages"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.src), tc.format, "c")
			if cfg != nil {
				t.Fatalf("config returned with an error")
			}
			checkErr(t, err, tc.want...)
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
	// A syntax error in the value of a registered secret key hides it.
	_, err := Parse([]byte("[providers.b]\ntype = \"Bolt\"\ntoken = ZQ ZQ\n"), FormatTOML, "bad.toml")
	if err == nil || strings.ContainsAny(err.Error(), "ZQ") || !strings.Contains(err.Error(), "secret") {
		t.Errorf("syntax error in a registered secret: %v", err)
	}
}

// Config.Validate runs the registered type's own Validate and names the
// file, the provider (and the composite child) in front of each problem.
func TestRegisteredTypeValidate(t *testing.T) {
	register(t, typeBolt, newBolt)
	src := `
[defaults]
addressable = "b"
cluster = "c"

[providers.b]
type = "Bolt"
pages = 0
limits = { depth = 11 }

[providers.c]
type = "Composite"
[providers.c.primary]
type = "Bolt"
path = "/p"
mode = "plain"
[providers.c.backup]
type = "Memory"
`
	cfg, err := Parse([]byte(src), FormatTOML, "orbit.toml")
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, cfg.Validate(),
		"orbit.toml: providers.b.path: must not be empty",
		"orbit.toml: providers.b.pages: must be at least 1, got 0",
		"orbit.toml: providers.b.limits.depth: must be at most 10, got 11",
		"orbit.toml: providers.c.primary: mode plain: a plain error")
	if err := KeyError("k", "bad %d", 1); err.Error() != "k: bad 1" || !errors.Is(err, driver.ErrInvalidArgument) {
		t.Fatalf("KeyError = %v", err)
	}
	// The Builder takes a registered type and copies it.
	b := wantBolt()
	built, err := NewBuilder().WithProvider("b", b, true).Build()
	if err != nil {
		t.Fatal(err)
	}
	b.Limits.Name, b.Peers[1] = "changed", "changed"
	if got := built.Providers["b"]; !reflect.DeepEqual(got, wantBolt()) {
		t.Fatalf("Build did not copy the configuration: %v", got)
	}
}

// ApplyEnv and FromEnv set the keys of a registered type, nested keys
// included (creating a table that is nil by default from its zero value).
func TestRegisteredTypeEnv(t *testing.T) {
	register(t, typeBolt, newBolt)
	src := boltTOML + "\n[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\ntype = \"Bolt\"\n"
	cfg, err := Parse([]byte(src), FormatTOML, "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.ApplyEnv([]string{
		"ORBIT_PROVIDER_B_PAGES=32", "ORBIT_PROVIDER_B_LIMITS__DEPTH=5", "ORBIT_PROVIDER_B_PEERS= a:1 , b:2 ",
		"ORBIT_PROVIDER_B_MODE=slow", "ORBIT_PROVIDER_B_CODEC=lz4", "ORBIT_PROVIDER_B_READ_ONLY=0",
		"ORBIT_PROVIDER_C_PRIMARY__PAGES=2", "ORBIT_PROVIDER_C_PRIMARY__SPILL__DIR=/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := wantBolt()
	want.Pages, want.Limits.Depth, want.Peers, want.Mode, want.Codec, want.ReadOnly = 32, 5, []string{"a:1", "b:2"}, "slow", CompressionLz4, false
	if got := cfg.Providers["b"]; !reflect.DeepEqual(got, want) {
		t.Errorf("after ApplyEnv: %v", got)
	}
	child := cfg.Providers["c"].(*CompositeConfig).Primary.(*boltConfig)
	if child.Pages != 2 || child.Spill == nil || *child.Spill != (boltSpill{Dir: "/x"}) {
		t.Errorf("composite child after ApplyEnv: %+v", child)
	}
	err = cfg.ApplyEnv([]string{"ORBIT_PROVIDER_B_PAGEZ=1", "ORBIT_PROVIDER_B_BIG=huge"})
	checkErr(t, err,
		`ORBIT_PROVIDER_B_PAGEZ: unknown variable: provider "b" has no key "PAGEZ" (did you mean "PAGES"?)`,
		`ORBIT_PROVIDER_B_BIG: expected integer, got "huge"`)

	var dst boltConfig
	dst.Limits = &boltLimits{}
	if err := FromEnv("BOLT", []string{"BOLT_PATH=/e", "BOLT_LIMITS__NAME=n", "BOLT_TOKEN=t", "OTHER=1"}, &dst); err != nil {
		t.Fatal(err)
	}
	if dst.Path != "/e" || dst.Limits.Name != "n" || dst.Token != "t" {
		t.Fatalf("FromEnv: %+v", dst)
	}
}

// Every rendering of a configuration holding a registered type redacts its
// secrets (in tables too) and parses back; the original keeps them.
func TestRegisteredTypeRedacted(t *testing.T) {
	register(t, typeBolt, newBolt)
	cfg, err := Parse([]byte(boltTOML), FormatTOML, "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Providers["b"]
	outs := map[string]string{
		"String": cfg.String(), "JSON": string(js), "fmt": fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		"RedactedJSON": string(RedactedJSON(pc)), "Redact": string(RedactedJSON(Redact(pc))),
	}
	for what, out := range outs {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s shows a secret:\n%s", what, out)
		}
		if !strings.Contains(out, RedactedValue) || !strings.Contains(out, "p2:2") || !strings.Contains(out, "/spill") {
			t.Errorf("%s redacted too much or nothing:\n%s", what, out)
		}
	}
	r := Redact(pc).(*boltConfig)
	if r.Token != RedactedValue || r.Spill.Key != RedactedValue || r.Peers[0] != "https://u:REDACTED@p1:1" {
		t.Errorf("Redact = %+v %+v", r, r.Spill)
	}
	if !reflect.DeepEqual(pc, wantBolt()) {
		t.Fatalf("redaction modified the configuration: %+v", pc)
	}
	for _, f := range []Format{FormatTOML, FormatJSON} {
		text := cfg.String()
		if f == FormatJSON {
			text = string(js)
		}
		back, err := Parse([]byte(text), f, "back")
		if err != nil {
			t.Fatalf("%s rendering does not parse: %v\n%s", f, err, text)
		}
		back.Source = cfg.Source
		want := cfg.Redacted()
		want.Providers["b"].(*boltConfig).Runtime = "r" // not a key: from the default
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s rendering parses to %v, want %v", f, back, want)
		}
	}
}

// probe is a configuration type whose one key has the type T, to try the
// registration checks on every kind of field.
type probe[T any] struct {
	F T `toml:"f"`
}

func (*probe[T]) ProviderType() ProviderType { return "Probe" }
func (*probe[T]) Validate() error            { return nil }

type typeKeyConfig struct {
	T string `toml:"type"`
}

func (*typeKeyConfig) ProviderType() ProviderType { return "Probe" }
func (*typeKeyConfig) Validate() error            { return nil }

type valueConfig struct{ X int }

func (valueConfig) ProviderType() ProviderType { return "Probe" }
func (valueConfig) Validate() error            { return nil }

type intConfig int

func (*intConfig) ProviderType() ProviderType { return "Probe" }
func (*intConfig) Validate() error            { return nil }

type nilUnsafeConfig struct{ T ProviderType }

func (c *nilUnsafeConfig) ProviderType() ProviderType { return c.T }
func (*nilUnsafeConfig) Validate() error              { return nil }

// RegisterType panics on misuse, naming the type and the field, and
// registers nothing.
func TestRegisterTypeMisuse(t *testing.T) {
	var shared probe[string]
	var nilProbe *probe[string]
	fresh := func(pc ProviderConfig) func() ProviderConfig {
		return func() ProviderConfig { return reflect.New(reflect.TypeOf(pc).Elem()).Interface().(ProviderConfig) }
	}
	for _, tc := range []struct {
		name string
		typ  ProviderType
		f    func() ProviderConfig
		want string
	}{
		{"empty type", "", fresh(&probe[string]{}), `config: RegisterType: empty provider type`},
		{"bad name", "my type", fresh(&probe[string]{}), `RegisterType("my type"): invalid type name`},
		{"nil func", "Probe", nil, `RegisterType("Probe"): newDefault is nil`},
		{"duplicate", TypeMemory, func() ProviderConfig { c := DefaultMemoryConfig(); return &c }, `RegisterType called twice for "Memory"`},
		{"nil", "Probe", func() ProviderConfig { return nil }, `RegisterType("Probe"): newDefault returned nil`},
		{"typed nil", "Probe", func() ProviderConfig { return nilProbe }, `RegisterType("Probe"): newDefault returned a nil *config.probe[string]`},
		{"value", "Probe", func() ProviderConfig { return valueConfig{} }, `newDefault returned a config.valueConfig; it must return a non-nil pointer to a struct`},
		{"pointer to int", "Probe", func() ProviderConfig { return new(intConfig) }, `newDefault returned a *config.intConfig;`},
		{"other type", "Other", fresh(&probe[string]{}), `RegisterType("Other"): (*config.probe[string]).ProviderType() returns "Probe"`},
		{"nil-unsafe ProviderType", "Probe", func() ProviderConfig { return &nilUnsafeConfig{T: "Probe"} }, `(*config.nilUnsafeConfig).ProviderType() panics on a nil pointer`},
		{"same pointer", "Probe", func() ProviderConfig { return &shared }, `newDefault returned the same pointer twice`},
		{"map", "Probe", fresh(&probe[map[string]string]{}), `field probe[map[string]string].F has type map[string]string; a configuration key is a string, int`},
		{"float", "Probe", fresh(&probe[float64]{}), `field probe[float64].F has type float64`},
		{"ints", "Probe", fresh(&probe[[]int]{}), `field probe[[]int].F has type []int`},
		{"duration", "Probe", fresh(&probe[time.Duration]{}), `field probe[time.Duration].F is a time.Duration`},
		{"struct", "Probe", fresh(&probe[boltLimits]{}), `.F has type config.boltLimits`},
		{"provider", "Probe", fresh(&probe[ProviderConfig]{}), `.F is a ProviderConfig: nested providers are supported only by the built-in Composite type`},
		{"type key", "Probe", fresh(&typeKeyConfig{}), `field typeKeyConfig.T has key "type", which is reserved`},
		{"no tag", "Probe", fresh(&probe[*struct{ X int }]{}), `.F.X has no toml tag`},
		{"camelCase key", "Probe", fresh(&probe[*struct {
			X int `toml:"maxEntries"`
		}]{}), `.F.X has key "maxEntries": keys are lower-case snake_case`},
		{"double underscore", "Probe", fresh(&probe[*struct {
			X int `toml:"a__b"`
		}]{}), `.F.X has key "a__b"`},
		{"duplicate key", "Probe", fresh(&probe[*struct {
			X int `toml:"x"`
			Y int `toml:"x"`
		}]{}), `.F.Y has key "x", like field probe[`},
		{"secret int", "Probe", fresh(&probe[*struct {
			X int `toml:"x" secret:"true"`
		}]{}), `.F.X is tagged secret:"true" but is a int`},
		{"secret yes", "Probe", fresh(&probe[*struct {
			X string `toml:"x" secret:"yes"`
		}]{}), `.F.X has secret:"yes"`},
		{"unexported key", "Probe", fresh(&probe[*struct {
			x int `toml:"x"`
		}]{}), `.F.x has toml tag "x" but is not exported`},
		{"table in table", "Probe", fresh(&probe[*struct {
			In *struct{} `toml:"in"`
		}]{}), `.F.In is a table inside a table; a nested table holds no tables`},
		{"provider in table", "Probe", fresh(&probe[*struct {
			P ProviderConfig `toml:"p"`
		}]{}), `.F.P has type config.ProviderConfig`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := Types()
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want one containing %q", r, tc.want)
				}
				if !reflect.DeepEqual(Types(), before) {
					t.Errorf("a failed registration changed Types(): %v", Types())
				}
			}()
			RegisterType(tc.typ, tc.f)
		})
	}
	if _, ok := lookupType("Probe"); ok {
		t.Fatal("Probe was registered")
	}
}
