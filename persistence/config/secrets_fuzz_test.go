package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// plantSecret writes secret into every secret field of the struct v: as
// the whole value of a secret:"true" field, as the password of a URL in a
// secret:"userinfo" field; tables are filled too.
func plantSecret(v reflect.Value, secret string) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		switch {
		case f.secret && f.kind == kindString:
			fv.SetString(secret)
		case f.secret && f.kind == kindStrings:
			fv.Set(reflect.ValueOf([]string{secret, secret}))
		case f.userinfo && f.kind == kindString:
			fv.SetString("redis://user:" + secret + "@10.0.0.5:6379/0")
		case f.userinfo && f.kind == kindStrings:
			fv.Set(reflect.ValueOf([]string{"http://root:" + secret + "@10.0.0.5:2379", "https://u:" + secret + "@h:1"}))
		case f.kind == kindTable:
			if fv.IsNil() {
				fv.Set(reflect.New(fv.Type().Elem()))
			}
			plantSecret(fv.Elem(), secret)
		}
	}
}

// everyRendering returns each way a configuration reaches a reader: the
// renderings, every fmt verb, encoding/json, slog's text and JSON
// handlers, the redacted provider JSON, and the validation errors.
func everyRendering(cfg *Config) map[string]string {
	out := map[string]string{"String": cfg.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
		out["fmt "+verb] = fmt.Sprintf(verb, cfg)
	}
	js, err := json.Marshal(cfg)
	out["json.Marshal"] = string(js) + fmt.Sprint(err)
	var text, jsonLog bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", cfg, "providers", cfg.Providers)
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "config", cfg, "providers", cfg.Providers)
	out["slog text"], out["slog json"] = text.String(), jsonLog.String()
	for name, pc := range cfg.Providers {
		out["RedactedJSON "+name] = string(RedactedJSON(pc))
		out["fmt %v "+name] = fmt.Sprintf("%v %+v %s", pc, pc, pc)
		if err := validateProvider(pc, "f.toml", "providers."+name); err != nil {
			out["Validate "+name] = err.Error()
		}
	}
	if err := cfg.Validate(); err != nil {
		out["Validate"] = err.Error()
	}
	return out
}

// No rendering, log line or validation error of a configuration shows a
// secret, whatever its form: a secret planted in every secret field of
// every registered provider type (whole values and URL passwords, with
// '#', '/', '?', '@' and quotes in them) never appears in any output.
func FuzzSecretsNeverRendered(f *testing.F) {
	for _, s := range []string{"Sup3rSecret", "1234#Sup3r", "99/Sup3rSecret", "pa?ss=word", "x@y@zzzz", `quo"te\back`, "p%40ssword", "ünïcødé-pw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		if len(secret) < 8 || strings.ContainsAny(secret, ":") || strings.Contains(RedactedValue, secret) {
			return // short strings occur by chance; ':' ends a URL's user name
		}
		cfg := &Config{Providers: map[string]ProviderConfig{}, Source: "f.toml"}
		for _, goType := range registeredGoTypes() {
			pc := reflect.New(goType.Elem())
			plantSecret(pc.Elem(), secret)
			name := strings.ToLower(goType.Elem().Name())
			cfg.Providers[name] = pc.Interface().(ProviderConfig)
		}
		cfg.Defaults = Defaults{Addressable: "memoryconfig", Cluster: "memoryconfig"}
		plantSecret(reflect.ValueOf(&cfg.Server).Elem(), secret)
		for where, text := range everyRendering(cfg) {
			// A secret is shown if it appears raw or in any escaped form
			// a renderer could give it (JSON, Go quoting, URL encoding).
			forms := []string{secret, strings.Trim(fmt.Sprintf("%q", secret), `"`)}
			if b, err := json.Marshal(secret); err == nil {
				forms = append(forms, strings.Trim(string(b), `"`))
			}
			for _, form := range forms {
				if strings.Contains(text, form) {
					t.Fatalf("%s shows the secret %q:\n%s", where, secret, text)
				}
			}
		}
	})
}
