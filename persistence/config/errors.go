package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/orbit-go/orbit/persistence/driver"
)

// fieldError is one problem with a configuration: "source: path: msg", where
// source is the file (or empty) and path the dotted key path (or an
// environment variable name). It wraps driver.ErrInvalidArgument.
type fieldError struct {
	source string
	path   string
	msg    string
}

func (e *fieldError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.source, e.path} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.msg)
	return b.String()
}

func (e *fieldError) Unwrap() error { return driver.ErrInvalidArgument }

// KeyError returns the error that a ProviderConfig's Validate reports for a
// problem with one of its keys: its text is "key: " followed by the message
// formatted from format and args, and it wraps driver.ErrInvalidArgument.
// key is the key path in the provider's table: "max_entries", "limits.depth"
// for a key of a nested table, "paths[1]" for an item of a list.
// Config.Validate names the file and the provider in front of it, exactly
// as for the built-in types ("orbit.toml: providers.NAME.max_entries: must
// not be negative, got -1"), and ApplyEnv's users see the variable of the
// key. Join several problems with errors.Join. The message must not contain
// the value of a secret.
func KeyError(key, format string, args ...any) error {
	return &fieldError{path: key, msg: fmt.Sprintf(format, args...)}
}

// maxErrors bounds how many problems one call reports.
const maxErrors = 50

// problems collects fieldErrors.
type problems struct {
	source string
	errs   []error
	extra  int
}

// add records a problem at path.
func (p *problems) add(path, format string, args ...any) {
	p.addErr(&fieldError{source: p.source, path: path, msg: fmt.Sprintf(format, args...)})
}

// addErr records err (which should wrap driver.ErrInvalidArgument).
func (p *problems) addErr(err error) {
	if err == nil {
		return
	}
	for _, e := range flatten(err) {
		if len(p.errs) >= maxErrors {
			p.extra++
			continue
		}
		p.errs = append(p.errs, e)
	}
}

// err returns the joined problems, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := p.errs
	if p.extra > 0 {
		errs = append(errs[:len(errs):len(errs)], &fieldError{source: p.source,
			msg: fmt.Sprintf("%d more problems not shown", p.extra)})
	}
	return errors.Join(errs...)
}

// flatten expands errors.Join trees into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// withPrefix rewrites every problem in err: prefix is prepended to its key
// path (with a dot) and source set where missing. Other errors (from a
// foreign Validate) become fieldErrors with their text, so that they name
// the prefix and wrap driver.ErrInvalidArgument.
func withPrefix(err error, source, prefix string) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		if fe, ok := e.(*fieldError); ok {
			n := *fe
			n.path = joinPath(prefix, fe.path)
			if n.source == "" {
				n.source = source
			}
			out = append(out, &n)
			continue
		}
		// A foreign error: keep its text, make it a fieldError so that it
		// wraps driver.ErrInvalidArgument like every other problem.
		out = append(out, &fieldError{source: source, path: prefix, msg: e.Error()})
	}
	return errors.Join(out...)
}

// joinPath joins dotted key paths, skipping empty parts.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

var bareKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// pathKey renders a key for use in a dotted path, quoting it when it is not
// a bare TOML key.
func pathKey(k string) string {
	if bareKeyRE.MatchString(k) {
		return k
	}
	return quoteString(k)
}

// typeNames is the registered types (Types) as strings.
func typeNames() []string {
	ts := Types()
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return s
}

// typeList is "Memory, S3, ..." (the registered types) for messages.
func typeList() string { return strings.Join(typeNames(), ", ") }

// unknownTypeMsg explains an unknown provider type.
func unknownTypeMsg(t string) string {
	return fmt.Sprintf("unknown provider type %s%s (known types: %s)", quoteString(t), suggest(t, typeNames()), typeList())
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to key, or
// "" when none is close.
func suggest(key string, candidates []string) string {
	best, bestD := "", 1<<30
	nk := normalizeKey(key)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(key), strings.ToLower(c))
		if nk == normalizeKey(c) {
			d = 0
		}
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := len(key) / 3
	if limit < 1 {
		limit = 1
	}
	if limit > 3 {
		limit = 3
	}
	if best == "" || bestD > limit {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", quoteString(best))
}

// normalizeKey folds case and separators: "accessKeyId" ~ "access_key_id".
func normalizeKey(s string) string {
	s = strings.ToLower(s)
	return strings.NewReplacer("_", "", "-", "").Replace(s)
}

// editDistance is the optimal-string-alignment distance (insertions,
// deletions, substitutions and adjacent transpositions), over bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
