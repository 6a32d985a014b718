package config

// LimitsConfig is the [server.limits] table: the bounds the server puts on
// what its callers may ask of it. Every key is optional; 0 (or an absent
// key) means the server's default for it (server.DefaultLimits documents
// each, and docs/security-limits.md lists them with the reason for each).
// Durations are whole seconds, counts and sizes are plain integers.
type LimitsConfig struct {
	// MaxNodesPerNamespace bounds the live nodes of one namespace; a Join
	// beyond it is answered ResourceExhausted.
	MaxNodesPerNamespace int `toml:"max_nodes_per_namespace" json:"max_nodes_per_namespace"`
	// MaxNamespaces bounds the namespaces with live nodes (as this server
	// sees them); a Join opening one more is answered ResourceExhausted.
	MaxNamespaces int `toml:"max_namespaces" json:"max_namespaces"`
	// MaxStreamsPerConnection is HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS:
	// calls in flight on one connection (more wait for a free slot).
	MaxStreamsPerConnection int `toml:"max_streams_per_connection" json:"max_streams_per_connection"`
	// MaxStreams bounds the calls in flight on all connections together; a
	// call beyond it is answered ResourceExhausted.
	MaxStreams int `toml:"max_streams" json:"max_streams"`
	// MaxWatchesPerCaller bounds the open WatchNodes streams of one caller
	// (an identity, or an anonymous caller's host).
	MaxWatchesPerCaller int `toml:"max_watches_per_caller" json:"max_watches_per_caller"`
	// MaxWatches bounds the open WatchNodes streams of all callers.
	MaxWatches int `toml:"max_watches" json:"max_watches"`
	// MaxRecvMessageBytes bounds one request message.
	MaxRecvMessageBytes int `toml:"max_recv_message_bytes" json:"max_recv_message_bytes"`
	// MaxSendMessageBytes bounds one response message.
	MaxSendMessageBytes int `toml:"max_send_message_bytes" json:"max_send_message_bytes"`
	// KeepaliveMinPingInterval: a client pinging more often than this is
	// disconnected (too_many_pings); seconds.
	KeepaliveMinPingInterval int `toml:"keepalive_min_ping_interval" json:"keepalive_min_ping_interval"`
	// KeepaliveTime: the server pings a connection idle this long; seconds.
	KeepaliveTime int `toml:"keepalive_time" json:"keepalive_time"`
	// KeepaliveTimeout: a connection whose ping is unanswered this long is
	// closed; seconds.
	KeepaliveTimeout int `toml:"keepalive_timeout" json:"keepalive_timeout"`
	// MaxConnectionIdle: a connection without a call this long is closed
	// (the client reconnects when it needs to); seconds.
	MaxConnectionIdle int `toml:"max_connection_idle" json:"max_connection_idle"`
	// BackendTimeout bounds the storage calls made for one request (and
	// each poll of a watch); seconds.
	BackendTimeout int `toml:"backend_timeout" json:"backend_timeout"`
	// RatePerSecond is the sustained requests per second of one caller.
	RatePerSecond int `toml:"rate_per_second" json:"rate_per_second"`
	// RateBurst is how many requests one caller may send at once.
	RateBurst int `toml:"rate_burst" json:"rate_burst"`
	// RateCallers bounds the callers the rate limiter remembers; the least
	// recently seen is forgotten first (its bucket starts full again).
	RateCallers int `toml:"rate_callers" json:"rate_callers"`
	// MaxListPageSize caps the page_size of ListNodes.
	MaxListPageSize int `toml:"max_list_page_size" json:"max_list_page_size"`
}

// limitKeys pairs each key of the table with its value, in file order.
func (c *LimitsConfig) limitKeys() []struct {
	key string
	v   int
} {
	return []struct {
		key string
		v   int
	}{
		{"max_nodes_per_namespace", c.MaxNodesPerNamespace}, {"max_namespaces", c.MaxNamespaces},
		{"max_streams_per_connection", c.MaxStreamsPerConnection}, {"max_streams", c.MaxStreams},
		{"max_watches_per_caller", c.MaxWatchesPerCaller}, {"max_watches", c.MaxWatches},
		{"max_recv_message_bytes", c.MaxRecvMessageBytes}, {"max_send_message_bytes", c.MaxSendMessageBytes},
		{"keepalive_min_ping_interval", c.KeepaliveMinPingInterval}, {"keepalive_time", c.KeepaliveTime},
		{"keepalive_timeout", c.KeepaliveTimeout}, {"max_connection_idle", c.MaxConnectionIdle},
		{"backend_timeout", c.BackendTimeout}, {"rate_per_second", c.RatePerSecond},
		{"rate_burst", c.RateBurst}, {"rate_callers", c.RateCallers}, {"max_list_page_size", c.MaxListPageSize},
	}
}

// maxMessageBytes is the largest message size accepted (gRPC's frames
// carry a 32-bit length; beyond 1 GiB is a typo).
const maxMessageBytes = 1 << 30

// validate checks the table; path is its position in the file. Every
// value must be >= 0 (0 = the default); sizes are at most 1 GiB, and
// max_watches_per_caller may not exceed an explicit max_watches.
func (c *LimitsConfig) validate(p *problems, path string) {
	for _, k := range c.limitKeys() {
		if k.v < 0 {
			p.add(path+"."+k.key, "is %d, must be >= 0 (0 = the default)", k.v)
		}
	}
	if c.MaxRecvMessageBytes > maxMessageBytes {
		p.add(path+".max_recv_message_bytes", "is %d, must be at most %d (1 GiB)", c.MaxRecvMessageBytes, maxMessageBytes)
	}
	if c.MaxSendMessageBytes > maxMessageBytes {
		p.add(path+".max_send_message_bytes", "is %d, must be at most %d (1 GiB)", c.MaxSendMessageBytes, maxMessageBytes)
	}
	if c.MaxWatches > 0 && c.MaxWatchesPerCaller > c.MaxWatches {
		p.add(path+".max_watches_per_caller", "is %d, more than max_watches (%d)", c.MaxWatchesPerCaller, c.MaxWatches)
	}
	if c.MaxStreams > 0 && c.MaxStreamsPerConnection > c.MaxStreams {
		p.add(path+".max_streams_per_connection", "is %d, more than max_streams (%d)", c.MaxStreamsPerConnection, c.MaxStreams)
	}
}
