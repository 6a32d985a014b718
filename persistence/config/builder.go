package config

// Builder assembles a Config in code, as in the specification's
// programmatic configuration:
//
//	cfg, err := config.NewBuilder().
//		WithMemory("memory", config.DefaultMemoryConfig(), false).
//		WithS3("s3", s3, true). // default provider
//		Build()
//
// The With methods record their arguments and never fail; Build reports
// every problem. A Builder is not safe for concurrent use.
type Builder struct {
	entries  []builderEntry
	defaults Defaults
}

type builderEntry struct {
	name      string
	cfg       ProviderConfig
	isDefault bool
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// WithProvider adds provider name with configuration c (a pointer of a
// registered configuration type: one of the ten *XxxConfig types, or one
// registered with RegisterType; Build copies it). isDefault makes it the default for
// both the addressable and the cluster directory.
func (b *Builder) WithProvider(name string, c ProviderConfig, isDefault bool) *Builder {
	b.entries = append(b.entries, builderEntry{name: name, cfg: c, isDefault: isDefault})
	return b
}

// WithMemory adds a Memory provider; see WithProvider.
func (b *Builder) WithMemory(name string, c MemoryConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithS3 adds an S3 provider; see WithProvider.
func (b *Builder) WithS3(name string, c S3Config, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithAzure adds an Azure provider; see WithProvider.
func (b *Builder) WithAzure(name string, c AzureConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithGoogleCloud adds a GoogleCloud provider; see WithProvider.
func (b *Builder) WithGoogleCloud(name string, c GoogleCloudConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithEtcd adds an Etcd provider; see WithProvider.
func (b *Builder) WithEtcd(name string, c EtcdConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithRedis adds a Redis provider; see WithProvider.
func (b *Builder) WithRedis(name string, c RedisConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithKubernetes adds a Kubernetes provider; see WithProvider.
func (b *Builder) WithKubernetes(name string, c KubernetesConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithMinIO adds a MinIO provider; see WithProvider.
func (b *Builder) WithMinIO(name string, c MinIOConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithFlash adds a Flash provider; see WithProvider.
func (b *Builder) WithFlash(name string, c FlashConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithComposite adds a Composite provider (its Primary and Backup are copied
// by Build); see WithProvider.
func (b *Builder) WithComposite(name string, c CompositeConfig, isDefault bool) *Builder {
	return b.WithProvider(name, &c, isDefault)
}

// WithDefaults names the default providers explicitly. A non-empty argument
// takes precedence over an isDefault flag; an empty one leaves that default
// to the flag (or to the single-provider rule).
func (b *Builder) WithDefaults(addressable, cluster string) *Builder {
	b.defaults = Defaults{Addressable: addressable, Cluster: cluster}
	return b
}

// Build returns the validated Config (Source ""). Problems (an invalid or
// duplicate name, a nil configuration, two providers marked default, and
// every problem Config.Validate finds) are joined, each wrapping
// driver.ErrInvalidArgument. When exactly one provider is added it is the
// default for any default left empty. The Config holds copies: later changes
// to the arguments do not affect it.
func (b *Builder) Build() (*Config, error) {
	cfg := &Config{Providers: make(map[string]ProviderConfig, len(b.entries))}
	var p problems
	var def string
	for _, e := range b.entries {
		path := "providers." + pathKey(e.name)
		switch _, dup := cfg.Providers[e.name]; {
		case !validName(e.name):
			p.add(path, nameRule)
			continue
		case dup:
			p.add(path, "provider %s added twice", quoteString(e.name))
			continue
		case isNilConfig(e.cfg):
			p.add(path, "nil configuration")
			continue
		}
		cfg.Providers[e.name] = cloneConfig(e.cfg, 0)
		if e.isDefault {
			if def != "" {
				p.add("defaults", "providers %s and %s are both marked default", quoteString(def), quoteString(e.name))
			}
			def = e.name
		}
	}
	cfg.Defaults = Defaults{Addressable: def, Cluster: def}
	if b.defaults.Addressable != "" {
		cfg.Defaults.Addressable = b.defaults.Addressable
	}
	if b.defaults.Cluster != "" {
		cfg.Defaults.Cluster = b.defaults.Cluster
	}
	cfg.fillSingleDefault()
	p.addErr(cfg.Validate())
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}
