package config

import (
	"net/url"
	"reflect"
	"strings"
)

// Redact returns a deep copy of pc in which every non-empty field tagged
// secret:"true" holds RedactedValue and the password of a URL field tagged
// secret:"userinfo" (the Redis URL) is replaced by RedactedValue; composite
// children are redacted too (the children of a nested composite, which
// Validate rejects, are dropped). This holds for every registered type (see
// RegisterType). nil gives nil; an implementation whose type is not
// registered is returned as is (its secrets are unknown).
func Redact(pc ProviderConfig) ProviderConfig {
	if _, ok := configValue(pc); !ok {
		return pc
	}
	c := cloneConfig(pc, 0)
	v, _ := configValue(c)
	redactStruct(v, 0)
	return c
}

// Redacted returns a deep copy of c with every provider and the [server]
// table redacted (see Redact). Defaults and Source are kept; nil gives nil.
func (c *Config) Redacted() *Config {
	if c == nil {
		return nil
	}
	r := &Config{Defaults: c.Defaults, Server: c.Server.redacted(), Source: c.Source}
	if c.Providers != nil {
		r.Providers = make(map[string]ProviderConfig, len(c.Providers))
		for name, pc := range c.Providers {
			r.Providers[name] = Redact(pc)
		}
	}
	return r
}

// redactStruct redacts the struct v (already a private copy) in place.
func redactStruct(v reflect.Value, depth int) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		switch {
		case f.secret && f.kind == kindString && fv.String() != "":
			fv.SetString(RedactedValue)
		case f.secret && f.kind == kindStrings:
			for i := range fv.Len() {
				fv.Index(i).SetString(RedactedValue)
			}
		case f.userinfo && f.kind == kindString:
			fv.SetString(redactURL(fv.String()))
		case f.userinfo && f.kind == kindStrings:
			for i := range fv.Len() {
				fv.Index(i).SetString(redactURL(fv.Index(i).String()))
			}
		case f.kind == kindTable && !fv.IsNil():
			redactStruct(fv.Elem(), depth)
		case f.kind == kindProvider && !fv.IsNil():
			child, ok := configValue(fv.Interface().(ProviderConfig))
			if ok && depth == 0 {
				redactStruct(child, depth+1)
			} else {
				// The children of a nested composite (invalid, and
				// shared by cloneConfig) or foreign types: drop them.
				fv.Set(reflect.Zero(fv.Type()))
			}
		}
	}
}

// RedactURL returns s with the password of its userinfo and a "password"
// query parameter replaced by RedactedValue, for messages and renderings.
//
// The userinfo is found by position, not by url.Parse: everything between
// "://" and the last '@' is userinfo, and what follows its first ':' is the
// password. A password written with a reserved character unencoded ('#',
// '/', '?', '@') would make a parser read part of it as fragment, path,
// query or host and then show it; by position it is hidden whatever it
// holds. (A URL whose path holds an '@' is over-redacted: safe, if odd.) A
// userinfo without ':' is a user name and is kept.
func RedactURL(s string) string { return redactURL(s) }

func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.LastIndexByte(s, '@'); j > i {
			info := s[i+3 : j]
			if k := strings.IndexByte(info, ':'); k >= 0 {
				s = s[:i+3] + info[:k+1] + RedactedValue + s[j:]
			}
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(strings.ToLower(s), "password") {
			return RedactedValue
		}
		return s
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", RedactedValue)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return s
}
