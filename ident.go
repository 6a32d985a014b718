package orbit

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits on identifiers. They keep every storage key within the key limit of
// the storage drivers and within the object-name limits of the cloud backends.
const (
	MaxNamespaceLen = 128
	MaxTypeLen      = 128
	MaxKeyLen       = 256
	MaxURLLen       = 1024
	MaxTags         = 64
)

// ValidateIdentifier checks one identifier (a namespace, type, key or tag
// name): non-empty, valid UTF-8, no C0 or C1 control characters, at most max
// bytes. The error names field and wraps ErrInvalidArgument.
func ValidateIdentifier(field, s string, max int) error {
	if s == "" {
		return InvalidArgument(field, "must not be empty")
	}
	if len(s) > max {
		return InvalidArgument(field, "is %d bytes, the limit is %d", len(s), max)
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return InvalidArgument(field, "contains control character %U", rune(c))
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return nil
	}
	if !utf8.ValidString(s) {
		return InvalidArgument(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if r >= 0x80 && r < 0xa0 { // C1 controls
			return InvalidArgument(field, "contains control character %U", r)
		}
	}
	return nil
}

// EscapePart percent-escapes '%' and '/' (and nothing else), so that '/'
// can separate parts: the text forms of NodeID and AddressableReference and
// the storage key layout use it.
func EscapePart(s string) string {
	if !strings.ContainsAny(s, "%/") {
		return s
	}
	return string(AppendEscapedPart(make([]byte, 0, len(s)+8), s))
}

// AppendEscapedPart appends EscapePart(s) to b.
func AppendEscapedPart(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ { // one pass: parts are short
		if s[i] == '/' || s[i] == '%' {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b = append(b, "%25"...)
		case '/':
			b = append(b, "%2F"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// ErrBadEscape is wrapped by UnescapePart's error for a '%' that does not
// start "%25" or "%2F".
var ErrBadEscape = errors.New("bad percent escape")

// UnescapePart reverses EscapePart.
func UnescapePart(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", ErrBadEscape
		}
		switch s[i+1 : i+3] {
		case "25":
			b.WriteByte('%')
		case "2F", "2f":
			b.WriteByte('/')
		default:
			return "", ErrBadEscape
		}
		i += 2
	}
	return b.String(), nil
}
