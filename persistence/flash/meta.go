package flash

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Metadata kept in every path (engine keys 'm' + name):
//
//	id     the path's identity, random, written when the path is first used;
//	       a directory wiped or replaced gets a new one;
//	state  the membership record: an epoch, whether the store was closed
//	       cleanly, and the ids of the paths that were in sync at that
//	       epoch. Written, synced, to every in-sync path on each membership
//	       change (a path failing or rejoining), on open and on close;
//	hwm    the version high-water mark: no version above it has been
//	       handed out. Raised (synced, on a quorum) before versions above
//	       it are used, so a restart continues above every stored version.
var (
	metaID    = []byte{metaPrefix, 'i', 'd'}
	metaState = []byte{metaPrefix, 's', 't', 'a', 't', 'e'}
	metaHWM   = []byte{metaPrefix, 'h', 'w', 'm'}
)

// membership is the content of a state record.
type membership struct {
	epoch   uint64
	clean   bool
	members []string // path ids
}

func (m membership) has(id string) bool {
	for _, x := range m.members {
		if x == id {
			return true
		}
	}
	return false
}

func encodeMembership(m membership) []byte {
	b := binary.AppendUvarint(nil, m.epoch)
	if m.clean {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(m.members)))
	for _, id := range m.members {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

var errBadMeta = fmt.Errorf("flash: unreadable membership record: %w", driver.ErrCorrupt)

func decodeMembership(b []byte) (membership, error) {
	var m membership
	e, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return m, errBadMeta
	}
	m.epoch, m.clean, b = e, b[n] == 1, b[n+1:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > 1024 {
		return m, errBadMeta
	}
	b = b[n:]
	for i := uint64(0); i < cnt; i++ {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return m, errBadMeta
		}
		m.members = append(m.members, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	return m, nil
}

func newPathID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pathState is what a path's metadata says when it is opened.
type pathState struct {
	id  string
	m   membership
	has bool // a state record exists
	hwm uint64
}

func getCopy(db *pebble.DB, key []byte) ([]byte, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, true, nil
}

func readPathState(db *pebble.DB) (pathState, error) {
	var st pathState
	id, ok, err := getCopy(db, metaID)
	if err != nil {
		return st, err
	}
	if ok {
		st.id = string(id)
	}
	raw, ok, err := getCopy(db, metaState)
	if err != nil {
		return st, err
	}
	if ok {
		if st.m, err = decodeMembership(raw); err != nil {
			return st, err
		}
		st.has = true
	}
	h, ok, err := getCopy(db, metaHWM)
	if err != nil {
		return st, err
	}
	if ok {
		if len(h) != 8 {
			return st, errBadMeta
		}
		st.hwm = binary.BigEndian.Uint64(h)
	}
	return st, nil
}

func encodeHWM(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
