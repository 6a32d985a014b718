package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseTOML: Parse never panics; whatever it accepts can be validated,
// redacted and rendered, and its TOML and JSON renderings parse back to the
// redacted configuration.
func FuzzParseTOML(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[providers.m]\ntype = \"Memory\"\ndisk_backup = { path = \"p\" }\n"))
	f.Add([]byte("[providers.c]\ntype = \"Composite\"\n[providers.c.primary]\ntype = \"Composite\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, FormatTOML, "f.toml")
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if !strings.HasPrefix(err.Error(), "f.toml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = cfg.Validate()
		_ = cfg.ApplyEnv([]string{"ORBIT_PROVIDER_X_Y=1"})
		want := cfg.Redacted()
		text := cfg.String()
		back, err := Parse([]byte(text), FormatTOML, "f.toml")
		if err != nil {
			t.Fatalf("String() does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("String() round trip differs:\n%s\n%s", text, back)
		}
		js, err := cfg.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err = Parse(js, FormatJSON, "f.toml")
		if err != nil {
			t.Fatalf("MarshalJSON() does not parse: %v\n%s", err, js)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("JSON round trip differs:\n%s\n%s", js, back)
		}
	})
}

// FuzzParseJSON: Parse never panics on JSON input.
func FuzzParseJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, FormatJSON, "f.json")
		if err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.String()
		if _, err := cfg.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
}
