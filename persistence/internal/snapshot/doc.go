// Package snapshot writes and reads the single backup file of Orbit's Memory
// provider: a compressed, checksummed list of entries (key, value, version),
// replaced atomically on every sync and restored on startup. It knows nothing
// of leases.
//
// # Writing
//
// [Write] streams the entries of an iter.Seq into a temporary file
// ".<base>.tmp-<random>" in the target's directory, fsyncs it, renames it over
// the target and fsyncs the directory. A reader therefore sees either the old
// snapshot or the new one, never a mix, even if the writer is killed at any
// moment. Temporary files left behind by a killed writer are ignored by [Read]
// and removed by [CleanTemp].
//
// # Reading
//
// [Read] first checks the header, the trailer and the checksum of the whole
// file, and only then decodes the body and hands the entries to its callback.
// Any damage (truncation at any offset, a flipped byte, a foreign file, an
// unknown format version) is reported as an error wrapping [ErrCorrupt] that
// names the path and the problem; Read never silently returns fewer entries.
//
// # File format, version 2
//
// All fixed-width integers are little-endian. The file is a header, a body
// and a trailer:
//
//	header (16 bytes, never compressed)
//	   0  8  magic "ORBITSNP"
//	   8  2  format version (uint16) = 2 (Read also reads 1)
//	  10  1  compression: 0 None, 1 Gzip, 2 Lz4, 3 Zstd
//	  11  1  flags, must be 0
//	  12  4  reserved, must be 0
//
//	body (variable): ONE stream of the named compression (a gzip member, an
//	LZ4 frame with content checksum, a zstd frame with checksum; None: the
//	bytes as they are) whose uncompressed content is exactly
//	   record*   uvarint(len(key)+1) key uvarint(len(value)) value uvarint(version)
//	             uvarint(len(label)) label uvarint(expire-at)
//	   end       0x00 uvarint(entry count) crc32c(4 bytes)
//	where expire-at is the Unix second the entry is filed to expire at (0 =
//	never; version 1 records end after the label) and crc32c (Castagnoli) covers every uncompressed byte before the end
//	marker. Nothing may follow the end marker in the uncompressed stream.
//
//	trailer (32 bytes, never compressed)
//	   0  8  body length in bytes (uint64)
//	   8  8  entry count (uint64)
//	  16  4  crc32c of the header and the body, as stored (file bytes [0, 16+body length))
//	  20  4  crc32c of trailer bytes [0, 20)
//	  24  8  magic "ORBITEND"
//
// The trailer makes any truncation visible at once (its magic, its own
// checksum and the body length must agree with the file size) and its file
// checksum covers every stored byte, including the parts of a compression
// stream that do not affect the output. The end marker and its checksum over
// the uncompressed records guard the decoding itself, independently of the
// trailer. Keys are at most [MaxKeyLen] bytes and values at most
// [MaxValueLen].
package snapshot
