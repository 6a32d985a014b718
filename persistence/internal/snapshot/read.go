package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

const (
	largeChunk   = 1 << 20 // large fields are read and grown by this much at a time
	checkBufSize = 1 << 20
)

// readBufSize is the decoder's window over the uncompressed body (at least
// binary.MaxVarintLen64); tests shrink it.
var readBufSize = 256 << 10

// Read restores the snapshot at path: it calls fn for each entry, in file
// order, and returns the number of entries handed to fn, the file size and
// the compression named by the file header.
//
// A missing file is an error for which errors.Is(err, fs.ErrNotExist) holds.
// A truncated, damaged, foreign or unknown-version file is an error wrapping
// ErrCorrupt (and driver.ErrCorrupt) that names path and the problem. The
// checksum of the whole file is verified before fn is first called, so fn
// sees no entry of a file damaged on disk; an error found while decoding (a
// file that was written wrong) can still come after some calls, and the caller
// must then discard what fn received. If fn returns an error, Read stops and
// returns that error unchanged. The Key and Value passed to fn are freshly
// allocated and may be retained.
func Read(path string, fn func(Entry) error) (Stats, error) {
	var st Stats
	f, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("snapshot: read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return st, fmt.Errorf("snapshot: read: %w", err)
	}
	size := fi.Size()
	st.Bytes = size
	if !fi.Mode().IsRegular() {
		return st, fmt.Errorf("snapshot: read %s: not a regular file", path)
	}
	if size < headerLen {
		return st, corrupt(path, "truncated: %d bytes, shorter than the header", size)
	}
	var h [headerLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return st, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	var format uint16
	st.Compression, format, err = parseHeader(path, h[:])
	if err != nil {
		return st, err
	}
	if size < headerLen+trailerLen {
		return st, corrupt(path, "truncated: %d bytes, no room for the trailer", size)
	}
	var tb [trailerLen]byte
	if _, err := f.ReadAt(tb[:], size-trailerLen); err != nil {
		return st, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	t, err := parseTrailer(path, tb[:], size)
	if err != nil {
		return st, err
	}
	if err := checkFile(path, f, size-trailerLen, t.fileCRC); err != nil {
		return st, err
	}
	body := io.NewSectionReader(f, headerLen, int64(t.bodyLen))
	n, err := decodeBody(path, st.Compression, format, body, t.entries, fn)
	st.Entries = n
	return st, err
}

// checkFile compares the checksum of the first n bytes of f with want.
func checkFile(path string, f *os.File, n int64, want uint32) error {
	buf := make([]byte, min(n, checkBufSize))
	var crc uint32
	for off := int64(0); off < n; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		crc = crc32.Update(crc, castagnoli, buf[:k])
		off += int64(k)
		if err != nil && off < n {
			if errors.Is(err, io.EOF) {
				return corrupt(path, "truncated while being read")
			}
			return fmt.Errorf("snapshot: read %s: %w", path, err)
		}
	}
	if crc != want {
		return corrupt(path, "bad checksum: file content does not match its trailer")
	}
	return nil
}

// decodeBody decompresses body and hands its records to fn. want is the
// entry count announced by the trailer.
func decodeBody(path string, c Compression, format uint16, body io.Reader, want uint64, fn func(Entry) error) (n int, err error) {
	src, release, err := newDecompressor(c, body)
	if err != nil {
		return 0, corrupt(path, "%s stream: %v", c, err)
	}
	defer release()
	d := &bodyReader{r: src, buf: make([]byte, readBufSize)}
	for {
		tag, err := d.uvarint()
		if err != nil {
			return n, d.fail(path, c, n, err)
		}
		if tag == 0 {
			d.crcTo(d.mark) // the checksum stops before the end marker
			return n, d.finish(path, c, n, want, d.crc)
		}
		var ent Entry
		if tag-1 > MaxKeyLen {
			return n, corrupt(path, "entry %d: bad length: key of %d bytes", n, tag-1)
		}
		key, err := d.bytes(int(tag - 1))
		if err != nil {
			return n, d.fail(path, c, n, err)
		}
		ent.Key = string(key)
		vlen, err := d.uvarint()
		if err != nil {
			return n, d.fail(path, c, n, err)
		}
		if vlen > MaxValueLen {
			return n, corrupt(path, "entry %d: bad length: value of %d bytes", n, vlen)
		}
		val, err := d.bytes(int(vlen))
		if err != nil {
			return n, d.fail(path, c, n, err)
		}
		if int(vlen) <= len(d.buf) { // val aliases the window
			ent.Value = make([]byte, len(val))
			copy(ent.Value, val)
		} else {
			ent.Value = val
		}
		if ent.Version, err = d.uvarint(); err != nil {
			return n, d.fail(path, c, n, err)
		}
		llen, err := d.uvarint()
		if err != nil {
			return n, d.fail(path, c, n, err)
		}
		if llen > MaxKeyLen {
			return n, corrupt(path, "entry %d: bad length: label of %d bytes", n, llen)
		}
		if llen > 0 {
			label, err := d.bytes(int(llen))
			if err != nil {
				return n, d.fail(path, c, n, err)
			}
			ent.Label = string(label)
		}
		if format == formatV1 {
			ent.ExpireAt = 1 // unknown: due at once (see Entry)
		} else if ent.ExpireAt, err = d.uvarint(); err != nil {
			return n, d.fail(path, c, n, err)
		}
		if uint64(n) >= want {
			return n, corrupt(path, "more entries than the %d announced", want)
		}
		if err := fn(ent); err != nil {
			return n, err
		}
		n++
	}
}

// bodyReader parses the uncompressed body through a window buf[pos:end],
// keeping a checksum of the bytes consumed.
type bodyReader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	crcFrom  int // buf[crcFrom:pos] is consumed but not yet checksummed
	mark     int // where the last varint started
	crc      uint32
	rerr     error // io.EOF once r is exhausted, or the error r returned
}

var errShort = errors.New("unexpected end of body")

// fill makes at least n bytes available, or as many as r still holds.
func (d *bodyReader) fill(n int) bool {
	for empty := 0; d.end-d.pos < n && d.rerr == nil; {
		if d.end == len(d.buf) {
			d.crcTo(d.pos)
			d.end = copy(d.buf, d.buf[d.pos:d.end])
			d.pos, d.crcFrom = 0, 0
		}
		k, err := d.r.Read(d.buf[d.end:])
		d.end += k
		if err != nil {
			d.rerr = err
		} else if k == 0 {
			if empty++; empty == 100 {
				d.rerr = io.ErrNoProgress
			}
		}
	}
	return d.end-d.pos >= n
}

func (d *bodyReader) crcTo(pos int) {
	d.crc = crc32.Update(d.crc, castagnoli, d.buf[d.crcFrom:pos])
	d.crcFrom = pos
}

func (d *bodyReader) uvarint() (uint64, error) {
	if d.end-d.pos < binary.MaxVarintLen64 {
		d.fill(binary.MaxVarintLen64)
	}
	d.mark = d.pos
	v, k := binary.Uvarint(d.buf[d.pos:d.end])
	if k == 0 {
		return 0, errShort
	}
	if k < 0 {
		return 0, errors.New("varint overflows 64 bits")
	}
	d.pos += k
	return v, nil
}

// bytes returns the next n bytes. The result aliases buf when n fits in it,
// and is then valid only until the next call.
func (d *bodyReader) bytes(n int) ([]byte, error) {
	if n <= len(d.buf) {
		if !d.fill(n) {
			return nil, errShort
		}
		d.pos += n
		return d.buf[d.pos-n : d.pos], nil
	}
	// Larger than the window: read straight from r, growing the result as
	// data arrives so that a bogus length cannot allocate much.
	out := make([]byte, 0, largeChunk)
	out = append(out, d.buf[d.pos:d.end]...)
	d.pos = d.end
	d.crcTo(d.end)
	for len(out) < n {
		if d.rerr != nil {
			return nil, errShort
		}
		k := min(n-len(out), max(largeChunk, len(out)))
		out = slices.Grow(out, k)
		got, err := io.ReadFull(d.r, out[len(out):len(out)+k])
		d.crc = crc32.Update(d.crc, castagnoli, out[len(out):len(out)+got])
		out = out[:len(out)+got]
		if err != nil {
			d.rerr = err
		}
	}
	return out, nil
}

// fail turns a decoding failure into the error Read returns.
func (d *bodyReader) fail(path string, c Compression, n int, err error) error {
	if err == errShort {
		if d.rerr != nil && d.rerr != io.EOF && !errors.Is(d.rerr, io.ErrUnexpectedEOF) {
			return corrupt(path, "bad %s stream after %d entries: %v", c, n, d.rerr)
		}
		return corrupt(path, "truncated body after %d entries (no end marker)", n)
	}
	return corrupt(path, "entry %d: %v", n, err)
}

// finish checks the end marker, whose tag has just been read.
// bodyCRC is the checksum of the records, taken before the marker is read.
func (d *bodyReader) finish(path string, c Compression, n int, want uint64, bodyCRC uint32) error {
	count, err := d.uvarint()
	if err != nil {
		return d.fail(path, c, n, err)
	}
	if !d.fill(4) {
		return d.fail(path, c, n, errShort)
	}
	sum := binary.LittleEndian.Uint32(d.buf[d.pos:])
	d.pos += 4
	switch {
	case count != uint64(n):
		return corrupt(path, "end marker counts %d entries, body holds %d", count, n)
	case count != want:
		return corrupt(path, "trailer counts %d entries, body holds %d", want, n)
	case sum != bodyCRC:
		return corrupt(path, "bad checksum over the uncompressed body")
	}
	// The stream must end here, and cleanly: reaching EOF also makes the
	// decompressor verify its own trailer and checksum.
	if d.fill(1) {
		return corrupt(path, "data after the end marker")
	}
	if d.rerr != io.EOF {
		return corrupt(path, "bad %s stream after the end marker: %v", c, d.rerr)
	}
	return nil
}

var zstdDecoders = sync.Pool{New: func() any {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		panic(err) // static options
	}
	return dec
}}

// newDecompressor returns a reader of the uncompressed body, and a function
// to call when done with it.
func newDecompressor(c Compression, body io.Reader) (io.Reader, func(), error) {
	nop := func() {}
	switch c {
	case None:
		return body, nop, nil
	case Gzip:
		br := bufio.NewReaderSize(body, 64<<10)
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nop, err
		}
		zr.Multistream(false)
		return &gzipBody{zr: zr, br: br}, nop, nil
	case Lz4:
		return lz4.NewReader(body), nop, nil
	case Zstd:
		dec := zstdDecoders.Get().(*zstd.Decoder)
		if err := dec.Reset(body); err != nil {
			return nil, nop, err
		}
		return dec, func() { dec.Reset(nil); zstdDecoders.Put(dec) }, nil
	}
	return nil, nop, fmt.Errorf("unknown compression %q", c)
}

// gzipBody reads one gzip member and reports bytes stored after it.
type gzipBody struct {
	zr *gzip.Reader
	br *bufio.Reader
}

func (g *gzipBody) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err == io.EOF {
		if _, perr := g.br.Peek(1); perr == nil {
			return n, errors.New("data after the gzip member")
		}
	}
	return n, err
}
