package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Entry is one stored key: its value and its version. Read hands out entries
// whose Key and Value are freshly allocated and owned by the callback.
type Entry struct {
	Key     string
	Value   []byte
	Version uint64
	// Label is the entry's index label ("" = none), see driver.Indexer.
	Label string
	// ExpireAt is when the entry is filed to expire, in Unix seconds (0 =
	// never), see driver.ExpiryLister. Format 1 files record none: Read
	// gives their entries ExpireAt 1 (due since 1970), so that a store
	// listing entries by expiry hands each to its cleanup once, which
	// judges the entry by its content.
	ExpireAt uint64
}

// Compression names the compression of a snapshot body. The spellings are
// those of the config package.
type Compression string

// The supported compressions.
const (
	None Compression = "None" // stored as it is
	Gzip Compression = "Gzip" // gzip, fastest level
	Lz4  Compression = "Lz4"  // LZ4 frame, fast level
	Zstd Compression = "Zstd" // zstd, fastest level
)

// Limits on one entry. Write rejects larger entries, and Read reports a file
// that claims larger ones as corrupt.
const (
	MaxKeyLen   = 1 << 20 // 1 MiB
	MaxValueLen = 1 << 30 // 1 GiB
)

// Stats describes one written or read snapshot.
type Stats struct {
	// Entries is the number of entries written, or handed to the callback.
	Entries int
	// Bytes is the size of the file: written by Write, or as found by Read.
	Bytes int64
	// Compression is the body's compression (from the file header for Read).
	Compression Compression
}

// ErrCorrupt is wrapped by every error that Read returns for a damaged,
// truncated, foreign or unknown-version file. It itself wraps
// driver.ErrCorrupt, so errors.Is(err, driver.ErrCorrupt) holds too.
var ErrCorrupt error = &wrapError{msg: "corrupt snapshot", err: driver.ErrCorrupt}

type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// corrupt builds the error Read returns for a damaged file at path.
func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("snapshot %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
}

const (
	formatVersion = 2 // written; Read also reads formatV1
	formatV1      = 1 // records without ExpireAt
	headerLen     = 16
	trailerLen    = 32
	headerMagic   = "ORBITSNP"
	trailerMagic  = "ORBITEND"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var compressionIDs = [...]Compression{None, Gzip, Lz4, Zstd}

func compressionID(c Compression) (byte, bool) {
	for i, x := range compressionIDs {
		if x == c {
			return byte(i), true
		}
	}
	return 0, false
}

func appendHeader(b []byte, id byte) []byte {
	b = append(b, headerMagic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	return append(b, id, 0, 0, 0, 0, 0) // compression, flags, reserved
}

// parseHeader checks a header and returns its compression and format
// version.
func parseHeader(path string, h []byte) (Compression, uint16, error) {
	if !bytes.Equal(h[:8], []byte(headerMagic)) {
		return "", 0, corrupt(path, "bad magic %q, not a snapshot file", h[:8])
	}
	v := binary.LittleEndian.Uint16(h[8:])
	if v != formatVersion && v != formatV1 {
		return "", 0, corrupt(path, "unknown format version %d (this build reads %d and %d)", v, formatV1, formatVersion)
	}
	id := h[10]
	if int(id) >= len(compressionIDs) {
		return "", 0, corrupt(path, "unknown compression id %d", id)
	}
	if h[11] != 0 {
		return "", 0, corrupt(path, "unknown flags %#x", h[11])
	}
	if binary.LittleEndian.Uint32(h[12:]) != 0 {
		return "", 0, corrupt(path, "reserved header bytes are not zero")
	}
	return compressionIDs[id], v, nil
}

type trailer struct {
	bodyLen uint64
	entries uint64
	fileCRC uint32
}

func appendTrailer(b []byte, t trailer) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, t.bodyLen)
	b = binary.LittleEndian.AppendUint64(b, t.entries)
	b = binary.LittleEndian.AppendUint32(b, t.fileCRC)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
	return append(b, trailerMagic...)
}

// parseTrailer checks a trailer read from the end of a file of size bytes.
func parseTrailer(path string, b []byte, size int64) (trailer, error) {
	if !bytes.Equal(b[24:], []byte(trailerMagic)) {
		return trailer{}, corrupt(path, "no end-of-snapshot trailer (truncated file?)")
	}
	if got, want := crc32.Checksum(b[:20], castagnoli), binary.LittleEndian.Uint32(b[20:]); got != want {
		return trailer{}, corrupt(path, "trailer checksum mismatch")
	}
	t := trailer{
		bodyLen: binary.LittleEndian.Uint64(b),
		entries: binary.LittleEndian.Uint64(b[8:]),
		fileCRC: binary.LittleEndian.Uint32(b[16:]),
	}
	if have := uint64(size - headerLen - trailerLen); t.bodyLen != have {
		return trailer{}, corrupt(path, "bad length: trailer says body of %d bytes, file holds %d", t.bodyLen, have)
	}
	return t, nil
}
