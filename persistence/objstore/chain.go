package objstore

import (
	"strconv"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// link is one object of a key's chain.
type link struct {
	Object
	seq  uint64
	pred uint64 // 0: a creation
	tomb bool
}

// chain is the listed objects of one key, in ascending name order (seq,
// then pred), with the server's clock at listing time.
type chain struct {
	key        string // decoded key
	links      []link
	serverTime time.Time
}

// valid reports whether links[i] counts (see the package documentation):
// a creation counts when no creation with a higher seq is listed; a
// replacement counts when the object it replaced is listed, with the
// fingerprint it names.
func (c *chain) valid(i int) bool {
	l := &c.links[i]
	if l.pred == 0 {
		for j := i + 1; j < len(c.links); j++ {
			if c.links[j].pred == 0 && c.links[j].seq > l.seq {
				return false
			}
		}
		return true
	}
	for j := i - 1; j >= 0 && c.links[j].seq >= l.seq-1; j-- {
		if p := &c.links[j]; p.seq == l.seq-1 && fingerprint(p.ETag) == l.pred {
			return true
		}
	}
	return false
}

// head returns the index of the current write of the key (the valid link
// with the highest seq), or -1 when no link is valid.
func (c *chain) head() int {
	for i := len(c.links) - 1; i >= 0; i-- {
		if c.valid(i) {
			return i
		}
	}
	return -1
}

// live returns the head when it holds a value.
func (c *chain) live() (int, bool) {
	h := c.head()
	return h, h >= 0 && !c.links[h].tomb
}

// maxSeq is the highest seq listed (0 when the chain is empty).
func (c *chain) maxSeq() uint64 {
	if len(c.links) == 0 {
		return 0
	}
	return c.links[len(c.links)-1].seq
}

// find returns the index of the link named name with entity tag etag, or -1.
func (c *chain) find(name, etag string) int {
	for i := range c.links {
		if c.links[i].Name == name && c.links[i].ETag == etag {
			return i
		}
	}
	return -1
}

// won reports whether the write that created links[i] took effect: it is
// the head, or the head was written on top of it already.
func (c *chain) won(i int) bool {
	if c.head() == i {
		return true
	}
	fp := fingerprint(c.links[i].ETag)
	for j := i + 1; j < len(c.links); j++ {
		if c.links[j].seq == c.links[i].seq+1 && c.links[j].pred == fp {
			return true
		}
	}
	return false
}

// Versions are "<seq>.<pred>.<fingerprint>" in hex: the name of the
// object (seq, pred) and the fingerprint of its entity tag, which is what
// the next write needs to name its object and to check its predecessor.
func versionOf(l *link) driver.Version {
	b := make([]byte, 0, 3*hexDigits+2)
	b = appendHex16(b, l.seq)
	b = append(b, '.')
	b = appendHex16(b, l.pred)
	b = append(b, '.')
	b = appendHex16(b, fingerprint(l.ETag))
	return driver.TagVersion(string(b))
}

// parsedVersion is a version of this store taken apart.
type parsedVersion struct{ seq, pred, fp uint64 }

// parseVersion returns the parts of a version of this store.
func parseVersion(v driver.Version) (parsedVersion, bool) {
	t := v.Tag()
	if len(t) != 3*hexDigits+2 || t[hexDigits] != '.' || t[2*hexDigits+1] != '.' {
		return parsedVersion{}, false
	}
	seq, err1 := strconv.ParseUint(t[:hexDigits], 16, 64)
	pred, err2 := strconv.ParseUint(t[hexDigits+1:2*hexDigits+1], 16, 64)
	fp, err3 := strconv.ParseUint(t[2*hexDigits+2:], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || seq == 0 || seq == ^uint64(0) {
		return parsedVersion{}, false
	}
	return parsedVersion{seq, pred, fp}, true
}
