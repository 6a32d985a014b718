package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// Rendering always works on a redacted copy: no output of this file can
// contain a secret.

var (
	_ fmt.Stringer   = (*Config)(nil)
	_ fmt.Formatter  = (*Config)(nil)
	_ json.Marshaler = (*Config)(nil)
	_ fmt.Formatter  = S3Config{}
	_ json.Marshaler = S3Config{}
)

// MarshalJSON renders the configuration, redacted, in the JSON shape of the
// specification: {"defaults": {...}, "providers": {"NAME": {"type": ...,
// every key ...}}}. Every key is written (nil disk_backup, primary and
// backup are omitted) so that Parse of the output reproduces the
// configuration, secrets excepted. Source is not written.
func (c *Config) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	r := c.Redacted()
	var b bytes.Buffer
	b.WriteString(`{"defaults":{"addressable":`)
	b.WriteString(quoteString(r.Defaults.Addressable))
	b.WriteString(`,"cluster":`)
	b.WriteString(quoteString(r.Defaults.Cluster))
	b.WriteString(`},"providers":{`)
	for i, name := range sortedKeys(r.Providers) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteString(name))
		b.WriteByte(':')
		writeJSONProvider(&b, r.Providers[name], 0)
	}
	b.WriteByte('}')
	writeJSONServer(&b, r.Server)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// String renders the configuration, redacted, as TOML in the shape of the
// specification; Parse accepts the output. A nil Config renders "<nil>".
func (c *Config) String() string {
	if c == nil {
		return "<nil>"
	}
	r := c.Redacted()
	var b bytes.Buffer
	fmt.Fprintf(&b, "[defaults]\naddressable = %s\ncluster = %s\n", quoteString(r.Defaults.Addressable), quoteString(r.Defaults.Cluster))
	for _, name := range sortedKeys(r.Providers) {
		writeTOMLProvider(&b, "providers."+pathKey(name), r.Providers[name], 0)
	}
	writeTOMLServer(&b, r.Server)
	return b.String()
}

// Format implements fmt.Formatter: every verb prints String(), so that no
// verb (%v, %+v, %#v, %s, %d, ...) can print a secret.
func (c *Config) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// RedactedJSON renders pc, redacted (see Redact), as one-line JSON:
// {"type": ..., then every key}. A type that is not registered renders as
// its type only, nil as null. The String, Format and MarshalJSON methods of
// the built-in types return it; a type registered with RegisterType should
// have the same three methods (value receivers), so that printing it with
// fmt or encoding/json never shows a secret:
//
//	func (c BoltConfig) String() string               { return string(config.RedactedJSON(&c)) }
//	func (c BoltConfig) Format(f fmt.State, _ rune)   { _, _ = f.Write(config.RedactedJSON(&c)) }
//	func (c BoltConfig) MarshalJSON() ([]byte, error) { return config.RedactedJSON(&c), nil }
func RedactedJSON(pc ProviderConfig) []byte { return renderProvider(pc) }

// renderProvider is the redacted one-line JSON rendering of a provider
// configuration (RedactedJSON).
func renderProvider(pc ProviderConfig) []byte {
	var b bytes.Buffer
	writeJSONProvider(&b, Redact(pc), 0)
	return b.Bytes()
}

// writeJSONProvider writes {"type": ..., keys...}. An implementation whose
// type is not registered is written as its type only.
func writeJSONProvider(b *bytes.Buffer, pc ProviderConfig, depth int) {
	if isNilConfig(pc) {
		b.WriteString("null")
		return
	}
	b.WriteString(`{"type":`)
	b.WriteString(quoteString(string(pc.ProviderType())))
	if v, ok := configValue(pc); ok {
		writeJSONFields(b, v, depth, true)
	}
	b.WriteByte('}')
}

// writeJSONFields writes the keys of struct v; comma tells whether a member
// was written before.
func writeJSONFields(b *bytes.Buffer, v reflect.Value, depth int, comma bool) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if (f.kind == kindTable && fv.IsNil()) || (f.kind == kindProvider && (fv.IsNil() || depth > 0)) {
			continue // nil tables and children, children of a nested composite
		}
		if comma {
			b.WriteByte(',')
		}
		comma = true
		b.WriteString(quoteString(f.key))
		b.WriteByte(':')
		switch f.kind {
		case kindTable:
			b.WriteByte('{')
			writeJSONFields(b, fv.Elem(), depth, false)
			b.WriteByte('}')
		case kindProvider:
			writeJSONProvider(b, fv.Interface().(ProviderConfig), depth+1)
		default:
			writeScalar(b, fv, f)
		}
	}
}

// writeScalar writes a string, number, boolean or list of strings; the
// syntax is both valid JSON and valid TOML.
func writeScalar(b *bytes.Buffer, fv reflect.Value, f field) {
	switch f.kind {
	case kindString, kindCompression:
		b.WriteString(quoteString(fv.String()))
	case kindInt, kindInt64:
		b.WriteString(strconv.FormatInt(fv.Int(), 10))
	case kindDuration:
		b.WriteString(quoteString(time.Duration(fv.Int()).String()))
	case kindBool:
		b.WriteString(strconv.FormatBool(fv.Bool()))
	case kindStrings:
		b.WriteByte('[')
		for i := range fv.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteString(fv.Index(i).String()))
		}
		b.WriteByte(']')
	}
}

// writeTOMLProvider writes [header] with type and keys, tables inline, then
// the composite children as [header.primary] / [header.backup].
func writeTOMLProvider(b *bytes.Buffer, header string, pc ProviderConfig, depth int) {
	if isNilConfig(pc) {
		return
	}
	fmt.Fprintf(b, "\n[%s]\ntype = %s\n", header, quoteString(string(pc.ProviderType())))
	v, ok := configValue(pc)
	if !ok {
		return
	}
	var children []field
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		switch f.kind {
		case kindProvider:
			if !fv.IsNil() && depth == 0 {
				children = append(children, f)
			}
		case kindTable:
			if !fv.IsNil() {
				fmt.Fprintf(b, "%s = { ", f.key)
				for i, sf := range fieldsOf(fv.Elem().Type()) {
					if i > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(b, "%s = ", sf.key)
					writeScalar(b, fv.Elem().Field(sf.index), sf)
				}
				b.WriteString(" }\n")
			}
		default:
			fmt.Fprintf(b, "%s = ", f.key)
			writeScalar(b, fv, f)
			b.WriteByte('\n')
		}
	}
	for _, f := range children {
		writeTOMLProvider(b, header+"."+f.key, v.Field(f.index).Interface().(ProviderConfig), depth+1)
	}
}

// quoteString quotes s as a string valid in both JSON and TOML: '"', '\\'
// and control characters (including DEL) are escaped, invalid UTF-8 becomes
// U+FFFD.
func quoteString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < 0x20 || r == 0x7f:
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes
		}
	}
	return string(append(b, '"'))
}

// String renders the configuration, redacted, as one-line JSON.
func (c MemoryConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c S3Config) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c AzureConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c GoogleCloudConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c EtcdConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c RedisConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c KubernetesConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c MinIOConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c FlashConfig) String() string { return string(renderProvider(&c)) }

// String renders the configuration, redacted, as one-line JSON.
func (c CompositeConfig) String() string { return string(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c MemoryConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c S3Config) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c AzureConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c GoogleCloudConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c EtcdConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c RedisConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c KubernetesConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c MinIOConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c FlashConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// Format prints String() for every verb, so no verb prints a secret.
func (c CompositeConfig) Format(f fmt.State, _ rune) { _, _ = f.Write(renderProvider(&c)) }

// MarshalJSON renders the configuration redacted, with its "type".
func (c MemoryConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c S3Config) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c AzureConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c GoogleCloudConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c EtcdConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c RedisConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c KubernetesConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c MinIOConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c FlashConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }

// MarshalJSON renders the configuration redacted, with its "type".
func (c CompositeConfig) MarshalJSON() ([]byte, error) { return renderProvider(&c), nil }
