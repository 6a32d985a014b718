package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Environment variables. A key path maps to a variable suffix by upper-casing
// each key and joining nested keys with a double underscore:
// disk_backup.path -> DISK_BACKUP__PATH, primary.max_entries ->
// PRIMARY__MAX_ENTRIES. Values: strings as is; integers in decimal; booleans
// true/false/1/0 (any case); lists comma-separated (blanks trimmed, empty
// items dropped); compression as in files. Setting a key of a nil table
// (disk_backup) creates it from its defaults (DefaultDiskBackupConfig; the
// zero value for a table of a type registered with RegisterType).

// FromEnv sets the keys of dst (a pointer of a registered configuration
// type: a built-in *XxxConfig or one registered with RegisterType)
// from the variables PREFIX_KEY found in environ ("NAME=value" entries, as
// from os.Environ; a later entry wins). prefix may end with "_" or not; an
// empty prefix reads bare key names. Only variables naming a key of dst are
// read, others are ignored; the children of a composite are read only when
// set. A value that does not parse is an error naming the variable and the
// expected type (never echoing a secret). FromEnv does not validate, and on
// error dst may be partly updated.
func FromEnv(prefix string, environ []string, dst ProviderConfig) error {
	v, ok := configValue(dst)
	if !ok {
		return &fieldError{msg: fmt.Sprintf("FromEnv: unsupported destination %T", dst)}
	}
	prefix = envPrefix(prefix)
	env := parseEnviron(environ)
	var p problems
	for _, path := range keyPaths(v, 0) {
		name := prefix + envName(path)
		if raw, ok := env[name]; ok {
			p.addErr(setPath(v, path, raw, name))
		}
	}
	return p.err()
}

// envPrefix appends "_" to a non-empty prefix that lacks it.
func envPrefix(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "_") {
		prefix += "_"
	}
	return prefix
}

// parseEnviron maps "NAME=value" entries to values; entries without '=' are
// ignored and a later entry wins.
func parseEnviron(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// fromEnv loads dst from os.Environ() over its current (default) values and
// validates it; validation problems name the variable of their key.
func fromEnv(prefix string, dst ProviderConfig) error {
	if err := FromEnv(prefix, os.Environ(), dst); err != nil {
		return err
	}
	var out []error
	for _, e := range flatten(dst.Validate()) {
		if fe, ok := e.(*fieldError); ok && fe.path != "" {
			n := *fe
			n.path = envPrefix(prefix) + envName(keysOfPath(fe.path))
			out = append(out, &n)
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// keysOfPath splits a dotted message path into keys, dropping list indexes:
// "endpoints[1]" -> ["endpoints"], "disk_backup.path" -> [disk_backup path].
func keysOfPath(path string) []string {
	keys := strings.Split(path, ".")
	for i, k := range keys {
		if j := strings.IndexByte(k, '['); j >= 0 {
			keys[i] = k[:j]
		}
	}
	return keys
}

// MemoryConfigFromEnv returns DefaultMemoryConfig overridden by PREFIX_*
// variables of the process environment (PREFIX_MAX_ENTRIES,
// PREFIX_DISK_BACKUP__PATH, ...), validated. On error the zero value is
// returned with errors naming the variables.
func MemoryConfigFromEnv(prefix string) (MemoryConfig, error) {
	c := DefaultMemoryConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return MemoryConfig{}, err
	}
	return c, nil
}

// S3ConfigFromEnv returns DefaultS3Config overridden by PREFIX_ENDPOINT,
// PREFIX_REGION, PREFIX_BUCKET, PREFIX_ACCESS_KEY_ID,
// PREFIX_SECRET_ACCESS_KEY, PREFIX_PREFIX, PREFIX_ENABLE_SSL,
// PREFIX_CONNECTION_TIMEOUT and PREFIX_RETRY_COUNT from the process
// environment, validated. On error the zero value is returned.
func S3ConfigFromEnv(prefix string) (S3Config, error) {
	c := DefaultS3Config()
	if err := fromEnv(prefix, &c); err != nil {
		return S3Config{}, err
	}
	return c, nil
}

// AzureConfigFromEnv returns DefaultAzureConfig overridden by PREFIX_KEY
// variables (PREFIX_ACCOUNT_NAME, PREFIX_CONTAINER_NAME, ...) of the process
// environment, validated. On error the zero value is returned.
func AzureConfigFromEnv(prefix string) (AzureConfig, error) {
	c := DefaultAzureConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return AzureConfig{}, err
	}
	return c, nil
}

// GoogleCloudConfigFromEnv returns DefaultGoogleCloudConfig overridden by
// PREFIX_KEY variables (PREFIX_BUCKET_NAME, ...) of the process environment,
// validated. On error the zero value is returned.
func GoogleCloudConfigFromEnv(prefix string) (GoogleCloudConfig, error) {
	c := DefaultGoogleCloudConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return GoogleCloudConfig{}, err
	}
	return c, nil
}

// EtcdConfigFromEnv returns DefaultEtcdConfig overridden by PREFIX_KEY
// variables (PREFIX_ENDPOINTS as a comma-separated list, ...) of the process
// environment, validated. On error the zero value is returned.
func EtcdConfigFromEnv(prefix string) (EtcdConfig, error) {
	c := DefaultEtcdConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return EtcdConfig{}, err
	}
	return c, nil
}

// RedisConfigFromEnv returns DefaultRedisConfig overridden by PREFIX_KEY
// variables (PREFIX_URL, PREFIX_DATABASE, ...) of the process environment,
// validated. On error the zero value is returned.
func RedisConfigFromEnv(prefix string) (RedisConfig, error) {
	c := DefaultRedisConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return RedisConfig{}, err
	}
	return c, nil
}

// KubernetesConfigFromEnv returns DefaultKubernetesConfig overridden by
// PREFIX_KEY variables (PREFIX_NAMESPACE, PREFIX_IN_CLUSTER, ...) of the
// process environment, validated. On error the zero value is returned.
func KubernetesConfigFromEnv(prefix string) (KubernetesConfig, error) {
	c := DefaultKubernetesConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return KubernetesConfig{}, err
	}
	return c, nil
}

// MinIOConfigFromEnv returns DefaultMinIOConfig overridden by PREFIX_KEY
// variables (PREFIX_ENDPOINT, PREFIX_SECRET_KEY, ...) of the process
// environment, validated. On error the zero value is returned.
func MinIOConfigFromEnv(prefix string) (MinIOConfig, error) {
	c := DefaultMinIOConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return MinIOConfig{}, err
	}
	return c, nil
}

// FlashConfigFromEnv returns DefaultFlashConfig overridden by PREFIX_KEY
// variables (PREFIX_DATA_DIR, PREFIX_PATHS as a comma-separated list, ...)
// of the process environment, validated. On error the zero value is
// returned.
func FlashConfigFromEnv(prefix string) (FlashConfig, error) {
	c := DefaultFlashConfig()
	if err := fromEnv(prefix, &c); err != nil {
		return FlashConfig{}, err
	}
	return c, nil
}

// Prefixes of the override variables read by ApplyEnv.
const (
	envProviderPrefix = "ORBIT_PROVIDER_"
	envDefaultsPrefix = "ORBIT_DEFAULTS_"
	envServerPrefix   = "ORBIT_SERVER_"
)

// ApplyEnv overrides keys of the configuration from environ ("NAME=value"
// entries, as from os.Environ):
//
//	ORBIT_DEFAULTS_ADDRESSABLE, ORBIT_DEFAULTS_CLUSTER
//	ORBIT_PROVIDER_<NAME>_<KEY>
//	ORBIT_SERVER_<KEY>
//
// where <NAME> is a configured provider's name upper-cased with '-' turned
// into '_', and <KEY> a key path as described for FromEnv (e.g.
// ORBIT_PROVIDER_COMPOSITE_PRIMARY__MAX_ENTRIES), and ORBIT_SERVER_<KEY> a
// key path of the [server] table (ORBIT_SERVER_NAMESPACE,
// ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL, ORBIT_SERVER_LIMITS__MAX_STREAMS).
// A variable with one of these prefixes that names no provider or no key, or
// that matches two providers, is an error naming the variable; providers
// cannot be added this way. Other
// variables are ignored. Changes are all-or-nothing: on error c is left
// unchanged. ApplyEnv does not validate.
func (c *Config) ApplyEnv(environ []string) error {
	if c == nil {
		return &fieldError{msg: "ApplyEnv on a nil configuration"}
	}
	env := parseEnviron(environ)
	work := &Config{Defaults: c.Defaults, Server: c.Server.clone(), Providers: make(map[string]ProviderConfig, len(c.Providers))}
	for name, pc := range c.Providers {
		work.Providers[name] = cloneConfig(pc, 0)
	}
	var p problems
	for _, name := range sortedKeys(env) {
		raw := env[name]
		switch {
		case name == envDefaultsPrefix+"ADDRESSABLE":
			work.Defaults.Addressable = raw
		case name == envDefaultsPrefix+"CLUSTER":
			work.Defaults.Cluster = raw
		case strings.HasPrefix(name, envDefaultsPrefix):
			p.add(name, "unknown variable: only %sADDRESSABLE and %sCLUSTER exist", envDefaultsPrefix, envDefaultsPrefix)
		case strings.HasPrefix(name, envProviderPrefix):
			p.addErr(work.applyOverride(name, raw))
		case strings.HasPrefix(name, envServerPrefix):
			p.addErr(work.applyServerOverride(name, raw))
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	c.Defaults, c.Server, c.Providers = work.Defaults, work.Server, work.Providers
	return nil
}

// applyServerOverride sets the [server] key an ORBIT_SERVER_ variable names.
func (c *Config) applyServerOverride(name, raw string) error {
	v := reflect.ValueOf(&c.Server).Elem()
	suffix := strings.TrimPrefix(name, envServerPrefix)
	for _, path := range keyPaths(v, 0) {
		if envName(path) == suffix {
			return setPath(v, path, raw, name)
		}
	}
	return &fieldError{path: name, msg: "unknown variable: no key of the [server] table is named " + quoteString(suffix) + " (sub-table keys are joined with __, as in ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL)"}
}

// envProviderName is the <NAME> part of a provider's override variables.
func envProviderName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyOverride resolves an ORBIT_PROVIDER_ variable to one (provider, key)
// and sets it.
func (c *Config) applyOverride(name, raw string) error {
	rest := strings.TrimPrefix(name, envProviderPrefix)
	type match struct {
		provider string
		v        reflect.Value
		path     []string
	}
	var matches []match
	var named []string // providers whose <NAME>_ prefixes the variable
	var keys []string  // their keys, for suggestions
	for _, pname := range sortedKeys(c.Providers) {
		v, ok := configValue(c.Providers[pname])
		pe := envProviderName(pname) + "_"
		if !ok || !strings.HasPrefix(rest, pe) {
			continue
		}
		named = append(named, pname)
		for _, path := range keyPaths(v, 0) {
			en := envName(path)
			keys = append(keys, en)
			if en == rest[len(pe):] {
				matches = append(matches, match{pname, v, path})
			}
		}
	}
	switch {
	case len(matches) == 1:
		m := matches[0]
		return setPath(m.v, m.path, raw, name)
	case len(matches) > 1:
		return &fieldError{path: name, msg: fmt.Sprintf("ambiguous: matches providers %s and %s", quoteString(matches[0].provider), quoteString(matches[1].provider))}
	case len(named) == 0:
		return &fieldError{path: name, msg: fmt.Sprintf("unknown variable: no provider named by it (configured: %s)", strings.Join(sortedKeys(c.Providers), ", "))}
	}
	key := rest[len(envProviderName(named[0]))+1:]
	return &fieldError{path: name, msg: fmt.Sprintf("unknown variable: provider %s has no key %s%s", quoteString(named[0]), quoteString(key), suggest(key, keys))}
}
