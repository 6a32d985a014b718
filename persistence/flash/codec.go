package flash

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Engine key layout. Every path holds the same keys:
//
//	'd' key                          → record of a stored entry
//	'i' uvarint(len(label)) label key → empty (the label index)
//	'm' name                         → provider metadata (see meta.go)
const (
	dataPrefix  = 'd'
	indexPrefix = 'i'
	metaPrefix  = 'm'
)

func dataKey(key string) []byte {
	b := make([]byte, 0, 1+len(key))
	b = append(b, dataPrefix)
	return append(b, key...)
}

func indexLabelPrefix(label string) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(label))
	b = append(b, indexPrefix)
	b = binary.AppendUvarint(b, uint64(len(label)))
	return append(b, label...)
}

func indexKey(label, key string) []byte {
	return append(indexLabelPrefix(label), key...)
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// codec identifies how a record's value is stored.
type codec byte

const (
	codecRaw  codec = 0
	codecLz4  codec = 1
	codecZstd codec = 2
)

// minCompress is the smallest value the store tries to compress: below it
// the codecs' framing costs more than they save (lease records are 30–60
// bytes and are stored raw).
const minCompress = 64

// compressor compresses values with the configured codec. A value is kept
// compressed only if that saves at least an eighth of its size.
type compressor struct {
	codec codec
	zenc  *zstd.Encoder
	zdec  *zstd.Decoder
}

func newCompressor(name string) (*compressor, error) {
	c := &compressor{}
	switch strings.ToLower(name) {
	case "", "lz4":
		c.codec = codecLz4
	case "none":
		c.codec = codecRaw
	case "zstd":
		c.codec = codecZstd
	default:
		return nil, fmt.Errorf("flash: compression %q is not one of None, Lz4, Zstd: %w", name, driver.ErrInvalidArgument)
	}
	var err error
	// Both are safe for concurrent EncodeAll/DecodeAll. The decoder is
	// always there: a store may hold values written with another setting.
	if c.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)); err != nil {
		return nil, err
	}
	if c.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *compressor) close() {
	_ = c.zenc.Close()
	c.zdec.Close()
}

// payload is a value ready to be stored: its codec, the uncompressed size
// (compressed payloads only) and the stored bytes.
type payload struct {
	codec  codec
	rawLen int
	data   []byte
}

func (c *compressor) encode(v []byte) payload {
	if c.codec == codecRaw || len(v) < minCompress {
		return payload{codec: codecRaw, data: v}
	}
	var out []byte
	switch c.codec {
	case codecLz4:
		buf := make([]byte, lz4.CompressBlockBound(len(v)))
		lc := lz4Pool.Get().(*lz4.Compressor)
		n, err := lc.CompressBlock(v, buf)
		lz4Pool.Put(lc)
		if err != nil || n == 0 {
			return payload{codec: codecRaw, data: v}
		}
		out = buf[:n]
	case codecZstd:
		out = c.zenc.EncodeAll(v, make([]byte, 0, len(v)/2+16))
	}
	if len(out) > len(v)-len(v)/8 {
		return payload{codec: codecRaw, data: v}
	}
	return payload{codec: c.codec, rawLen: len(v), data: out}
}

var lz4Pool = sync.Pool{New: func() any { return new(lz4.Compressor) }}

// record is one decoded entry record.
type record struct {
	version uint64
	label   string
	codec   codec
	rawLen  int
	data    []byte // the stored payload (aliases the engine's buffer until copied)
}

// encodeRecord lays out a record:
//
//	byte     codec
//	uvarint  version
//	uvarint  len(label), label
//	uvarint  uncompressed length (compressed codecs only)
//	...      payload
func encodeRecord(version uint64, label string, p payload) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(label)+len(p.data))
	b = append(b, byte(p.codec))
	b = binary.AppendUvarint(b, version)
	b = binary.AppendUvarint(b, uint64(len(label)))
	b = append(b, label...)
	if p.codec != codecRaw {
		b = binary.AppendUvarint(b, uint64(p.rawLen))
	}
	return append(b, p.data...)
}

var errShortRecord = fmt.Errorf("flash: truncated record: %w", driver.ErrCorrupt)

// decodeHeader parses a record without copying; rec.data aliases b.
func decodeHeader(b []byte) (record, error) {
	var r record
	if len(b) < 3 {
		return r, errShortRecord
	}
	r.codec = codec(b[0])
	if r.codec > codecZstd {
		return r, fmt.Errorf("flash: unknown value codec %d: %w", b[0], driver.ErrCorrupt)
	}
	b = b[1:]
	v, n := binary.Uvarint(b)
	if n <= 0 || v == 0 {
		return r, errShortRecord
	}
	r.version, b = v, b[n:]
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return r, errShortRecord
	}
	r.label, b = string(b[n:n+int(l)]), b[n+int(l):]
	if r.codec != codecRaw {
		rl, n := binary.Uvarint(b)
		if n <= 0 || rl > 1<<31 {
			return r, errShortRecord
		}
		r.rawLen, b = int(rl), b[n:]
	}
	r.data = b
	return r, nil
}

// value returns a fresh copy of the record's uncompressed value.
func (c *compressor) value(r record) ([]byte, error) {
	switch r.codec {
	case codecLz4:
		out := make([]byte, r.rawLen)
		n, err := lz4.UncompressBlock(r.data, out)
		if err != nil || n != r.rawLen {
			return nil, fmt.Errorf("flash: lz4 value does not decompress (%v): %w", err, driver.ErrCorrupt)
		}
		return out, nil
	case codecZstd:
		out, err := c.zdec.DecodeAll(r.data, make([]byte, 0, r.rawLen))
		if err != nil || len(out) != r.rawLen {
			return nil, fmt.Errorf("flash: zstd value does not decompress (%v): %w", err, driver.ErrCorrupt)
		}
		return out, nil
	default:
		return append(make([]byte, 0, len(r.data)), r.data...), nil
	}
}
