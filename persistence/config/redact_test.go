package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

const secretMark = "s3cr3t-value"

// secretConfig returns a configuration with one provider of each type in
// which every secret field holds a distinctive secret, the Redis URL
// carries a password, and a composite has a backup with secrets.
func secretConfig(t *testing.T) *Config {
	t.Helper()
	cfg := &Config{Source: "s.toml", Defaults: Defaults{"memory", "memory"}, Providers: map[string]ProviderConfig{}}
	for _, typ := range Types() {
		pc, _ := ProviderConfigFor(typ)
		cfg.Providers[strings.ToLower(string(typ))] = pc
	}
	// Set by hand, not from the tags, so that a missing tag is caught.
	cfg.Providers["s3"].(*S3Config).SecretAccessKey = secretMark + "-s3"
	az := cfg.Providers["azure"].(*AzureConfig)
	az.AccountKey, az.ConnectionString, az.SASToken = secretMark+"-ak", secretMark+"-cs", secretMark+"-sas"
	cfg.Providers["etcd"].(*EtcdConfig).Password = secretMark + "-etcd"
	cfg.Providers["redis"].(*RedisConfig).Password = secretMark + "-redis"
	cfg.Providers["minio"].(*MinIOConfig).SecretKey = secretMark + "-minio"
	cfg.Providers["redis"].(*RedisConfig).URL = "redis://user:" + secretMark + "-url@h:6379/0"
	cfg.Providers["redis2"] = &RedisConfig{URL: "redis://:" + secretMark + "-pw@h?password=" + secretMark + "-q"}
	cfg.Providers["redis3"] = &RedisConfig{URL: "redis://u:" + secretMark + "%zz@h"} // does not parse
	c := cfg.Providers["composite"].(*CompositeConfig)
	c.Primary = cfg.Providers["etcd"]
	c.Backup = cfg.Providers["s3"]
	return cfg
}

func noSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, secretMark) {
		t.Errorf("%s contains a secret:\n%s", what, s)
	}
}

func TestRedactionEverywhere(t *testing.T) {
	cfg := secretConfig(t)
	before := fmt.Sprintf("%#v", cfg.Providers["s3"].(*S3Config).SecretAccessKey)

	noSecret(t, "String()", cfg.String())
	data, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "MarshalJSON()", string(data))
	for _, v := range []any{cfg, *cfg, cfg.Providers} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		noSecret(t, fmt.Sprintf("json.Marshal(%T)", v), string(data))
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		noSecret(t, verb+" *Config", fmt.Sprintf(verb, cfg))
		noSecret(t, verb+" Config", fmt.Sprintf(verb, *cfg))
		noSecret(t, verb+" map", fmt.Sprintf(verb, cfg.Providers))
		for name, pc := range cfg.Providers {
			noSecret(t, verb+" "+name, fmt.Sprintf(verb, pc))
			noSecret(t, verb+" "+name+" value", fmt.Sprintf(verb, reflect.ValueOf(pc).Elem().Interface()))
		}
	}
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("cfg", "config", cfg, "s3", *cfg.Providers["s3"].(*S3Config))
	slog.New(slog.NewTextHandler(&sb, nil)).Info("cfg", "config", *cfg, "azure", cfg.Providers["azure"])
	noSecret(t, "slog", sb.String())

	// Validation errors never show secrets either.
	bad := secretConfig(t)
	bad.Providers["etcd"].(*EtcdConfig).Endpoints = []string{"ftp://u:" + secretMark + "@h"}
	noSecret(t, "Validate()", bad.Validate().Error())

	// Rendering did not modify the original.
	if after := fmt.Sprintf("%#v", cfg.Providers["s3"].(*S3Config).SecretAccessKey); after != before {
		t.Errorf("secret changed: %s -> %s", before, after)
	}
}

func TestRedacted(t *testing.T) {
	cfg := secretConfig(t)
	r := cfg.Redacted()
	if r.Source != cfg.Source || r.Defaults != cfg.Defaults || len(r.Providers) != len(cfg.Providers) {
		t.Fatalf("Redacted lost data")
	}
	for name, pc := range cfg.Providers {
		rv, _ := configValue(r.Providers[name])
		ov, _ := configValue(pc)
		if rv.Addr().Pointer() == ov.Addr().Pointer() {
			t.Errorf("%s: not a copy", name)
		}
		for _, f := range fieldsOf(ov.Type()) {
			o, n := ov.Field(f.index), rv.Field(f.index)
			switch {
			case f.secret && o.String() == "":
				if n.String() != "" {
					t.Errorf("%s.%s: empty secret became %q", name, f.key, n.String())
				}
			case f.secret:
				if !strings.HasPrefix(o.String(), secretMark) || n.String() != RedactedValue {
					t.Errorf("%s.%s: %q -> %q", name, f.key, o.String(), n.String())
				}
			case f.kind == kindProvider:
				// checked below
			case !reflect.DeepEqual(o.Interface(), n.Interface()) && !f.userinfo:
				t.Errorf("%s.%s changed", name, f.key)
			}
		}
	}
	urls := map[string]string{
		"redis":  "redis://user:REDACTED@h:6379/0",
		"redis2": "redis://:REDACTED@h?password=REDACTED",
		"redis3": "redis://u:REDACTED@h", // the user name is kept, the password hidden by position
	}
	for name, want := range urls {
		if got := r.Providers[name].(*RedisConfig).URL; got != want {
			t.Errorf("%s url = %q, want %q", name, got, want)
		}
	}
	c := r.Providers["composite"].(*CompositeConfig)
	if c.Backup.(*S3Config).SecretAccessKey != RedactedValue || c.Backup == cfg.Providers["s3"] {
		t.Errorf("composite backup not redacted in a copy")
	}
	// Empty secrets stay empty; URLs without a password are unchanged.
	s := okS3()
	if Redact(s).(*S3Config).SecretAccessKey != "" || redactURL("redis://user@h:1") != "redis://user@h:1" {
		t.Errorf("empty secret or password-less URL changed")
	}
	if Redact(nil) != nil || (*Config)(nil).Redacted() != nil {
		t.Errorf("nil not preserved")
	}
	if f := (foreign{}); Redact(f) != f {
		t.Errorf("foreign implementation not returned as is")
	}
}

// A nested composite (invalid) is rendered without its children, and a
// self-referencing one does not loop.
func TestRenderNestedComposite(t *testing.T) {
	inner := okComposite()
	inner.Backup.(*S3Config).SecretAccessKey = secretMark
	outer := okComposite()
	outer.Primary = inner
	outer.Backup = outer
	cfg := &Config{Providers: map[string]ProviderConfig{"c": outer}}
	noSecret(t, "String", cfg.String())
	data, _ := cfg.MarshalJSON()
	noSecret(t, "MarshalJSON", string(data))
	if r := Redact(outer).(*CompositeConfig); r.Primary.(*CompositeConfig).Backup != nil {
		t.Errorf("children of a nested composite kept in the redacted copy")
	}
	checkErr(t, cfg.Validate(), `providers.c.primary: a composite may not nest a composite`, `providers.c.backup: a composite may not nest a composite`)
}

// Exactly these keys are tagged secret.
func TestSecretFields(t *testing.T) {
	want := map[string]string{
		"S3Config.secret_access_key": "true", "AzureConfig.account_key": "true", "AzureConfig.connection_string": "true",
		"AzureConfig.sas_token": "true", "EtcdConfig.password": "true", "RedisConfig.password": "true",
		"MinIOConfig.secret_key": "true", "RedisConfig.url": "userinfo",
		// Endpoints may carry credentials in their userinfo.
		"S3Config.endpoint": "userinfo", "AzureConfig.endpoint": "userinfo", "GoogleCloudConfig.endpoint": "userinfo",
		"MinIOConfig.endpoint": "userinfo", "EtcdConfig.endpoints": "userinfo",
	}
	got := map[string]string{}
	for _, typ := range registeredGoTypes() {
		for _, f := range fieldsOf(typ.Elem()) {
			if s := typ.Elem().Field(f.index).Tag.Get("secret"); s != "" {
				got[typ.Elem().Name()+"."+f.key] = s
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secret fields = %v, want %v", got, want)
	}
}

// Credentials in endpoint URLs are redacted in every rendering.
func TestEndpointCredentialsRedacted(t *testing.T) {
	src := `
[defaults]
addressable = "e"
cluster = "e"

[providers.e]
type = "Etcd"
endpoints = ["https://orbit:pw-one-s3cr3t@etcd-0:2379", "etcd-1:2379"]

[providers.s]
type = "S3"
bucket = "b"
endpoint = "https://AK:pw-two-s3cr3t@minio:9000"
`
	cfg, err := Parse([]byte(src), FormatTOML, "cred.toml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{cfg.String(), string(js), fmt.Sprintf("%v %+v", cfg, cfg)} {
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("endpoint credentials leaked:\n%s", out)
		}
		if !strings.Contains(out, "etcd-1:2379") || !strings.Contains(out, "minio:9000") {
			t.Fatalf("redaction removed more than the password:\n%s", out)
		}
	}
	// The configuration itself keeps them.
	if e := cfg.Providers["e"].(*EtcdConfig); e.Endpoints[0] != "https://orbit:pw-one-s3cr3t@etcd-0:2379" {
		t.Fatalf("the original config was modified: %v", e.Endpoints)
	}
}

// A syntax error in a secret value never echoes any of it.
func TestSyntaxErrorInSecretValueHidden(t *testing.T) {
	for _, src := range []string{
		"[providers.s3]\ntype = \"S3\"\nbucket = \"b\"\nsecret_access_key = 12ZQ\n",
		"[providers.s3]\ntype = \"S3\"\nsecret_access_key = \"unterminated-ZQ\n",
		"[providers.e]\ntype = \"Etcd\"\npassword = ZQ ZQ\n",
	} {
		// Z and Q appear nowhere else in the message: not even one
		// character of the value may be quoted.
		_, err := Parse([]byte(src), FormatTOML, "bad.toml")
		if err == nil || strings.ContainsAny(err.Error(), "ZQ") || !strings.Contains(err.Error(), "bad.toml") {
			t.Errorf("syntax error %v: must name the file and hide the value", err)
		}
	}
}

// A password holding a reserved character unencoded is hidden by position,
// whatever a URL parser makes of it, and the configuration is refused with
// an error that does not show it.
func TestRedactURLReservedCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://user:1234#Sup3rSecret@10.0.0.5:6379/0", "redis://user:REDACTED@10.0.0.5:6379/0"},
		{"http://root:99/Sup3rSecret@10.0.0.5:2379", "http://root:REDACTED@10.0.0.5:2379"},
		{"redis://:p?w@h:1/0", "redis://:REDACTED@h:1/0"},
		{"redis://:a@b@h:1", "redis://:REDACTED@h:1"},
		{"redis://user@h:1", "redis://user@h:1"},
		{"http://h:2379/path", "http://h:2379/path"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	r := DefaultRedisConfig()
	r.URL = "redis://user:1234#Sup3rSecret@10.0.0.5:6379/0"
	e := DefaultEtcdConfig()
	e.Endpoints = []string{"http://root:99/Sup3rSecret@10.0.0.5:2379"}
	for _, pc := range []ProviderConfig{&r, &e} {
		err := pc.Validate()
		if err == nil || !strings.Contains(err.Error(), "percent-encoded") {
			t.Errorf("%s: Validate = %v, want the percent-encoding error", pc.ProviderType(), err)
		}
		if err != nil && strings.Contains(err.Error(), "Sup3rSecret") {
			t.Errorf("%s: the error shows the password: %v", pc.ProviderType(), err)
		}
		if s := fmt.Sprint(pc) + (&Config{Providers: map[string]ProviderConfig{"x": pc}}).String(); strings.Contains(s, "Sup3rSecret") {
			t.Errorf("%s: a rendering shows the password: %s", pc.ProviderType(), s)
		}
	}
}

// FuzzRedactURL: whatever a password holds, RedactURL never shows it.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"1234#Sup3rSecret", "99/Sup3rSecret", "a?b", "x@y", "p%40ss", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 6 || strings.ContainsAny(pw, ":") {
			return // short passwords may occur by chance elsewhere in the URL; ':' ends the user name
		}
		for _, u := range []string{"redis://user:" + pw + "@10.0.0.5:6379/0", "http://root:" + pw + "@10.0.0.5:2379"} {
			if got := RedactURL(u); strings.Contains(got, pw) {
				t.Fatalf("RedactURL(%q) = %q shows the password", u, got)
			}
		}
	})
}
