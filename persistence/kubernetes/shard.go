package kubernetes

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Entry formats (the first byte of a binaryData value).
const (
	formatPlain   = 1 // seq (uvarint), value; the key is the data key
	formatWithKey = 2 // seq (uvarint), key length (uvarint), key, value
)

// maxConfigMapKey is the longest ConfigMap data key.
const maxConfigMapKey = 253

var errCorruptEntry = errors.New("undecodable entry")

// dataKey returns the binaryData key of a driver key: "k" + unpadded
// base64url of the key when that fits in a ConfigMap key (keys of up to 188
// bytes), else "h" + hex SHA-256 (the key is then stored in the value).
func dataKey(key string) (dk string, hashed bool) {
	if 1+base64.RawURLEncoding.EncodedLen(len(key)) <= maxConfigMapKey {
		return "k" + base64.RawURLEncoding.EncodeToString([]byte(key)), false
	}
	sum := sha256.Sum256([]byte(key))
	return "h" + hex.EncodeToString(sum[:]), true
}

// encodeEntry returns the binaryData value of a key written at seq.
func encodeEntry(seq uint64, key string, hashed bool, value []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(value)+len(key))
	if hashed {
		b = append(b, formatWithKey)
		b = binary.AppendUvarint(b, seq)
		b = binary.AppendUvarint(b, uint64(len(key)))
		b = append(b, key...)
	} else {
		b = append(b, formatPlain)
		b = binary.AppendUvarint(b, seq)
	}
	return append(b, value...)
}

// decodeEntry splits a binaryData value into its version, its key ("" for
// the plain format) and its value (aliasing b).
func decodeEntry(b []byte) (seq uint64, key string, value []byte, err error) {
	if len(b) == 0 {
		return 0, "", nil, errCorruptEntry
	}
	format := b[0]
	seq, n := binary.Uvarint(b[1:])
	if n <= 0 || seq == 0 {
		return 0, "", nil, errCorruptEntry
	}
	rest := b[1+n:]
	switch format {
	case formatPlain:
		return seq, "", rest, nil
	case formatWithKey:
		kl, m := binary.Uvarint(rest)
		if m <= 0 || kl > uint64(len(rest)-m) {
			return 0, "", nil, errCorruptEntry
		}
		return seq, string(rest[m : m+int(kl)]), rest[m+int(kl):], nil
	}
	return 0, "", nil, errCorruptEntry
}

// shard is one ConfigMap and the writes queued for it.
type shard struct {
	name string

	mu    sync.Mutex
	state *shardState // last state seen (nil = unknown)
	queue []*writeOp
	busy  bool // a goroutine is applying the queue
}

// shardState is one observed state of a shard; immutable once built.
type shardState struct {
	cm  *corev1.ConfigMap // nil: the shard does not exist
	seq uint64            // the shard's write counter

	once    sync.Once
	entries []driver.Entry // every key, sorted (built by sorted)
	err     error
}

// newShardState wraps a ConfigMap read from or written to the API server
// (nil = absent) and checks that it is a shard of this store.
func (s *Store) newShardState(cm *corev1.ConfigMap) (*shardState, error) {
	if cm == nil {
		return &shardState{}, nil
	}
	if n := cm.Annotations[AnnotationShards]; n != strconv.Itoa(len(s.shards)) {
		return nil, fmt.Errorf("kubernetes %s: configmap %s was written with %s = %q, this server is configured with shards = %d;"+
			" every server must use the same shard count: %w", s.where, cm.Name, AnnotationShards, n, len(s.shards), driver.ErrInvalidArgument)
	}
	st := &shardState{cm: cm}
	if v := cm.Annotations[AnnotationSeq]; v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("kubernetes %s: configmap %s: annotation %s = %q: %w", s.where, cm.Name, AnnotationSeq, v, driver.ErrCorrupt)
		}
		st.seq = seq
	}
	return st, nil
}

func (st *shardState) exists() bool { return st.cm != nil }

func (st *shardState) rv() string {
	if st.cm == nil {
		return ""
	}
	return st.cm.ResourceVersion
}

// lookup returns the version and value of key in the shard.
func (st *shardState) lookup(key string) (seq uint64, value []byte, ok bool, err error) {
	if st.cm == nil {
		return 0, nil, false, nil
	}
	dk, _ := dataKey(key)
	return lookupIn(st.cm.BinaryData, dk)
}

func lookupIn(data map[string][]byte, dk string) (seq uint64, value []byte, ok bool, err error) {
	b, ok := data[dk]
	if !ok {
		return 0, nil, false, nil
	}
	seq, _, value, err = decodeEntry(b)
	if err != nil {
		return 0, nil, false, fmt.Errorf("data key %s: %w: %w", dk, err, driver.ErrCorrupt)
	}
	return seq, value, true, nil
}

// sorted returns every entry of the shard in key order (decoded once).
func (st *shardState) sorted() ([]driver.Entry, error) {
	st.once.Do(func() {
		if st.cm == nil {
			return
		}
		es := make([]driver.Entry, 0, len(st.cm.BinaryData))
		for dk, b := range st.cm.BinaryData {
			seq, key, value, err := decodeEntry(b)
			if err == nil && key == "" {
				var raw []byte
				if !strings.HasPrefix(dk, "k") {
					err = errCorruptEntry
				} else if raw, err = base64.RawURLEncoding.DecodeString(dk[1:]); err == nil {
					key = string(raw)
				}
			}
			if err != nil {
				st.err = fmt.Errorf("configmap %s: data key %s: %w: %w", st.cm.Name, dk, errCorruptEntry, driver.ErrCorrupt)
				return
			}
			es = append(es, driver.Entry{Key: key, Value: value, Version: driver.NumVersion(seq)})
		}
		slices.SortFunc(es, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
		st.entries = es
	})
	return st.entries, st.err
}

// shardFor returns the shard of key (FNV-1a 32 modulo the shard count).
func (s *Store) shardFor(key string) *shard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return s.shards[h.Sum32()%uint32(len(s.shards))]
}

// observe records st as sh's state unless the state known is newer.
func (sh *shard) observe(st *shardState) {
	sh.mu.Lock()
	if sh.state == nil || st.rv() == "" || newer(st.rv(), sh.state.rv()) {
		sh.state = st
	}
	sh.mu.Unlock()
}

// cached returns the state last seen (nil = unknown).
func (sh *shard) cached() *shardState {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.state
}

// forget drops the cached state (after an error with an unknown outcome).
func (sh *shard) forget() {
	sh.mu.Lock()
	sh.state = nil
	sh.mu.Unlock()
}

// initialSeq is the counter of a new shard: the current time in
// microseconds, so that a shard deleted by hand and created again starts
// above every version it handed out before (a shard would need a million
// writes per second to catch up with the clock).
func initialSeq() uint64 { return uint64(time.Now().UnixMicro()) }

// labelValue returns the value of LabelStore for a ConfigMap name prefix:
// the name when it is a valid label value (at most 63 characters), else
// "h-" and 40 hex digits of its SHA-256.
func labelValue(name string) string {
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "h-" + hex.EncodeToString(sum[:20])
}
