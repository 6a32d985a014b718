package redis

// This file holds the record format: decoding a stored record, and the
// expiry bucket, delete-after and header fields a write puts in one.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/orbit-go/orbit/persistence/driver"
)

// decodeRecord splits "<version>:<operation id>:<bucket>:<label length>:<label><value>".
func decodeRecord(key, raw string) (ver, label, value string, err error) {
	rest := raw
	var fields [4]string
	for f := range fields {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return "", "", "", errBadRecord{key}
		}
		fields[f], rest = rest[:i], rest[i+1:]
	}
	ll, err := strconv.Atoi(fields[3])
	if fields[0] == "" || err != nil || ll < 0 || ll > len(rest) {
		return "", "", "", errBadRecord{key}
	}
	return fields[0], rest[:ll], rest[ll:], nil
}

// bytesOf returns the bytes of s without copying them. The driver contract
// makes returned values immutable, and s belongs to the reply alone.
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// errBadRecord is the error of a record without a valid header; it is
// formatted only when reported.
type errBadRecord struct{ key string }

func (e errBadRecord) Error() string {
	return fmt.Sprintf("redis: record %q has no valid version header: %v", e.key, driver.ErrCorrupt)
}
func (e errBadRecord) Unwrap() error { return driver.ErrCorrupt }

// expiryBucket is opsSrc's bucket of a delete-after time in Unix ms
// (math.ceil(da / expiryBucketMs) * expiryBucketMs), "0" for none.
func expiryBucket(da int64) string {
	if da == 0 {
		return "0"
	}
	return strconv.FormatInt((da+expiryBucketMs-1)/expiryBucketMs*expiryBucketMs, 10)
}

// deleteAfterMs is the script argument of a delete-after time.
func deleteAfterMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

// recordAfterVersion is a record as opsSrc writes it, less its leading
// version: ":<operation id>:<bucket>:<label length>:<label><value>" (see
// decodeRecord).
func recordAfterVersion(opid, bucket, label string, value []byte) string {
	ll := strconv.Itoa(len(label))
	var b strings.Builder
	b.Grow(4 + len(opid) + len(bucket) + len(ll) + len(label) + len(value))
	for _, part := range []string{":", opid, ":", bucket, ":", ll, ":", label} {
		b.WriteString(part)
	}
	b.Write(value)
	return b.String()
}
