package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// parseTOMLTree parses TOML into a generic tree (see decoder). Syntax errors
// name source and line; a message about the value of a secret key is not
// shown, since the TOML parser may quote part of the value.
func parseTOMLTree(data []byte, source string) (map[string]any, error) {
	var root map[string]any
	_, err := toml.Decode(string(data), &root)
	if err == nil {
		if root == nil {
			root = map[string]any{}
		}
		return root, nil
	}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return nil, &fieldError{source: source, msg: "invalid TOML: " + err.Error()}
	}
	msg := pe.Message
	lastKey := pe.LastKey
	if i := strings.LastIndexByte(lastKey, '.'); i >= 0 {
		lastKey = lastKey[i+1:]
	}
	if isSecretKey(strings.Trim(lastKey, `"'`)) || secretOnLine(data, pe.Position.Line) {
		msg = "syntax error in the value of a secret key (not shown)"
	}
	where := fmt.Sprintf("line %d", pe.Position.Line)
	if pe.LastKey != "" {
		where += fmt.Sprintf(" (last key %s)", quoteString(pe.LastKey))
	}
	return nil, &fieldError{source: source, path: where, msg: "invalid TOML: " + msg}
}

// isSecretKey reports whether key is the key of a secret in any registered
// provider type (or in one of its nested tables).
func isSecretKey(key string) bool {
	for _, t := range registeredGoTypes() {
		for _, f := range fieldsOf(t.Elem()) {
			if (f.secret || f.userinfo) && f.key == key {
				return true
			}
			if f.kind == kindTable {
				for _, sf := range fieldsOf(t.Elem().Field(f.index).Type.Elem()) {
					if (sf.secret || sf.userinfo) && sf.key == key {
						return true
					}
				}
			}
		}
	}
	return false
}

// secretOnLine reports whether line n (1-based) of data assigns a secret
// key: the parser's last key can lag behind when the error is in a value.
func secretOnLine(data []byte, n int) bool {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	key, _, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		return false
	}
	key = strings.Trim(strings.TrimSpace(key), `"'`)
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = strings.Trim(key[i+1:], `"'`)
	}
	return isSecretKey(key)
}
