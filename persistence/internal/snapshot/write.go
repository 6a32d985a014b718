package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Hooks replaced by tests to inject failures.
var (
	syncFile = (*os.File).Sync
	rename   = os.Rename
)

const (
	fileBufSize   = 1 << 20  // buffered file writes
	batchSize     = 64 << 10 // uncompressed records handed to the compressor at once
	directValue   = 32 << 10 // values at least this large skip the batch buffer
	tempInfix     = ".tmp-"
	zstdMaxWindow = 64 << 20
)

// Write atomically replaces the file at path with a snapshot of the entries
// yielded by seq, compressed with c, and returns the number of entries and
// the size of the file.
//
// The entries are streamed: Write holds at most a few MiB whatever their
// number, and it neither modifies nor retains an entry's Key and Value once
// seq asks for the next one. It writes a temporary file ".<base>.tmp-<random>" (mode 0600) in
// the directory of path, fsyncs it, renames it over path and fsyncs the
// directory. If Write fails before the rename, the previous file at path is
// left intact and the temporary file is removed (also if seq panics: the
// panic then goes on). Only a failing fsync of the directory after the rename
// leaves the new file in place, possibly not yet durable, with an error.
//
// An unknown compression, a key longer than MaxKeyLen or a value longer than
// MaxValueLen is an error wrapping driver.ErrInvalidArgument. Concurrent
// Writes to the same path are safe (the last rename wins) but wasteful.
func Write(path string, c Compression, seq iter.Seq[Entry]) (Stats, error) {
	st := Stats{Compression: c}
	id, ok := compressionID(c)
	if !ok {
		return st, fmt.Errorf("snapshot: write %s: unknown compression %q: %w", path, c, driver.ErrInvalidArgument)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return st, fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			f.Close() // a no-op error if already closed
			os.Remove(tmp)
		}
	}()

	fw := &fileWriter{bw: bufio.NewWriterSize(f, fileBufSize)}
	fw.Write(appendHeader(make([]byte, 0, headerLen), id))
	n, err := writeBody(fw, c, seq)
	st.Entries = n
	if err != nil {
		return st, fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	t := trailer{bodyLen: uint64(fw.n - headerLen), entries: uint64(n), fileCRC: fw.crc}
	fw.bw.Write(appendTrailer(make([]byte, 0, trailerLen), t))
	st.Bytes = fw.n + trailerLen
	if err := fw.bw.Flush(); err != nil {
		return st, fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := syncFile(f); err != nil {
		return st, fmt.Errorf("snapshot: write %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return st, fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := rename(tmp, path); err != nil {
		return st, fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return st, fmt.Errorf("snapshot: write %s: fsync directory: %w", path, err)
	}
	return st, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = syncFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// CleanTemp removes the temporary files ".<base>.tmp-*" that Writes to path
// killed before their rename left in its directory. It must not run while a
// Write to path is in progress (call it on startup). A missing directory is
// not an error; the first other error is returned after trying every file.
func CleanTemp(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: clean %s: %w", path, err)
	}
	prefix := "." + base + tempInfix
	var first error
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("snapshot: clean %s: %w", path, err)
		}
	}
	return first
}

// fileWriter buffers the file and keeps its size and checksum.
type fileWriter struct {
	bw  *bufio.Writer
	n   int64
	crc uint32
}

func (w *fileWriter) Write(p []byte) (int, error) {
	w.crc = crc32.Update(w.crc, castagnoli, p)
	w.n += int64(len(p))
	return w.bw.Write(p) // bufio errors are sticky and resurface at Flush
}

// writeBody writes the compressed records and end marker of seq to fw.
func writeBody(fw *fileWriter, c Compression, seq iter.Seq[Entry]) (int, error) {
	cw, release, err := newCompressor(c, fw)
	if err != nil {
		return 0, err
	}
	e := encoder{w: cw, buf: make([]byte, 0, batchSize+2*binary.MaxVarintLen64)}
	for ent := range seq {
		if err := e.add(ent); err != nil {
			return e.n, err
		}
	}
	if err := e.finish(); err != nil {
		return e.n, err
	}
	if err := cw.Close(); err != nil {
		return e.n, fmt.Errorf("%s: %w", c, err)
	}
	release()
	return e.n, nil
}

// encoder appends records to a batch and hands full batches to w.
type encoder struct {
	w   io.Writer
	buf []byte
	crc uint32 // over the uncompressed records
	n   int
	err error
}

func (e *encoder) add(ent Entry) error {
	if len(ent.Key) > MaxKeyLen {
		return fmt.Errorf("entry %d: key of %d bytes exceeds %d: %w", e.n, len(ent.Key), MaxKeyLen, driver.ErrInvalidArgument)
	}
	if len(ent.Label) > MaxKeyLen {
		return fmt.Errorf("entry %d (key %.64q): label of %d bytes exceeds %d: %w", e.n, ent.Key, len(ent.Label), MaxKeyLen, driver.ErrInvalidArgument)
	}
	if len(ent.Value) > MaxValueLen {
		return fmt.Errorf("entry %d (key %.64q): value of %d bytes exceeds %d: %w", e.n, ent.Key, len(ent.Value), MaxValueLen, driver.ErrInvalidArgument)
	}
	b := binary.AppendUvarint(e.buf, uint64(len(ent.Key))+1)
	b = append(b, ent.Key...)
	b = binary.AppendUvarint(b, uint64(len(ent.Value)))
	if len(ent.Value) >= directValue {
		e.buf = b
		e.flush()
		e.write(ent.Value)
		b = e.buf
	} else {
		b = append(b, ent.Value...)
	}
	b = binary.AppendUvarint(b, ent.Version)
	b = binary.AppendUvarint(b, uint64(len(ent.Label)))
	b = append(b, ent.Label...)
	e.buf = binary.AppendUvarint(b, ent.ExpireAt)
	e.n++
	if len(e.buf) >= batchSize {
		e.flush()
	}
	return e.err
}

func (e *encoder) finish() error {
	e.flush()
	end := binary.AppendUvarint([]byte{0}, uint64(e.n))
	end = binary.LittleEndian.AppendUint32(end, e.crc)
	if _, err := e.w.Write(end); err != nil && e.err == nil {
		e.err = err
	}
	return e.err
}

func (e *encoder) flush() {
	e.write(e.buf)
	e.buf = e.buf[:0]
}

func (e *encoder) write(p []byte) {
	if e.err != nil || len(p) == 0 {
		return
	}
	e.crc = crc32.Update(e.crc, castagnoli, p)
	_, e.err = e.w.Write(p)
}

var zstdEncoders = sync.Pool{New: func() any {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // static options
	}
	return enc
}}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// newCompressor returns a writer compressing into w, and a function to call
// after a successful Close to recycle it.
func newCompressor(c Compression, w io.Writer) (io.WriteCloser, func(), error) {
	nop := func() {}
	switch c {
	case None:
		return nopCloser{w}, nop, nil
	case Gzip:
		zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		return zw, nop, err
	case Lz4:
		zw := lz4.NewWriter(w)
		err := zw.Apply(lz4.CompressionLevelOption(lz4.Fast), lz4.ChecksumOption(true), lz4.BlockChecksumOption(false), lz4.BlockSizeOption(lz4.Block1Mb))
		return zw, nop, err
	case Zstd:
		enc := zstdEncoders.Get().(*zstd.Encoder)
		enc.Reset(w)
		return enc, func() { enc.Reset(nil); zstdEncoders.Put(enc) }, nil
	}
	return nil, nop, fmt.Errorf("unknown compression %q: %w", c, driver.ErrInvalidArgument)
}
