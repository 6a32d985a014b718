package server

import (
	"fmt"
	"time"

	"github.com/orbit-go/orbit/persistence/config"
)

// Limits are the bounds the server puts on its callers. A zero field
// means its DefaultLimits value (so a partially filled Limits is valid).
// Where a limit refuses a call, the caller gets ResourceExhausted with a
// message naming the limit's configuration key (server.limits.KEY).
type Limits struct {
	// MaxNodesPerNamespace: live nodes of one namespace.
	MaxNodesPerNamespace int
	// MaxNamespaces: namespaces with live nodes, as this server sees them
	// (the namespaces it has placed or joined in; another server of the
	// same cluster counts its own).
	MaxNamespaces int
	// MaxStreamsPerConnection: calls in flight on one HTTP/2 connection
	// (further calls wait for a slot, as HTTP/2 prescribes).
	MaxStreamsPerConnection int
	// MaxStreams: calls in flight on all connections together.
	MaxStreams int
	// MaxWatchesPerCaller: open WatchNodes streams of one caller.
	MaxWatchesPerCaller int
	// MaxWatches: open WatchNodes streams of all callers.
	MaxWatches int
	// MaxRecvMessageBytes, MaxSendMessageBytes: size of one message.
	MaxRecvMessageBytes int
	MaxSendMessageBytes int
	// KeepaliveMinPingInterval: a client pinging more often is disconnected.
	KeepaliveMinPingInterval time.Duration
	// KeepaliveTime, KeepaliveTimeout: the server pings a connection idle
	// for KeepaliveTime and closes it when no answer comes in KeepaliveTimeout.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MaxConnectionIdle: a connection without calls this long is closed.
	MaxConnectionIdle time.Duration
	// BackendTimeout bounds the storage calls made for one request (and
	// each poll of a watch); a client's shorter deadline wins.
	BackendTimeout time.Duration
	// RatePerSecond and RateBurst: the token bucket of one caller.
	RatePerSecond float64
	RateBurst     int
	// RateCallers: callers the rate limiter remembers (least recently seen
	// forgotten first).
	RateCallers int
	// DefaultListPageSize and MaxListPageSize: ListNodes page sizes.
	DefaultListPageSize int
	MaxListPageSize     int
}

// DefaultLimits are the limits of a server not configured otherwise; the
// reason for each value is in docs/security-limits.md.
func DefaultLimits() Limits {
	return Limits{
		MaxNodesPerNamespace:     1000,
		MaxNamespaces:            100,
		MaxStreamsPerConnection:  1000,
		MaxStreams:               10_000,
		MaxWatchesPerCaller:      64,
		MaxWatches:               1024,
		MaxRecvMessageBytes:      4 << 20,
		MaxSendMessageBytes:      4 << 20,
		KeepaliveMinPingInterval: 10 * time.Second,
		KeepaliveTime:            30 * time.Second,
		KeepaliveTimeout:         10 * time.Second,
		MaxConnectionIdle:        30 * time.Minute,
		BackendTimeout:           10 * time.Second,
		RatePerSecond:            100_000,
		RateBurst:                100_000,
		RateCallers:              10_000,
		DefaultListPageSize:      500,
		MaxListPageSize:          5000,
	}
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&l.MaxNodesPerNamespace, d.MaxNodesPerNamespace)
	setInt(&l.MaxNamespaces, d.MaxNamespaces)
	setInt(&l.MaxStreamsPerConnection, d.MaxStreamsPerConnection)
	setInt(&l.MaxStreams, d.MaxStreams)
	setInt(&l.MaxWatchesPerCaller, d.MaxWatchesPerCaller)
	setInt(&l.MaxWatches, d.MaxWatches)
	setInt(&l.MaxRecvMessageBytes, d.MaxRecvMessageBytes)
	setInt(&l.MaxSendMessageBytes, d.MaxSendMessageBytes)
	setDur(&l.KeepaliveMinPingInterval, d.KeepaliveMinPingInterval)
	setDur(&l.KeepaliveTime, d.KeepaliveTime)
	setDur(&l.KeepaliveTimeout, d.KeepaliveTimeout)
	setDur(&l.MaxConnectionIdle, d.MaxConnectionIdle)
	setDur(&l.BackendTimeout, d.BackendTimeout)
	if l.RatePerSecond == 0 {
		l.RatePerSecond = d.RatePerSecond
	}
	setInt(&l.RateBurst, d.RateBurst)
	setInt(&l.RateCallers, d.RateCallers)
	setInt(&l.MaxListPageSize, d.MaxListPageSize)
	setInt(&l.DefaultListPageSize, min(d.DefaultListPageSize, l.MaxListPageSize))
	return l
}

// validate refuses negative limits and inconsistent pairs, naming the field.
func (l Limits) validate() error {
	for name, v := range map[string]int64{
		"MaxNodesPerNamespace": int64(l.MaxNodesPerNamespace), "MaxNamespaces": int64(l.MaxNamespaces),
		"MaxStreamsPerConnection": int64(l.MaxStreamsPerConnection), "MaxStreams": int64(l.MaxStreams),
		"MaxWatchesPerCaller": int64(l.MaxWatchesPerCaller), "MaxWatches": int64(l.MaxWatches),
		"MaxRecvMessageBytes": int64(l.MaxRecvMessageBytes), "MaxSendMessageBytes": int64(l.MaxSendMessageBytes),
		"KeepaliveMinPingInterval": int64(l.KeepaliveMinPingInterval), "KeepaliveTime": int64(l.KeepaliveTime),
		"KeepaliveTimeout": int64(l.KeepaliveTimeout), "MaxConnectionIdle": int64(l.MaxConnectionIdle),
		"BackendTimeout": int64(l.BackendTimeout), "RateBurst": int64(l.RateBurst), "RateCallers": int64(l.RateCallers),
		"DefaultListPageSize": int64(l.DefaultListPageSize), "MaxListPageSize": int64(l.MaxListPageSize),
	} {
		if v <= 0 {
			return fmt.Errorf("server: limits: %s must be positive, got %d", name, v)
		}
	}
	if l.RatePerSecond <= 0 {
		return fmt.Errorf("server: limits: RatePerSecond must be positive, got %g", l.RatePerSecond)
	}
	if l.DefaultListPageSize > l.MaxListPageSize {
		return fmt.Errorf("server: limits: DefaultListPageSize (%d) exceeds MaxListPageSize (%d)", l.DefaultListPageSize, l.MaxListPageSize)
	}
	if l.MaxWatchesPerCaller > l.MaxWatches {
		return fmt.Errorf("server: limits: MaxWatchesPerCaller (%d) exceeds MaxWatches (%d)", l.MaxWatchesPerCaller, l.MaxWatches)
	}
	return nil
}

// WithLimits sets the server's limits; zero fields keep their defaults.
func (b *Builder) WithLimits(l Limits) *Builder { b.limits = l; return b }

// LimitsFromConfig converts a [server.limits] table (nil: all defaults);
// zero keys keep their defaults, durations are in seconds.
func LimitsFromConfig(c *config.LimitsConfig) Limits {
	if c == nil {
		return DefaultLimits()
	}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	return Limits{
		MaxNodesPerNamespace:     c.MaxNodesPerNamespace,
		MaxNamespaces:            c.MaxNamespaces,
		MaxStreamsPerConnection:  c.MaxStreamsPerConnection,
		MaxStreams:               c.MaxStreams,
		MaxWatchesPerCaller:      c.MaxWatchesPerCaller,
		MaxWatches:               c.MaxWatches,
		MaxRecvMessageBytes:      c.MaxRecvMessageBytes,
		MaxSendMessageBytes:      c.MaxSendMessageBytes,
		KeepaliveMinPingInterval: sec(c.KeepaliveMinPingInterval),
		KeepaliveTime:            sec(c.KeepaliveTime),
		KeepaliveTimeout:         sec(c.KeepaliveTimeout),
		MaxConnectionIdle:        sec(c.MaxConnectionIdle),
		BackendTimeout:           sec(c.BackendTimeout),
		RatePerSecond:            float64(c.RatePerSecond),
		RateBurst:                c.RateBurst,
		RateCallers:              c.RateCallers,
		MaxListPageSize:          c.MaxListPageSize,
	}.withDefaults()
}
