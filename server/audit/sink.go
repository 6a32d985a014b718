package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/orbit-go/orbit/persistence/config"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Open starts the Log that cfg ([server.audit]; nil means the defaults)
// describes: JSON lines on stderr, or in a file rotated by lumberjack at
// max_size_mb (rotated files keep the name with a timestamp, beside it,
// max_backups of them for max_age_days, gzipped with compress). It returns
// nil and no error when the sink is "off". The file is created (mode 0600,
// its folder 0700) now, so a path that cannot be written is reported at
// start, naming it.
func Open(cfg *config.AuditConfig, opts ...Option) (*Log, error) {
	opts = append([]Option{WithQueueSize(cfg.QueueSizeOrDefault())}, opts...)
	switch sink := cfg.SinkOrDefault(); sink {
	case config.AuditSinkOff:
		return nil, nil
	case config.AuditSinkStderr:
		return New(stderr{}, opts...), nil
	case config.AuditSinkFile:
		if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
			return nil, fmt.Errorf("audit: server.audit.path %s: %w", cfg.Path, err)
		}
		f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit: server.audit.path: %w", err)
		}
		_ = f.Close()
		lj := &lumberjack.Logger{Filename: cfg.Path, MaxSize: cfg.MaxSizeOrDefault(), MaxBackups: cfg.MaxBackups,
			MaxAge: cfg.MaxAgeDays, Compress: cfg.Compress}
		l := New(lj, opts...)
		l.closer = lj
		return l, nil
	default:
		return nil, fmt.Errorf("audit: server.audit.sink: unknown sink %q", sink)
	}
}

// stderr writes to the process's standard error, read at each write (tests
// may swap os.Stderr), and is never closed by the Log.
type stderr struct{}

func (stderr) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

var _ io.Writer = stderr{}
