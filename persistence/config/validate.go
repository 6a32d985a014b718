package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// errNilConfig is returned by Validate on a nil receiver.
func errNilConfig(t ProviderType) error {
	return &fieldError{msg: fmt.Sprintf("nil %s configuration", t)}
}

// Validate checks max_entries ≥ 0 (0 = unlimited) and, when disk_backup is
// set, a non-empty path, sync_interval ≥ 1 and a known compression.
func (c *MemoryConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeMemory)
	}
	var p problems
	nonNegative(&p, "max_entries", int64(c.MaxEntries))
	if d := c.DiskBackup; d != nil {
		required(&p, "disk_backup.path", d.Path)
		if d.SyncInterval < 1 {
			p.add("disk_backup.sync_interval", "must be at least 1 (seconds), got %d", d.SyncInterval)
		}
		checkCompression(&p, "disk_backup.compression", d.Compression)
	}
	return p.err()
}

// Validate requires bucket and region; checks endpoint (http(s) URL or
// host[:port]) and that its scheme agrees with enable_ssl; requires
// access_key_id and secret_access_key together; numbers ≥ 0.
func (c *S3Config) Validate() error {
	if c == nil {
		return errNilConfig(TypeS3)
	}
	var p problems
	required(&p, "bucket", c.Bucket)
	required(&p, "region", c.Region)
	if c.Endpoint != "" {
		checkEndpoint(&p, "endpoint", c.Endpoint, false)
		checkSchemeFlag(&p, "enable_ssl", c.EnableSSL, c.Endpoint)
	}
	together(&p, "access_key_id", c.AccessKeyID, "secret_access_key", c.SecretAccessKey)
	nonNegative(&p, "connection_timeout", int64(c.ConnectionTimeout))
	nonNegative(&p, "retry_count", int64(c.RetryCount))
	switch c.ServerSideEncryption {
	case "", "AES256", "aws:kms":
	default:
		p.add("server_side_encryption", "must be \"AES256\", \"aws:kms\" or empty, got %s", quoteString(c.ServerSideEncryption))
	}
	if c.SSEKMSKeyID != "" && c.ServerSideEncryption != "aws:kms" {
		p.add("sse_kms_key_id", "requires server_side_encryption = \"aws:kms\"")
	}
	checkRetention(&p, c.TombstoneRetention)
	return p.err()
}

// checkRetention requires an object store's tombstone_retention ≥ 1 s.
func checkRetention(p *problems, seconds int) {
	if seconds < 1 {
		p.add("tombstone_retention", "must be at least 1 second, got %d", seconds)
	}
}

// Validate requires container_name and exactly one way to authenticate:
// connection_string alone, or account_name with account_key, sas_token or
// neither (DefaultAzureCredential). endpoint, when set, is an http(s) URL.
func (c *AzureConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeAzure)
	}
	var p problems
	required(&p, "container_name", c.ContainerName)
	if c.ConnectionString != "" {
		for _, k := range []struct{ key, val string }{
			{"account_name", c.AccountName}, {"account_key", c.AccountKey},
			{"sas_token", c.SASToken}, {"endpoint", c.Endpoint},
		} {
			if k.val != "" {
				p.add(k.key, "cannot be combined with connection_string, which already carries it")
			}
		}
	} else {
		if c.AccountName == "" {
			p.add("account_name", "must not be empty unless connection_string is set")
		}
		if c.AccountKey != "" && c.SASToken != "" {
			p.add("sas_token", "cannot be combined with account_key; choose one")
		}
	}
	if c.Endpoint != "" {
		checkURL(&p, "endpoint", c.Endpoint)
	}
	nonNegative(&p, "connection_timeout", int64(c.ConnectionTimeout))
	nonNegative(&p, "retry_count", int64(c.RetryCount))
	checkRetention(&p, c.TombstoneRetention)
	return p.err()
}

// Validate requires bucket_name; endpoint, when set, is an http(s) URL;
// numbers ≥ 0.
func (c *GoogleCloudConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeGoogleCloud)
	}
	var p problems
	required(&p, "bucket_name", c.BucketName)
	if c.Endpoint != "" {
		checkURL(&p, "endpoint", c.Endpoint)
	}
	nonNegative(&p, "connection_timeout", int64(c.ConnectionTimeout))
	nonNegative(&p, "retry_count", int64(c.RetryCount))
	checkRetention(&p, c.TombstoneRetention)
	return p.err()
}

// Validate requires at least one endpoint, each an http(s) URL or host:port;
// lease_ttl ≥ 5; password only with username; client_cert and client_key
// together; timeouts ≥ 0.
func (c *EtcdConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeEtcd)
	}
	var p problems
	if len(c.Endpoints) == 0 {
		p.add("endpoints", "must list at least one endpoint")
	}
	for i, e := range c.Endpoints {
		checkEndpoint(&p, fmt.Sprintf("endpoints[%d]", i), e, true)
	}
	if c.LeaseTTL < 5 {
		p.add("lease_ttl", "must be at least 5 (seconds), got %d", c.LeaseTTL)
	}
	if c.Password != "" && c.Username == "" {
		p.add("password", "is set but username is empty")
	}
	together(&p, "client_cert", c.ClientCert, "client_key", c.ClientKey)
	nonNegative(&p, "dial_timeout", int64(c.DialTimeout))
	nonNegative(&p, "request_timeout", int64(c.RequestTimeout))
	return p.err()
}

// Validate requires a url with scheme redis, rediss or unix; database 0..15,
// and exactly 0 in cluster mode; numbers ≥ 0. Messages never show the URL.
func (c *RedisConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeRedis)
	}
	var p problems
	if c.URL == "" {
		p.add("url", "must not be empty")
	} else if u, err := url.Parse(c.URL); err != nil {
		p.add("url", "is not a valid URL") // the parse error would echo the URL
	} else {
		switch u.Scheme {
		case "redis", "rediss":
			if u.Host == "" {
				p.add("url", "has no host")
			} else if misreadUserinfo(u) {
				p.add("url", "%s", errMisreadUserinfo)
			}
		case "unix":
			if u.Path == "" {
				p.add("url", "has no socket path")
			}
		default:
			p.add("url", "scheme must be redis, rediss or unix, got %s", quoteString(u.Scheme))
		}
	}
	switch {
	case c.ClusterMode && c.Database != 0:
		p.add("database", "must be 0 in cluster mode, got %d", c.Database)
	case c.Database < 0 || c.Database > 15:
		p.add("database", "must be between 0 and 15, got %d", c.Database)
	}
	nonNegative(&p, "pool_size", int64(c.PoolSize))
	nonNegative(&p, "retry_count", int64(c.RetryCount))
	if c.Shards < 0 || c.Shards > 1024 {
		p.add("shards", "must be between 0 and 1024, got %d", c.Shards)
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		p.add("prefix", "must not contain '{' or '}' (they delimit Redis Cluster hash tags)")
	}
	together(&p, "client_cert", c.ClientCert, "client_key", c.ClientKey)
	nonNegative(&p, "dial_timeout", int64(c.DialTimeout))
	nonNegative(&p, "request_timeout", int64(c.RequestTimeout))
	return p.err()
}

// Validate requires namespace to be a DNS-1123 label and config_map_name a
// DNS-1123 subdomain of at most 249 characters (the shards append "-NNN");
// secret_name, when set, a DNS-1123 subdomain; kubeconfig must be empty
// when in_cluster is true; shards is 1..1000; qps and burst are not
// negative, burst at least qps when both are set (0 means the default for
// shards, qps and burst); request_timeout is not negative.
func (c *KubernetesConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeKubernetes)
	}
	var p problems
	if !isDNSLabel(c.Namespace) {
		p.add("namespace", "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63), got %s", quoteString(c.Namespace))
	}
	if !isDNSSubdomain(c.ConfigMapName) {
		p.add("config_map_name", "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253), got %s", quoteString(c.ConfigMapName))
	} else if len(c.ConfigMapName) > 249 {
		p.add("config_map_name", "must be at most 249 characters (the shards append \"-NNN\"), got %d", len(c.ConfigMapName))
	}
	if c.Shards < 0 || c.Shards > 1000 {
		p.add("shards", "must be between 1 and 1000 (0 = the default), got %d", c.Shards)
	}
	nonNegative(&p, "qps", int64(c.QPS))
	nonNegative(&p, "burst", int64(c.Burst))
	if c.QPS > 0 && c.Burst > 0 && c.Burst < c.QPS {
		p.add("burst", "must be at least qps (%d), got %d", c.QPS, c.Burst)
	}
	nonNegative(&p, "request_timeout", int64(c.RequestTimeout))
	if c.SecretName != "" && !isDNSSubdomain(c.SecretName) {
		p.add("secret_name", "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253), got %s", quoteString(c.SecretName))
	}
	if c.InCluster && c.Kubeconfig != "" {
		p.add("kubeconfig", "must be empty when in_cluster is true")
	}
	return p.err()
}

// Validate requires endpoint (host[:port], or a URL whose scheme agrees with
// secure) and bucket_name; access_key and secret_key are set together.
func (c *MinIOConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeMinIO)
	}
	var p problems
	if required(&p, "endpoint", c.Endpoint) {
		checkEndpoint(&p, "endpoint", c.Endpoint, false)
		checkSchemeFlag(&p, "secure", c.Secure, c.Endpoint)
	}
	required(&p, "bucket_name", c.BucketName)
	together(&p, "access_key", c.AccessKey, "secret_key", c.SecretKey)
	return p.err()
}

// Validate requires data_dir or paths (non-empty, distinct); io_depth
// 1..1024; block_size a power of two in 512..65536; cache_size ≥ 0;
// compression None, Lz4 or Zstd (Gzip is known but has no codec in the
// Flash engine); enable_multipathing needs at least two paths, and two or
// more paths need enable_multipathing; without it a single path (data_dir,
// or the one entry of paths); write_quorum 0..the number of paths.
func (c *FlashConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeFlash)
	}
	var p problems
	if c.DataDir == "" && len(c.Paths) == 0 {
		p.add("data_dir", "must not be empty when paths is empty")
	}
	seen := make(map[string]bool)
	for i, s := range c.Paths {
		switch {
		case s == "":
			p.add(fmt.Sprintf("paths[%d]", i), "must not be empty")
		case seen[s]:
			p.add(fmt.Sprintf("paths[%d]", i), "duplicate path %s", quoteString(s))
		}
		seen[s] = true
	}
	switch {
	case c.EnableMultipathing && len(c.Paths) < 2:
		p.add("enable_multipathing", "requires at least 2 paths, got %d", len(c.Paths))
	case !c.EnableMultipathing && len(c.Paths) > 1:
		p.add("enable_multipathing", "must be true to use %d paths (without it the store has one path)", len(c.Paths))
	case !c.EnableMultipathing && len(c.Paths) == 1 && c.DataDir != "":
		p.add("paths", "must be empty when data_dir is set and enable_multipathing is false (the store has one path)")
	}
	paths := 1
	if c.EnableMultipathing {
		paths = len(c.Paths)
	}
	if c.WriteQuorum < 0 || c.WriteQuorum > max(paths, 1) {
		p.add("write_quorum", "must be between 0 (a majority) and %d (the number of paths), got %d", max(paths, 1), c.WriteQuorum)
	}
	if c.IODepth < 1 || c.IODepth > 1024 {
		p.add("io_depth", "must be between 1 and 1024, got %d", c.IODepth)
	}
	if c.BlockSize < 512 || c.BlockSize > 65536 || c.BlockSize&(c.BlockSize-1) != 0 {
		p.add("block_size", "must be a power of two between 512 and 65536, got %d", c.BlockSize)
	}
	nonNegative(&p, "cache_size", c.CacheSize)
	if c.Compression == CompressionGzip {
		p.add("compression", "Gzip is not available for Flash (its storage engine has no gzip codec); use None, Lz4 or Zstd")
	} else {
		checkCompression(&p, "compression", c.Compression)
	}
	return p.err()
}

// Validate requires primary and backup, each valid (its problems prefixed
// "primary." or "backup.") and not itself a composite; failover_threshold,
// sync_interval and health_check_interval ≥ 1; mirror sync or async and
// failback auto or manual ("" means the default: sync, auto).
func (c *CompositeConfig) Validate() error {
	if c == nil {
		return errNilConfig(TypeComposite)
	}
	var p problems
	for _, child := range []struct {
		key string
		pc  ProviderConfig
	}{{"primary", c.Primary}, {"backup", c.Backup}} {
		switch {
		case isNilConfig(child.pc):
			p.add(child.key, "must be set")
		case child.pc.ProviderType() == TypeComposite:
			p.add(child.key, "a composite may not nest a composite")
		default:
			p.addErr(validateProvider(child.pc, "", child.key))
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"sync_interval", c.SyncInterval}, {"health_check_interval", c.HealthCheckInterval}, {"failover_threshold", c.FailoverThreshold}} {
		if n.v < 1 {
			p.add(n.key, "must be at least 1, got %d", n.v)
		}
	}
	if c.Mirror != "" && c.Mirror != MirrorSync && c.Mirror != MirrorAsync {
		p.add("mirror", "must be %s or %s, got %s", MirrorSync, MirrorAsync, quoteString(c.Mirror))
	}
	if c.Failback != "" && c.Failback != FailbackAuto && c.Failback != FailbackManual {
		p.add("failback", "must be %s or %s, got %s", FailbackAuto, FailbackManual, quoteString(c.Failback))
	}
	return p.err()
}

// validateProvider validates pc with its own Validate, rejecting
// implementations whose type is not registered, and prefixes its problems
// with source and path.
func validateProvider(pc ProviderConfig, source, path string) error {
	if isNilConfig(pc) {
		return &fieldError{source: source, path: path, msg: "no configuration"}
	}
	if _, ok := configValue(pc); !ok {
		return &fieldError{source: source, path: path, msg: fmt.Sprintf("unsupported configuration type %T; use the types of package config or register it with config.RegisterType", pc)}
	}
	return withPrefix(pc.Validate(), source, path)
}

var providerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// validName reports whether name is a valid provider name.
func validName(name string) bool { return providerNameRE.MatchString(name) }

const nameRule = "invalid provider name (use letters, digits, '_' and '-')"

// Validate checks the whole configuration: at least one provider; valid
// provider names; every provider valid (problems named
// "SOURCE: providers.NAME.KEY: ..."); both defaults set and naming
// configured providers. It does not fill in defaults (Parse and Build do).
// All problems are reported, joined, each wrapping driver.ErrInvalidArgument.
func (c *Config) Validate() error {
	if c == nil {
		return &fieldError{msg: "nil configuration"}
	}
	p := problems{source: c.Source}
	if len(c.Providers) == 0 {
		p.add("providers", "at least one provider must be configured")
	}
	names := sortedKeys(c.Providers)
	for _, name := range names {
		path := "providers." + pathKey(name)
		if !validName(name) {
			p.add(path, nameRule)
		}
		p.addErr(validateProvider(c.Providers[name], c.Source, path))
	}
	c.Server.validate(&p)
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	for _, d := range []struct{ key, val string }{{"addressable", c.Defaults.Addressable}, {"cluster", c.Defaults.Cluster}} {
		switch _, ok := c.Providers[d.val]; {
		case d.val == "":
			p.add("defaults."+d.key, "must name a provider (configured: %s)", have)
		case !ok:
			p.add("defaults."+d.key, "provider %s is not configured (configured: %s)", quoteString(d.val), have)
		}
	}
	return p.err()
}

// required reports an empty value and returns whether it is set.
func required(p *problems, key, v string) bool {
	if v == "" {
		p.add(key, "must not be empty")
		return false
	}
	return true
}

// nonNegative reports a negative number.
func nonNegative(p *problems, key string, v int64) {
	if v < 0 {
		p.add(key, "must not be negative, got %d", v)
	}
}

// together requires two values to be both set or both empty.
func together(p *problems, k1, v1, k2, v2 string) {
	switch {
	case v1 != "" && v2 == "":
		p.add(k2, "must be set when %s is set", k1)
	case v1 == "" && v2 != "":
		p.add(k1, "must be set when %s is set", k2)
	}
}

// checkCompression requires one of the four algorithms (exact spelling).
func checkCompression(p *problems, key string, c Compression) {
	switch c {
	case CompressionNone, CompressionGzip, CompressionLz4, CompressionZstd:
	default:
		p.add(key, "must be one of None, Gzip, Lz4, Zstd, got %s", quoteString(string(c)))
	}
}

// checkURL requires an absolute http or https URL with a host.
func checkURL(p *problems, key, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add(key, "must be an http:// or https:// URL with a host, got %s", showValue(s))
	case misreadUserinfo(u):
		p.add(key, "%s", errMisreadUserinfo)
	}
}

// errMisreadUserinfo explains misreadUserinfo (without showing the URL).
const errMisreadUserinfo = "has an '@' after its host: a password holding '#', '/', '?' or '@' must be percent-encoded (%23, %2F, %3F, %40), or the part after it is read as the host"

// misreadUserinfo reports whether u has an '@' after its host: the sign of
// a userinfo whose password holds an unencoded reserved character, which
// the parser then split into host and path, query or fragment (the server
// would dial the wrong host, and a renderer trusting the parse would show
// the rest of the password).
func misreadUserinfo(u *url.URL) bool {
	return strings.Contains(u.Path, "@") || strings.Contains(u.RawQuery, "@") || strings.Contains(u.Fragment, "@")
}

// checkEndpoint accepts an http(s) URL with a host, or host[:port] (the port
// is required when needPort).
func checkEndpoint(p *problems, key, s string, needPort bool) {
	if strings.Contains(s, "://") {
		checkURL(p, key, s)
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if needPort || strings.ContainsAny(s, "/ \t@?#") || s == "" {
			p.add(key, "must be an http(s) URL or host:port, got %s", showValue(s))
		}
		return
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 || strings.ContainsAny(host, "/ \t@?#") {
		p.add(key, "must be an http(s) URL or host:port, got %s", showValue(s))
	}
}

// checkSchemeFlag requires an explicit endpoint scheme to agree with the TLS
// flag key.
func checkSchemeFlag(p *problems, key string, tls bool, endpoint string) {
	switch {
	case tls && strings.HasPrefix(endpoint, "http://"):
		p.add(key, "is true but the endpoint uses http://; set %s = false or use https://", key)
	case !tls && strings.HasPrefix(endpoint, "https://"):
		p.add(key, "is false but the endpoint uses https://; set %s = true or use http://", key)
	}
}

// showValue quotes s for a message, unless it may carry credentials (URL
// userinfo or query, e.g. a SAS token).
func showValue(s string) string {
	if strings.ContainsAny(s, "@?") {
		return "a value with credentials (not shown)"
	}
	return quoteString(s)
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// isDNSLabel reports whether s is an RFC 1123 label (Kubernetes namespace).
func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

// isDNSSubdomain reports whether s is an RFC 1123 subdomain (Kubernetes
// object name).
func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}
