package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Load reads the configuration file at path and decodes it strictly with
// Parse; the format comes from the extension (.toml or .json, any case;
// another extension is an error). Errors name the file. An I/O error is
// returned as is (errors.Is(err, fs.ErrNotExist) works); a decoding error
// wraps driver.ErrInvalidArgument. Load does not run Validate.
func Load(path string) (*Config, error) {
	var format Format
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".toml":
		format = FormatTOML
	case ".json":
		format = FormatJSON
	default:
		return nil, &fieldError{source: path, msg: fmt.Sprintf("unsupported file extension %s (want .toml or .json)", quoteString(ext))}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(data, format, path)
}

// Parse decodes data, in the given format, into a Config whose Source is
// source (used in error messages, may be empty).
//
// Decoding is strict: the top level holds only "defaults", "providers" and
// the optional "server" (see ServerConfig);
// each provider table needs a registered "type" (see Types); every provider
// starts from its default configuration and the file overrides the keys it
// sets; an unknown key (at any level), a value of the wrong type or a
// missing type is an error naming source, provider and key. All such
// problems are reported, joined, each wrapping driver.ErrInvalidArgument; on
// error the Config is nil. When exactly one provider is configured, it
// becomes the default for whichever of defaults.addressable and
// defaults.cluster is empty.
//
// Parse does not run Validate (so that ApplyEnv may complete the
// configuration first).
func Parse(data []byte, format Format, source string) (*Config, error) {
	var (
		root map[string]any
		err  error
		word string
	)
	switch format {
	case FormatTOML:
		root, err = parseTOMLTree(data, source)
		word = "table"
	case FormatJSON:
		root, err = parseJSONTree(data, source)
		word = "object"
	default:
		return nil, &fieldError{source: source, msg: fmt.Sprintf("unknown format %s", format)}
	}
	if err != nil {
		return nil, err
	}
	d := &decoder{p: problems{source: source}, table: word}
	cfg := d.decodeRoot(root)
	if err := d.p.err(); err != nil {
		return nil, err
	}
	cfg.Source = source
	cfg.fillSingleDefault()
	return cfg, nil
}

// fillSingleDefault makes the only provider the default for empty defaults.
func (c *Config) fillSingleDefault() {
	if len(c.Providers) != 1 {
		return
	}
	for name := range c.Providers {
		if c.Defaults.Addressable == "" {
			c.Defaults.Addressable = name
		}
		if c.Defaults.Cluster == "" {
			c.Defaults.Cluster = name
		}
	}
}

// decoder turns a generic tree (from TOML or JSON) into typed configs.
// Tables are map[string]any; scalars are string, bool, int64 or float64
// (TOML), json.Number (JSON), time.Time (TOML datetimes) or nil (JSON null);
// arrays are []any or []map[string]any (TOML arrays of tables).
type decoder struct {
	p     problems
	table string // "table" (TOML) or "object" (JSON), for messages
}

func (d *decoder) decodeRoot(root map[string]any) *Config {
	cfg := &Config{Providers: make(map[string]ProviderConfig)}
	for _, k := range sortedKeys(root) {
		switch k {
		case "defaults":
			tbl, ok := d.asTable("defaults", root[k])
			if ok {
				d.decodeStruct("defaults", tbl, reflect.ValueOf(&cfg.Defaults).Elem(), false)
			}
		case "server":
			if tbl, ok := d.asTable("server", root[k]); ok {
				d.decodeStruct("server", tbl, reflect.ValueOf(&cfg.Server).Elem(), false)
			}
		case "providers":
			tbl, ok := d.asTable("providers", root[k])
			if !ok {
				continue
			}
			for _, name := range sortedKeys(tbl) {
				path := "providers." + pathKey(name)
				if !validName(name) {
					d.p.add(path, nameRule)
					continue
				}
				if pc := d.decodeProvider(path, tbl[name], false); pc != nil {
					cfg.Providers[name] = pc
				}
			}
		default:
			d.p.add("", "unknown key %s%s", quoteString(k), suggest(k, []string{"defaults", "providers", "server"}))
		}
	}
	return cfg
}

// decodeProvider decodes a provider table (with its "type") at path. nested
// is true for a composite's primary/backup, which may not be composites.
func (d *decoder) decodeProvider(path string, raw any, nested bool) ProviderConfig {
	tbl, ok := d.asTable(path, raw)
	if !ok {
		return nil
	}
	tv, ok := tbl["type"]
	if !ok {
		d.p.add(path, "missing key \"type\" (known types: %s)", typeList())
		return nil
	}
	ts, ok := tv.(string)
	if !ok {
		d.p.add(path+".type", "expected string, got %s", d.typeName(tv))
		return nil
	}
	pc, err := ProviderConfigFor(ProviderType(ts))
	if err != nil {
		msg := err.Error()
		if fe, ok := err.(*fieldError); ok {
			msg = fe.msg // unknownTypeMsg(ts), for an unknown type
		}
		d.p.add(path+".type", "%s", msg)
		return nil
	}
	if nested && pc.ProviderType() == TypeComposite {
		d.p.add(path+".type", "a composite may not nest a composite")
		return nil
	}
	v, _ := configValue(pc)
	d.decodeStruct(path, tbl, v, true)
	return pc
}

// decodeStruct decodes the keys of tbl into the struct v; withType allows
// (and skips) the "type" key of provider tables.
func (d *decoder) decodeStruct(path string, tbl map[string]any, v reflect.Value, withType bool) {
	fs := fieldsOf(v.Type())
	for _, k := range sortedKeys(tbl) {
		if withType && k == "type" {
			continue
		}
		f, ok := lookupField(fs, k)
		if !ok {
			var extra []string
			if withType {
				extra = []string{"type"}
			}
			d.p.add(path, "unknown key %s%s", quoteString(k), suggest(k, fieldKeys(fs, extra...)))
			continue
		}
		d.decodeField(joinPath(path, k), tbl[k], v.Field(f.index), f)
	}
}

// decodeField decodes raw into fv according to f.kind. Messages name the
// types, never the values.
func (d *decoder) decodeField(path string, raw any, fv reflect.Value, f field) {
	wrong := func(want string) { d.p.add(path, "expected %s, got %s", want, d.typeName(raw)) }
	switch f.kind {
	case kindString:
		s, ok := raw.(string)
		if !ok {
			wrong("string")
			return
		}
		fv.SetString(s)
	case kindCompression:
		s, ok := raw.(string)
		if !ok {
			wrong("string")
			return
		}
		c, ok := parseCompression(s)
		if !ok {
			d.p.add(path, "unknown compression %s (known: None, Gzip, Lz4, Zstd)", quoteString(s))
			return
		}
		fv.SetString(string(c))
	case kindDuration:
		s, ok := raw.(string)
		if !ok {
			wrong(durationWant)
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.p.add(path, "expected %s, got %s", durationWant, quoteString(s))
			return
		}
		fv.SetInt(int64(dur))
	case kindBool:
		b, ok := raw.(bool)
		if !ok {
			wrong("boolean")
			return
		}
		fv.SetBool(b)
	case kindInt, kindInt64:
		n, ok := rawInt(raw)
		if num, isNum := raw.(json.Number); !ok && isNum && !strings.ContainsAny(string(num), ".eE") {
			d.p.add(path, "integer out of range")
			return
		}
		if !ok {
			wrong("integer")
			return
		}
		if fv.OverflowInt(n) {
			d.p.add(path, "integer %d out of range", n)
			return
		}
		fv.SetInt(n)
	case kindStrings:
		arr, ok := raw.([]any)
		if !ok {
			wrong("array of strings")
			return
		}
		var list []string
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				d.p.add(fmt.Sprintf("%s[%d]", path, i), "expected string, got %s", d.typeName(e))
				continue
			}
			list = append(list, s)
		}
		fv.Set(reflect.ValueOf(list))
	case kindTable:
		if raw == nil { // JSON null: not set
			fv.Set(reflect.Zero(fv.Type()))
			return
		}
		tbl, ok := d.asTable(path, raw)
		if !ok {
			return
		}
		t := newTable(fv.Type().Elem())
		if !fv.IsNil() { // the default configuration sets the table: start from it
			t.Elem().Set(fv.Elem())
		}
		d.decodeStruct(path, tbl, t.Elem(), false)
		fv.Set(t)
	case kindProvider:
		if raw == nil { // JSON null: not set
			fv.Set(reflect.Zero(fv.Type()))
			return
		}
		if pc := d.decodeProvider(path, raw, true); pc != nil {
			fv.Set(reflect.ValueOf(pc))
		}
	}
}

// asTable returns raw as a table or reports a type error at path.
func (d *decoder) asTable(path string, raw any) (map[string]any, bool) {
	tbl, ok := raw.(map[string]any)
	if !ok {
		d.p.add(path, "expected %s, got %s", d.table, d.typeName(raw))
	}
	return tbl, ok
}

// typeName names the type of a tree value for messages.
func (d *decoder) typeName(raw any) string {
	switch x := raw.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case json.Number:
		if _, ok := rawInt(x); ok {
			return "integer"
		}
		return "float"
	case time.Time:
		return "datetime"
	case map[string]any:
		return d.table
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", raw)
}

// rawInt returns raw as an integer if it is one (TOML int64, or a JSON
// number without fraction or exponent that fits in int64).
func rawInt(raw any) (int64, bool) {
	switch x := raw.(type) {
	case int64:
		return x, true
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// parseInt parses a decimal integer of at most bits bits.
func parseInt(s string, bits int) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, bits)
	return n, err == nil
}
