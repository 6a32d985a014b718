package config

import (
	"bytes"
	"fmt"
	"reflect"
	"time"
)

// ServerConfig is the configuration file's optional [server] table: how
// the server itself behaves, beside the storage it uses. Each sub-table is
// declared in a file of its own (server_*.go); a nil sub-table was not in
// the file and means that part's defaults. Decoding is as strict as for
// providers: an unknown key is an error naming it. Secrets are never held
// here in clear: bearer tokens are referenced by file or hash.
type ServerConfig struct {
	// Namespace is the namespace of requests that name none ("": "default").
	Namespace string `toml:"namespace" json:"namespace"`
	// Listen is the gRPC listen address ("": every interface, port 50051).
	Listen string `toml:"listen" json:"listen"`
	// AdminAddr is the admin HTTP listen address ("": 127.0.0.1:9464;
	// AdminOff disables the admin listener).
	AdminAddr string `toml:"admin_addr" json:"admin_addr"`
	// ShutdownTimeout is the time allowed to drain calls on SIGTERM
	// ("": 15 s).
	ShutdownTimeout time.Duration `toml:"shutdown_timeout" json:"shutdown_timeout"`
	// Pprof serves Go's profiler at /debug/pprof/ on the admin listener,
	// behind the admin auth when auth is on; off by default.
	Pprof bool `toml:"pprof" json:"pprof"`

	Timings *TimingsConfig   `toml:"timings"`
	TLS     *TLSServerConfig `toml:"tls"`
	Log     *LogConfig       `toml:"log"`
	Auth    *AuthConfig      `toml:"auth"`
	Limits  *LimitsConfig    `toml:"limits"`
	Audit   *AuditConfig     `toml:"audit"`
}

// IsZero reports whether the [server] table sets nothing.
func (s ServerConfig) IsZero() bool { return reflect.ValueOf(s).IsZero() }

// clone returns a deep copy of s.
func (s ServerConfig) clone() ServerConfig {
	c := s
	deepen(reflect.ValueOf(&c).Elem(), 0)
	return c
}

// redacted returns a deep copy of s with its secrets replaced.
func (s ServerConfig) redacted() ServerConfig {
	c := s.clone()
	redactStruct(reflect.ValueOf(&c).Elem(), 0)
	return c
}

// writeJSONServer appends `,"server":{...}` when s is set.
func writeJSONServer(b *bytes.Buffer, s ServerConfig) {
	if s.IsZero() {
		return
	}
	b.WriteString(`,"server":{`)
	writeJSONFields(b, reflect.ValueOf(s), 0, false)
	b.WriteByte('}')
}

// writeTOMLServer appends the [server] table's set keys, then a
// [server.NAME] section per set sub-table.
func writeTOMLServer(b *bytes.Buffer, s ServerConfig) {
	v := reflect.ValueOf(s)
	header := false
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if f.kind == kindTable || fv.IsZero() {
			continue
		}
		if !header {
			b.WriteString("\n[server]\n")
			header = true
		}
		fmt.Fprintf(b, "%s = ", f.key)
		writeScalar(b, fv, f)
		b.WriteByte('\n')
	}
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if f.kind != kindTable || fv.IsNil() {
			continue
		}
		fmt.Fprintf(b, "\n[server.%s]\n", f.key)
		for _, sf := range fieldsOf(fv.Elem().Type()) {
			fmt.Fprintf(b, "%s = ", sf.key)
			writeScalar(b, fv.Elem().Field(sf.index), sf)
			b.WriteByte('\n')
		}
	}
}

// validate checks every set sub-table; problems are named server.NAME.KEY.
func (s ServerConfig) validate(p *problems) {
	s.validateSettings(p)
	if s.Auth != nil {
		s.Auth.validate(p, "server.auth")
	}
	if s.Limits != nil {
		s.Limits.validate(p, "server.limits")
	}
	if s.Audit != nil {
		s.Audit.validate(p, "server.audit")
	}
}
