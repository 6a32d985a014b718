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

// Redacted returns a deep copy of c with every provider redacted (see
// Redact). Defaults and Source are kept; nil gives nil.
func (c *Config) Redacted() *Config {
	if c == nil {
		return nil
	}
	r := &Config{Defaults: c.Defaults, Source: c.Source}
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

// redactURL replaces the userinfo password and a "password" query parameter
// of s with RedactedValue. A string that does not parse as a URL but looks
// like it carries userinfo is redacted between "://" and the last '@', or
// entirely if it mentions a password otherwise.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.Index(s, "://"); i >= 0 {
			if j := strings.LastIndexByte(s, '@'); j > i {
				return s[:i+3] + RedactedValue + s[j:]
			}
		}
		if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password") {
			return RedactedValue
		}
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), RedactedValue)
			changed = true
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", RedactedValue)
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return s
	}
	return u.String()
}
