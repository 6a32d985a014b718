package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The registry of provider configuration types: the ten built-in types,
// registered below, and those of providers written out of tree, registered
// from their init functions. It is the only mutable global state of the
// package (as in database/sql); everything else (decoding, environment,
// redaction, rendering, validation) reads it to learn which Go type belongs
// to which provider type.

// typeEntry is one registered provider type.
type typeEntry struct {
	goType     reflect.Type // pointer to a struct
	newDefault func() ProviderConfig
}

type typeRegistry struct {
	mu       sync.RWMutex
	byName   map[ProviderType]typeEntry
	byGoType map[reflect.Type]ProviderType
	// order is the answer of Types: the built-in types first, in the order
	// of the specification, then the others sorted.
	order    []ProviderType
	builtins int
}

var registry = newTypeRegistry()

// newTypeRegistry returns a registry holding the ten built-in types,
// registered through the same checks as RegisterType.
func newTypeRegistry() *typeRegistry {
	r := &typeRegistry{byName: make(map[ProviderType]typeEntry), byGoType: make(map[reflect.Type]ProviderType)}
	for _, b := range []struct {
		t ProviderType
		f func() ProviderConfig
	}{
		{TypeMemory, func() ProviderConfig { c := DefaultMemoryConfig(); return &c }},
		{TypeS3, func() ProviderConfig { c := DefaultS3Config(); return &c }},
		{TypeAzure, func() ProviderConfig { c := DefaultAzureConfig(); return &c }},
		{TypeGoogleCloud, func() ProviderConfig { c := DefaultGoogleCloudConfig(); return &c }},
		{TypeEtcd, func() ProviderConfig { c := DefaultEtcdConfig(); return &c }},
		{TypeRedis, func() ProviderConfig { c := DefaultRedisConfig(); return &c }},
		{TypeKubernetes, func() ProviderConfig { c := DefaultKubernetesConfig(); return &c }},
		{TypeMinIO, func() ProviderConfig { c := DefaultMinIOConfig(); return &c }},
		{TypeFlash, func() ProviderConfig { c := DefaultFlashConfig(); return &c }},
		{TypeComposite, func() ProviderConfig { c := DefaultCompositeConfig(); return &c }},
	} {
		r.register(b.t, b.f)
	}
	r.builtins = len(r.order)
	return r
}

// RegisterType makes provider type t known to this package, so that a
// provider table with type = "<t>" decodes, and a configuration holding one
// can be built, overridden from the environment, validated, redacted and
// rendered like one of the built-in types. A provider written out of tree
// calls it from init, next to persistence.RegisterDriver (which makes the
// type openable); the binary blank-imports that package.
//
// newDefault returns a fresh non-nil pointer to the type's default
// configuration on every call (e.g. func() config.ProviderConfig { c :=
// DefaultBoltConfig(); return &c }); decoding starts from it and overrides
// the keys a file sets. The struct's exported fields are its keys, each
// named by its toml tag (lower-case snake_case, not "type"; toml:"-" leaves
// a field out) and of one of the types the decoder reads: string, int,
// int64, bool (or types defined on them), []string, Compression, or a
// pointer to a struct of those (a nested table, written [providers.NAME.KEY]
// or KEY = { ... }; when the default configuration leaves it nil, a table
// set by a file or a variable starts from the zero value of its struct).
// secret:"true" on a string or []string field marks its value secret (never
// rendered, never echoed in errors); secret:"userinfo" marks a URL whose
// password is secret. json tags are not read: JSON files use the toml keys.
//
// The pointer type's ProviderType must return t, also on a nil pointer; its
// Validate reports each problem with KeyError (see ProviderConfig). For
// printing, the value type should have String, Format and MarshalJSON
// methods that return RedactedJSON, as the built-in types do, or fmt and
// encoding/json print its secrets.
//
// RegisterType panics, naming the type and, where it applies, the field, if
// t is empty or not a name (a letter, then letters, digits, '_', '-', '.'),
// newDefault is nil, t or the Go type is already registered, or the value
// newDefault returns does not satisfy the rules above. It is safe for
// concurrent use, but meant for init functions.
func RegisterType(t ProviderType, newDefault func() ProviderConfig) {
	registry.register(t, newDefault)
}

// Types lists the registered provider types: the ten built-in types in the
// order of the specification (TypeMemory ... TypeComposite), then those
// registered with RegisterType, sorted. The slice is the caller's.
func Types() []ProviderType {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return slices.Clone(registry.order)
}

// isRegisteredGoType reports whether rt is the (pointer) type of a
// registered provider type.
func isRegisteredGoType(rt reflect.Type) bool {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	_, ok := registry.byGoType[rt]
	return ok
}

// lookupType returns the registration of t.
func lookupType(t ProviderType) (typeEntry, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	e, ok := registry.byName[t]
	return e, ok
}

// registeredGoTypes returns the pointer types of the registered provider
// types, in the order of Types.
func registeredGoTypes() []reflect.Type {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	out := make([]reflect.Type, len(registry.order))
	for i, t := range registry.order {
		out[i] = registry.byName[t].goType
	}
	return out
}

var typeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

func (r *typeRegistry) register(t ProviderType, newDefault func() ProviderConfig) {
	switch {
	case t == "":
		panic("config: RegisterType: empty provider type")
	case !typeNameRE.MatchString(string(t)):
		panic(fmt.Sprintf("config: RegisterType(%q): invalid type name (use a letter, then letters, digits, '_', '-' or '.')", t))
	case newDefault == nil:
		panic(fmt.Sprintf("config: RegisterType(%q): newDefault is nil", t))
	}
	r.mu.RLock()
	_, dup := r.byName[t]
	r.mu.RUnlock()
	if dup {
		panic(fmt.Sprintf("config: RegisterType called twice for %q", t))
	}
	goType := checkNewDefault(t, newDefault)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[t]; dup {
		panic(fmt.Sprintf("config: RegisterType called twice for %q", t))
	}
	if other, dup := r.byGoType[goType]; dup {
		panic(fmt.Sprintf("config: RegisterType(%q): %s is already the configuration of type %q", t, goType, other))
	}
	r.byName[t] = typeEntry{goType: goType, newDefault: newDefault}
	r.byGoType[goType] = t
	i := len(r.order)
	if r.builtins > 0 { // after the built-ins: keep the others sorted
		i = r.builtins + sortedIndex(r.order[r.builtins:], t)
	}
	r.order = slices.Insert(r.order, i, t)
}

// sortedIndex is where t goes in the sorted list ts.
func sortedIndex(ts []ProviderType, t ProviderType) int {
	i, _ := slices.BinarySearch(ts, t)
	return i
}

// checkNewDefault calls newDefault and checks what it returns; it panics on
// misuse and returns the pointer type.
func checkNewDefault(t ProviderType, newDefault func() ProviderConfig) reflect.Type {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("config: RegisterType(%q): ", t) + fmt.Sprintf(format, args...))
	}
	pc := newDefault()
	if pc == nil {
		fail("newDefault returned nil; it must return a non-nil pointer to a struct")
	}
	rt := reflect.TypeOf(pc)
	if rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		fail("newDefault returned a %s; it must return a non-nil pointer to a struct", rt)
	}
	if reflect.ValueOf(pc).IsNil() {
		fail("newDefault returned a nil %s; it must return a non-nil pointer to a struct", rt)
	}
	if got := pc.ProviderType(); got != t {
		fail("(%s).ProviderType() returns %q", rt, got)
	}
	if got, ok := nilProviderType(rt); !ok {
		fail("(%s).ProviderType() panics on a nil pointer; it must return %q", rt, t)
	} else if got != t {
		fail("(%s).ProviderType() returns %q on a nil pointer", rt, got)
	}
	again := newDefault()
	if reflect.TypeOf(again) != rt || reflect.ValueOf(again).IsNil() {
		fail("newDefault returned a %s, then a %T; it must always return a non-nil %s", rt, again, rt)
	}
	if rt.Elem().Size() > 0 && reflect.ValueOf(again).Pointer() == reflect.ValueOf(pc).Pointer() {
		fail("newDefault returned the same pointer twice; it must return a fresh value on every call")
	}
	checkStruct(t, rt.Elem(), rt.Elem().Name()+".", true, t == TypeComposite)
	return rt
}

// nilProviderType calls ProviderType on a nil pointer of type rt; ok is
// false if it panics.
func nilProviderType(rt reflect.Type) (got ProviderType, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return reflect.Zero(rt).Interface().(ProviderConfig).ProviderType(), true
}

var (
	keyRE        = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	durationType = reflect.TypeFor[time.Duration]()
	stringType   = reflect.TypeFor[string]()
)

// checkStruct checks that every field of the struct st is a key the package
// understands. where prefixes field names in messages; top is true for the
// provider's own struct (false for a nested table); providers allows
// ProviderConfig fields (the built-in Composite's primary and backup).
func checkStruct(t ProviderType, st reflect.Type, where string, top, providers bool) {
	seen := make(map[string]string) // key -> field name
	for i := range st.NumField() {
		sf := st.Field(i)
		key := tagKey(sf)
		name := where + sf.Name
		fail := func(format string, args ...any) {
			panic(fmt.Sprintf("config: RegisterType(%q): field %s ", t, name) + fmt.Sprintf(format, args...))
		}
		if !sf.IsExported() {
			if key != "" && key != "-" {
				fail("has toml tag %q but is not exported", key)
			}
			continue
		}
		switch {
		case key == "-":
			continue
		case key == "":
			fail(`has no toml tag: tag it toml:"key" (toml:"-" leaves it out of the configuration)`)
		case !keyRE.MatchString(key) || strings.Contains(key, "__") || strings.HasSuffix(key, "_"):
			fail("has key %q: keys are lower-case snake_case (a letter, then a-z, 0-9 and single '_')", key)
		case top && key == "type":
			fail(`has key "type", which is reserved for the provider type`)
		}
		if prev, dup := seen[key]; dup {
			fail("has key %q, like field %s", key, where+prev)
		}
		seen[key] = sf.Name
		if sf.Type == durationType {
			fail("is a time.Duration: provider keys are an int number of seconds, as in the built-in types (durations as strings are for the [server] table)")
		}
		kind, ok := kindOf(sf.Type)
		if ok && kind == kindProvider && !providers && top {
			fail("is a ProviderConfig: nested providers are supported only by the built-in Composite type")
		}
		if !ok || (kind == kindProvider && !providers) {
			what := "string, int, int64, bool, []string, config.Compression, or a pointer to a struct of those (a nested table)"
			if !top {
				what = "string, int, int64, bool, []string or config.Compression (a nested table holds no tables)"
			}
			fail("has type %s; a configuration key is a %s", sf.Type, what)
		}
		switch sec := sf.Tag.Get("secret"); sec {
		case "":
		case "true", "userinfo":
			if kind != kindString && kind != kindStrings {
				fail("is tagged secret:%q but is a %s; only string and []string values can be secret", sec, sf.Type)
			}
		default:
			fail(`has secret:%q; use secret:"true" (the whole value) or secret:"userinfo" (a URL's password)`, sec)
		}
		if kind == kindTable {
			if !top {
				fail("is a table inside a table; a nested table holds no tables")
			}
			checkStruct(t, sf.Type.Elem(), name+".", false, false)
		}
	}
}
