package config

import (
	"bytes"
	"fmt"
	"reflect"
)

// ServerConfig is the configuration file's optional [server] table: how
// the server itself behaves, beside the storage it uses. Each sub-table is
// declared in a file of its own (server_*.go); a nil sub-table was not in
// the file and means that part's defaults. Decoding is as strict as for
// providers: an unknown key is an error naming it. Secrets are never held
// here in clear: bearer tokens are referenced by file or hash.
type ServerConfig struct {
	Auth   *AuthConfig   `toml:"auth"`
	Limits *LimitsConfig `toml:"limits"`
	Audit  *AuditConfig  `toml:"audit"`
}

// IsZero reports whether no [server] sub-table is set.
func (s ServerConfig) IsZero() bool { return s.Auth == nil && s.Limits == nil && s.Audit == nil }

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

// writeTOMLServer appends a [server.NAME] section per set sub-table.
func writeTOMLServer(b *bytes.Buffer, s ServerConfig) {
	v := reflect.ValueOf(s)
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
