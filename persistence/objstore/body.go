package objstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Object bodies carry their own metadata, so that every service (and a
// listing, which returns no user metadata) sees the same thing:
//
//	"ORBS" | format version (1) | kind ('v' value, 't' tombstone) |
//	8 random bytes | value only: CRC-32C of the value (4 bytes) | value
//
// The random bytes make every body, and so every entity tag, unique: the
// protocol tells writes apart by their tags. A tombstone is exactly
// tombSize bytes and a value at least valueHeader bytes, so a listing's
// sizes already say which objects are tombstones.
const (
	magic         = "ORBS"
	formatVersion = 1
	kindValue     = 'v'
	kindTomb      = 't'
	tombSize      = len(magic) + 1 + 1 + 8
	valueHeader   = tombSize + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeValue(value []byte) []byte {
	b := make([]byte, valueHeader+len(value))
	writeHeader(b, kindValue)
	binary.BigEndian.PutUint32(b[tombSize:], crc32.Checksum(value, castagnoli))
	copy(b[valueHeader:], value)
	return b
}

func encodeTomb() []byte {
	b := make([]byte, tombSize)
	writeHeader(b, kindTomb)
	return b
}

func writeHeader(b []byte, kind byte) {
	copy(b, magic)
	b[4] = formatVersion
	b[5] = kind
	binary.LittleEndian.PutUint64(b[6:], rand.Uint64())
}

// decodeBody returns the value of a body (tomb true for a tombstone), or an
// error that Is driver.ErrCorrupt.
func decodeBody(name string, b []byte) (value []byte, tomb bool, err error) {
	if len(b) < tombSize || string(b[:4]) != magic {
		return nil, false, fmt.Errorf("object %q is not an Orbit record: %w", name, driver.ErrCorrupt)
	}
	if b[4] != formatVersion {
		return nil, false, fmt.Errorf("object %q has format version %d, this build reads %d: %w", name, b[4], formatVersion, driver.ErrCorrupt)
	}
	switch b[5] {
	case kindTomb:
		return nil, true, nil
	case kindValue:
		if len(b) < valueHeader {
			return nil, false, fmt.Errorf("object %q: truncated header: %w", name, driver.ErrCorrupt)
		}
		v := b[valueHeader:]
		if crc32.Checksum(v, castagnoli) != binary.BigEndian.Uint32(b[tombSize:]) {
			return nil, false, fmt.Errorf("object %q: checksum mismatch: %w", name, driver.ErrCorrupt)
		}
		return v, false, nil
	}
	return nil, false, fmt.Errorf("object %q: unknown kind %q: %w", name, b[5], driver.ErrCorrupt)
}
