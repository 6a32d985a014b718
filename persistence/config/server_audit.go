package config

import (
	"path/filepath"
	"strings"
)

// The values of AuditConfig.Sink.
const (
	AuditSinkStderr = "stderr"
	AuditSinkFile   = "file"
	AuditSinkOff    = "off"
)

// Defaults of the [server.audit] table's zero values.
const (
	DefaultAuditMaxSizeMB = 100
	DefaultAuditQueueSize = 8192
	maxAuditQueueSize     = 1 << 20
)

// AuditConfig is the [server.audit] table: where the audit log goes. Every
// key's zero value means its default, so an absent table, an empty table
// and a table setting only some keys all make sense:
//
//	[server.audit]
//	sink = "file"                      # "stderr" (default), "file" or "off"
//	path = "/var/log/orbit/audit.log"  # required with sink = "file"
//	max_size_mb = 100                  # rotate at this size (default 100)
//	max_backups = 10                   # rotated files kept (0: all)
//	max_age_days = 30                  # days rotated files are kept (0: no limit)
//	compress = true                    # gzip rotated files
//	queue_size = 8192                  # events waiting to be written (default 8192)
//
// The server writes the audit log unless sink is "off": to stderr, beside
// its other logs, when nothing is configured.
type AuditConfig struct {
	// Sink is "stderr" (the default, also for ""), "file" or "off".
	Sink string `toml:"sink" json:"sink"`
	// Path of the audit file, required with sink = "file" and refused
	// with another sink. Rotated files are written beside it.
	Path string `toml:"path" json:"path"`
	// MaxSizeMB is the size in megabytes at which the file is rotated;
	// 0 means DefaultAuditMaxSizeMB.
	MaxSizeMB int `toml:"max_size_mb" json:"max_size_mb"`
	// MaxBackups is the number of rotated files kept; 0 keeps all.
	MaxBackups int `toml:"max_backups" json:"max_backups"`
	// MaxAgeDays is how long rotated files are kept; 0 means no limit.
	MaxAgeDays int `toml:"max_age_days" json:"max_age_days"`
	// Compress gzips rotated files.
	Compress bool `toml:"compress" json:"compress"`
	// QueueSize bounds the events waiting to be written; when it is full,
	// events are dropped and counted, never waited for. 0 means
	// DefaultAuditQueueSize; at most 1,048,576.
	QueueSize int `toml:"queue_size" json:"queue_size"`
}

// SinkOrDefault is Sink with "" read as "stderr" (a nil table too).
func (c *AuditConfig) SinkOrDefault() string {
	if c == nil || c.Sink == "" {
		return AuditSinkStderr
	}
	return strings.ToLower(c.Sink)
}

// MaxSizeOrDefault is MaxSizeMB with 0 read as DefaultAuditMaxSizeMB.
func (c *AuditConfig) MaxSizeOrDefault() int {
	if c == nil || c.MaxSizeMB == 0 {
		return DefaultAuditMaxSizeMB
	}
	return c.MaxSizeMB
}

// QueueSizeOrDefault is QueueSize with 0 read as DefaultAuditQueueSize.
func (c *AuditConfig) QueueSizeOrDefault() int {
	if c == nil || c.QueueSize == 0 {
		return DefaultAuditQueueSize
	}
	return c.QueueSize
}

// validate checks the table; path is its position in the file. Problems
// are named server.audit.KEY.
func (c *AuditConfig) validate(p *problems, path string) {
	key := func(k string) string { return path + "." + k }
	sink := c.SinkOrDefault()
	switch sink {
	case AuditSinkStderr, AuditSinkOff:
		if c.Path != "" {
			p.add(key("path"), "is set but sink is %s; path is for sink = \"file\"", quoteString(sink))
		}
	case AuditSinkFile:
		switch {
		case c.Path == "":
			p.add(key("path"), "must not be empty with sink = \"file\"")
		case strings.HasSuffix(c.Path, "/") || filepath.Base(c.Path) == "." || filepath.Base(c.Path) == "..":
			p.add(key("path"), "must name a file, not a directory")
		}
	default:
		p.add(key("sink"), "must be \"stderr\", \"file\" or \"off\", got %s", quoteString(c.Sink))
	}
	for _, k := range []struct {
		name string
		v    int
	}{{"max_size_mb", c.MaxSizeMB}, {"max_backups", c.MaxBackups}, {"max_age_days", c.MaxAgeDays}} {
		if k.v < 0 {
			p.add(key(k.name), "must be >= 0, got %d", k.v)
		}
	}
	if c.QueueSize < 0 || c.QueueSize > maxAuditQueueSize {
		p.add(key("queue_size"), "must be between 0 (the default, %d) and %d, got %d", DefaultAuditQueueSize, maxAuditQueueSize, c.QueueSize)
	}
}
