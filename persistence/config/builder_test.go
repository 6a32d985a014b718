package config

import (
	"reflect"
	"testing"
)

// The spec's programmatic example.
func TestBuilderSpecExample(t *testing.T) {
	s3 := DefaultS3Config()
	s3.Bucket = "orbit-data"
	cfg, err := NewBuilder().
		WithMemory("memory", DefaultMemoryConfig(), false).
		WithS3("s3", s3, true). // default provider
		Build()
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Defaults:  Defaults{Addressable: "s3", Cluster: "s3"},
		Providers: map[string]ProviderConfig{"memory": okMemory(), "s3": &s3},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %v\nwant %v", cfg, want)
	}
	// Build copied its arguments.
	s3.Bucket = "changed"
	if cfg.Providers["s3"].(*S3Config).Bucket != "orbit-data" {
		t.Errorf("Build did not copy the configuration")
	}
}

func TestBuilderAllTypes(t *testing.T) {
	prim := okMemory()
	cfg, err := NewBuilder().
		WithMemory("memory", *okMemory(), false).
		WithS3("s3", *okS3(), false).
		WithAzure("azure", *okAzure(), false).
		WithGoogleCloud("gcp", *okGCP(), false).
		WithEtcd("etcd", *okEtcd(), false).
		WithRedis("redis", *okRedis(), false).
		WithKubernetes("k8s", *okKubernetes(), false).
		WithMinIO("minio", *okMinIO(), false).
		WithFlash("flash", *okFlash(), false).
		WithComposite("ha", CompositeConfig{SyncInterval: 1, HealthCheckInterval: 1, FailoverThreshold: 1, Primary: prim, Backup: okS3()}, false).
		WithProvider("other", okRedis(), false).
		WithDefaults("ha", "etcd").
		Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 11 || cfg.Defaults != (Defaults{"ha", "etcd"}) {
		t.Errorf("got %v", cfg)
	}
	prim.MaxEntries = 1
	if cfg.Providers["ha"].(*CompositeConfig).Primary.(*MemoryConfig).MaxEntries == 1 {
		t.Errorf("Build did not deep-copy composite children")
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name string
		b    *Builder
		want []string
	}{
		{"duplicate", NewBuilder().WithMemory("m", DefaultMemoryConfig(), true).WithS3("m", *okS3(), false),
			[]string{`providers.m: provider "m" added twice`}},
		{"two defaults", NewBuilder().WithMemory("a", DefaultMemoryConfig(), true).WithMemory("b", DefaultMemoryConfig(), true),
			[]string{`defaults: providers "a" and "b" are both marked default`}},
		{"bad name", NewBuilder().WithMemory("a b", DefaultMemoryConfig(), true),
			[]string{`providers."a b": invalid provider name (use letters, digits, '_' and '-')`, `providers: at least one provider must be configured`}},
		{"nil config", NewBuilder().WithProvider("x", nil, true).WithProvider("y", (*S3Config)(nil), false),
			[]string{`providers.x: nil configuration`, `providers.y: nil configuration`}},
		{"invalid provider", NewBuilder().WithS3("s3", DefaultS3Config(), true), []string{`providers.s3.bucket: must not be empty`}},
		{"no default", NewBuilder().WithMemory("a", DefaultMemoryConfig(), false).WithMemory("b", DefaultMemoryConfig(), false),
			[]string{`defaults.addressable: must name a provider (configured: a, b)`, `defaults.cluster: must name a provider (configured: a, b)`}},
		{"unknown default", NewBuilder().WithMemory("a", DefaultMemoryConfig(), false).WithDefaults("", "zz"),
			[]string{`defaults.cluster: provider "zz" is not configured (configured: a)`}},
		{"empty", NewBuilder(), []string{`providers: at least one provider must be configured`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.b.Build()
			if cfg != nil {
				t.Errorf("Build returned a config with an error")
			}
			checkErr(t, err, tc.want...)
		})
	}
	// A single provider is the default without isDefault.
	cfg, err := NewBuilder().WithMemory("only", DefaultMemoryConfig(), false).Build()
	if err != nil || cfg.Defaults != (Defaults{"only", "only"}) {
		t.Errorf("single provider: %v, %v", cfg, err)
	}
}
