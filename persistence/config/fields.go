package config

import (
	"reflect"
	"strings"
	"sync"
	"time"
)

// durationWant describes a duration's syntax in messages.
const durationWant = `duration (a number with a unit: "500ms", "3s", "1m30s")`

// The reflection layer: one table of keys per struct type, read from the
// `toml` tags, drives decoding (TOML and JSON), environment variables,
// redaction, cloning and rendering, so that a key is declared exactly once.

// fieldKind classifies the field types this package supports.
type fieldKind int

const (
	kindString      fieldKind = iota + 1 // string
	kindInt                              // int
	kindInt64                            // int64
	kindBool                             // bool
	kindStrings                          // []string
	kindCompression                      // Compression
	kindDuration                         // time.Duration, written "1m30s"
	kindTable                            // *struct (e.g. *DiskBackupConfig)
	kindProvider                         // ProviderConfig (composite children)
)

// field describes one configuration key of a struct.
type field struct {
	key      string // key in files (toml tag); env name is its upper case
	index    int    // struct field index
	kind     fieldKind
	secret   bool // secret:"true": the whole value is secret
	userinfo bool // secret:"userinfo": the URL's password is secret
}

var (
	providerConfigType = reflect.TypeFor[ProviderConfig]()
	compressionType    = reflect.TypeFor[Compression]()
	fieldCache         sync.Map // reflect.Type -> []field
)

// fieldsOf returns the keys of struct type t, in declaration order. Fields
// without a toml tag, unexported fields and fields of unsupported types are
// not keys (in a registered type, RegisterType allows only unexported
// fields and toml:"-" among them).
func fieldsOf(t reflect.Type) []field {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		key := tagKey(sf)
		if key == "" || key == "-" || !sf.IsExported() {
			continue
		}
		kind, ok := kindOf(sf.Type)
		if !ok {
			continue // not a configuration key
		}
		f := field{key: key, index: i, kind: kind}
		switch sf.Tag.Get("secret") {
		case "true":
			f.secret = true
		case "userinfo":
			f.userinfo = true
		}
		fs = append(fs, f)
	}
	fieldCache.Store(t, fs)
	return fs
}

// tagKey is the key named by the toml tag of sf ("" if none).
func tagKey(sf reflect.StructField) string {
	key, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
	return key
}

// kindOf classifies a field type; ok is false for a type this package does
// not decode.
func kindOf(t reflect.Type) (fieldKind, bool) {
	switch {
	case t == compressionType:
		return kindCompression, true
	case t == durationType:
		return kindDuration, true
	case t == providerConfigType:
		return kindProvider, true
	case t.Kind() == reflect.String:
		return kindString, true
	case t.Kind() == reflect.Int:
		return kindInt, true
	case t.Kind() == reflect.Int64:
		return kindInt64, true
	case t.Kind() == reflect.Bool:
		return kindBool, true
	case t.Kind() == reflect.Slice && t.Elem() == stringType:
		return kindStrings, true
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return kindTable, true
	}
	return 0, false
}

// lookupField finds the field with the given key.
func lookupField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// fieldKeys lists the keys of fs (plus extra), for suggestions.
func fieldKeys(fs []field, extra ...string) []string {
	out := append([]string(nil), extra...)
	for _, f := range fs {
		out = append(out, f.key)
	}
	return out
}

// newTable returns a pointer to a fresh default value of the struct type t
// (the element type of a kindTable field): DefaultDiskBackupConfig for
// DiskBackupConfig, the zero value for any other table type.
func newTable(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if t == reflect.TypeFor[DiskBackupConfig]() {
		p.Elem().Set(reflect.ValueOf(DefaultDiskBackupConfig()))
	}
	return p
}

// configValue returns the struct value behind pc when pc is a non-nil
// pointer of a registered configuration type (see RegisterType).
func configValue(pc ProviderConfig) (reflect.Value, bool) {
	if pc == nil {
		return reflect.Value{}, false
	}
	rv := reflect.ValueOf(pc)
	if !isRegisteredGoType(rv.Type()) || rv.IsNil() {
		return reflect.Value{}, false
	}
	return rv.Elem(), true
}

// isNilConfig reports whether pc is nil or a typed nil pointer.
func isNilConfig(pc ProviderConfig) bool {
	if pc == nil {
		return true
	}
	rv := reflect.ValueOf(pc)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// cloneConfig returns a deep copy of pc. Foreign implementations and nil are
// returned as they are. depth is 0 for a top-level provider; the children of
// a nested composite (which Validate rejects) are shared, not copied, which
// also stops cycles.
func cloneConfig(pc ProviderConfig, depth int) ProviderConfig {
	v, ok := configValue(pc)
	if !ok {
		return pc
	}
	n := reflect.New(v.Type())
	n.Elem().Set(v)
	deepen(n.Elem(), depth)
	return n.Interface().(ProviderConfig)
}

// deepen replaces the shared parts of the struct v (a fresh shallow copy)
// with copies.
func deepen(v reflect.Value, depth int) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		switch f.kind {
		case kindStrings:
			if !fv.IsNil() {
				fv.Set(reflect.AppendSlice(reflect.MakeSlice(fv.Type(), 0, fv.Len()), fv))
			}
		case kindTable:
			if !fv.IsNil() {
				n := reflect.New(fv.Type().Elem())
				n.Elem().Set(fv.Elem())
				deepen(n.Elem(), depth)
				fv.Set(n)
			}
		case kindProvider:
			if !fv.IsNil() && depth == 0 {
				fv.Set(reflect.ValueOf(cloneConfig(fv.Interface().(ProviderConfig), depth+1)))
			}
		}
	}
}

// keyPaths lists the settable key paths of the struct v: scalars and lists,
// the keys of table fields (even when the table is nil: setting one creates
// it from its defaults), and the keys of composite children that are set.
func keyPaths(v reflect.Value, depth int) [][]string {
	var out [][]string
	for _, f := range fieldsOf(v.Type()) {
		switch f.kind {
		case kindTable:
			for _, sub := range keyPaths(reflect.New(v.Field(f.index).Type().Elem()).Elem(), depth) {
				out = append(out, append([]string{f.key}, sub...))
			}
		case kindProvider:
			child, ok := configValue(providerAt(v, f))
			if ok && depth == 0 {
				for _, sub := range keyPaths(child, depth+1) {
					out = append(out, append([]string{f.key}, sub...))
				}
			}
		default:
			out = append(out, []string{f.key})
		}
	}
	return out
}

// providerAt returns the ProviderConfig held by field f of v (or nil).
func providerAt(v reflect.Value, f field) ProviderConfig {
	fv := v.Field(f.index)
	if fv.IsNil() {
		return nil
	}
	return fv.Interface().(ProviderConfig)
}

// envName renders a key path as an environment variable suffix:
// ["disk_backup", "path"] -> "DISK_BACKUP__PATH".
func envName(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = strings.ToUpper(p)
	}
	return strings.Join(parts, "__")
}

// setPath parses raw into the key at path inside the struct v, creating
// tables on the way. name is the variable named in error messages, which
// never echo the value of a secret.
func setPath(v reflect.Value, path []string, raw, name string) error {
	for {
		f, ok := lookupField(fieldsOf(v.Type()), path[0])
		if !ok {
			return &fieldError{path: name, msg: "no such key " + quoteString(path[0])}
		}
		fv := v.Field(f.index)
		if len(path) == 1 {
			return setString(fv, f, raw, name)
		}
		switch f.kind {
		case kindTable:
			if fv.IsNil() {
				fv.Set(newTable(fv.Type().Elem()))
			}
			v = fv.Elem()
		case kindProvider:
			child, ok := configValue(providerAt(v, f))
			if !ok {
				return &fieldError{path: name, msg: f.key + " is not configured"}
			}
			v = child
		default:
			return &fieldError{path: name, msg: quoteString(f.key) + " has no nested keys"}
		}
		path = path[1:]
	}
}

// setString parses raw (an environment value) into fv according to f.kind:
// lists are comma-separated, booleans true/false/1/0.
func setString(fv reflect.Value, f field, raw, name string) error {
	bad := func(want string) error {
		msg := "expected " + want
		if !f.secret && !f.userinfo {
			msg += ", got " + quoteString(raw)
		}
		return &fieldError{path: name, msg: msg}
	}
	switch f.kind {
	case kindString:
		fv.SetString(raw)
	case kindInt, kindInt64:
		n, ok := parseInt(strings.TrimSpace(raw), fv.Type().Bits())
		if !ok {
			return bad("integer")
		}
		fv.SetInt(n)
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "1":
			fv.SetBool(true)
		case "false", "0":
			fv.SetBool(false)
		default:
			return bad("boolean (true, false, 1 or 0)")
		}
	case kindStrings:
		var list []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case kindCompression:
		c, ok := parseCompression(strings.TrimSpace(raw))
		if !ok {
			return bad("compression (None, Gzip, Lz4 or Zstd)")
		}
		fv.SetString(string(c))
	case kindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return bad(durationWant)
		}
		fv.SetInt(int64(d))
	default:
		return &fieldError{path: name, msg: quoteString(f.key) + " is a table; set its keys with __"}
	}
	return nil
}

// parseCompression accepts the four spellings and their lower-case forms.
func parseCompression(s string) (Compression, bool) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionLz4, CompressionZstd} {
		if s == string(c) || s == strings.ToLower(string(c)) {
			return c, true
		}
	}
	return "", false
}
