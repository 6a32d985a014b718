package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

// [server.audit] decodes every key, reads zero values as the defaults,
// survives rendering, and validation names each bad key as
// server.audit.KEY.
func TestServerAuditTable(t *testing.T) {
	c, err := config.Parse([]byte(`
[server.audit]
sink = "file"
path = "/var/log/orbit/audit.log"
max_size_mb = 50
max_backups = 7
max_age_days = 30
compress = true
queue_size = 1024
`+serverBase), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := config.AuditConfig{Sink: "file", Path: "/var/log/orbit/audit.log", MaxSizeMB: 50, MaxBackups: 7, MaxAgeDays: 30, Compress: true, QueueSize: 1024}
	if *c.Server.Audit != want {
		t.Fatalf("audit = %+v, want %+v", *c.Server.Audit, want)
	}
	again, err := config.Parse([]byte(c.String()), config.FormatTOML, "rendered.toml")
	if err != nil || *again.Server.Audit != want {
		t.Fatalf("round trip: %+v, %v\n%s", again.Server.Audit, err, c.String())
	}

	// Absent and empty tables: stderr, default size and queue.
	var absent *config.AuditConfig
	empty := &config.AuditConfig{}
	for _, a := range []*config.AuditConfig{absent, empty} {
		if a.SinkOrDefault() != "stderr" || a.MaxSizeOrDefault() != 100 || a.QueueSizeOrDefault() != 8192 {
			t.Errorf("%+v: sink %q, size %d, queue %d", a, a.SinkOrDefault(), a.MaxSizeOrDefault(), a.QueueSizeOrDefault())
		}
	}

	for _, tc := range []struct{ table, want string }{
		{`sink = "syslog"`, `server.audit.sink: must be "stderr", "file" or "off", got "syslog"`},
		{`sink = "file"`, `server.audit.path: must not be empty with sink = "file"`},
		{`sink = "file"` + "\n" + `path = "/var/log/"`, `server.audit.path: must name a file`},
		{`path = "/tmp/a.log"`, `server.audit.path: is set but sink is "stderr"`},
		{`max_size_mb = -1`, `server.audit.max_size_mb: must be >= 0, got -1`},
		{`max_backups = -2`, `server.audit.max_backups: must be >= 0, got -2`},
		{`max_age_days = -3`, `server.audit.max_age_days: must be >= 0, got -3`},
		{`queue_size = 2000000`, `server.audit.queue_size: must be between 0`},
		{`compress = "yes"`, `server.audit.compress: expected boolean, got string`},
		{`enabled = true`, `server.audit: unknown key "enabled"`},
	} {
		c, err := config.Parse([]byte("[server.audit]\n"+tc.table+"\n"+serverBase), config.FormatTOML, "f.toml")
		if err == nil {
			err = c.Validate()
		}
		if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.table, err, tc.want)
		}
	}
}
