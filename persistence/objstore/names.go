package objstore

import (
	"errors"
	"strconv"
	"strings"
)

// Object names. The objects of one key K form its chain, in a folder of
// their own:
//
//	<prefix>enc(K)!!/<seq>-<pred>
//
// where <seq> and <pred> are 16 lowercase hex digits: seq numbers the
// writes of K, pred is the fingerprint of the entity tag of the object this
// one replaced (0 for a creation). enc escapes the bytes 0x01..0x21 as '!'
// followed by the byte plus 0x22, so that:
//   - "!!" occurs only in the separator;
//   - enc preserves byte order, and enc(K)+"!!/..." sorts before every
//     enc(K+suffix): a listing of object names is a listing of keys in key
//     order, each key's chain in ascending seq order;
//   - names contain no control characters (XML listings cannot carry them);
//   - each chain is one folder: servers that store objects as files
//     (versitygw, MinIO) list a chain without reading its neighbours, and
//     a key's folder never collides with the folder of a longer key.
//
// Servers that store objects as files also clean paths: keys with empty
// or "." / ".." path components ("a//b", "a/./b") are not stored as
// given there. The lease logic never produces such keys.
const (
	sep       = "!!/"
	hexDigits = 16
	suffixLen = len(sep) + hexDigits + 1 + hexDigits
	// afterChain sorts after every chain suffix of a key and before the
	// names of every longer key (see encodeKey).
	afterChain = sep + "~"
	// MaxNameLen is the longest object name S3, Azure and GCS all accept.
	MaxNameLen = 1024
)

// encodeKey appends enc(key) to b.
func encodeKey(b []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= '!' {
			b = append(b, '!', c+0x22)
			continue
		}
		b = append(b, c)
	}
	return b
}

var errBadName = errors.New("not an object name of this store")

// decodeKey reverses encodeKey.
func decodeKey(s string) (string, error) {
	if strings.IndexByte(s, '!') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '!' {
			b = append(b, c)
			continue
		}
		if i+1 >= len(s) || s[i+1] < 0x23 || s[i+1] > 0x43 {
			return "", errBadName
		}
		b = append(b, s[i+1]-0x22)
		i++
	}
	return string(b), nil
}

// linkName is the object name of the write seq of the chain chainPrefix
// (prefix+enc(key)+sep), replacing the object with fingerprint pred.
func linkName(chainPrefix string, seq, pred uint64) string {
	b := make([]byte, 0, len(chainPrefix)+hexDigits+1+hexDigits)
	b = append(b, chainPrefix...)
	b = appendHex16(b, seq)
	b = append(b, '-')
	b = appendHex16(b, pred)
	return string(b)
}

func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// parseName splits an object name (without the store prefix) into the
// encoded key and the link's seq and pred.
func parseName(name string) (encKey string, seq, pred uint64, err error) {
	i := strings.Index(name, sep)
	if i < 0 || len(name)-i != suffixLen || name[len(name)-hexDigits-1] != '-' {
		return "", 0, 0, errBadName
	}
	rest := name[i+len(sep):]
	seq, err1 := strconv.ParseUint(rest[:hexDigits], 16, 64)
	pred, err2 := strconv.ParseUint(rest[hexDigits+1:], 16, 64)
	if err1 != nil || err2 != nil || seq == 0 {
		return "", 0, 0, errBadName
	}
	return name[:i], seq, pred, nil
}

// fingerprint is the 64-bit FNV-1a hash of an entity tag, never 0 (0 marks
// a creation).
func fingerprint(etag string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(etag); i++ {
		h ^= uint64(etag[i])
		h *= prime
	}
	if h == 0 {
		h = 1
	}
	return h
}

// NormalizeETag strips the quotes and weak marker of an entity tag, so that
// the tags of a PUT response and of a listing compare equal.
func NormalizeETag(etag string) string {
	etag = strings.TrimPrefix(etag, "W/")
	return strings.Trim(etag, `"`)
}
