package orbit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// hashedTokenPrefix marks a challenge token stored as its SHA-256 digest.
const hashedTokenPrefix = "sha256:"

// HashChallengeToken returns the form in which directories store a node's
// challenge token: "sha256:" and the hex SHA-256 of the token. A token that
// is already in that form is returned unchanged, so hashing is idempotent
// (a node copied between directories keeps its token). The token is a
// random 128-bit secret drawn by the server, so an unsalted fast hash is
// enough: nothing can be guessed from the digest.
func HashChallengeToken(token string) string {
	if token == "" || IsHashedChallengeToken(token) {
		return token
	}
	return hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashedTokenPrefix + hex.EncodeToString(sum[:])
}

// IsHashedChallengeToken reports whether t is in the stored (hashed) form.
func IsHashedChallengeToken(t string) bool {
	if !strings.HasPrefix(t, hashedTokenPrefix) || len(t) != len(hashedTokenPrefix)+2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(t[len(hashedTokenPrefix):])
	return err == nil
}

// TokenMatches reports, in constant time, whether presented is the token
// of the lease. The lease holds the stored form (hashed, or in clear for
// records written before tokens were hashed); presented is the clear token
// the node sends: it is always hashed before the comparison, so knowing
// the stored digest (from a backup, say) is not enough to act as the node.
// An empty token never matches.
func (l NodeLease) TokenMatches(presented string) bool {
	if presented == "" || l.ChallengeToken == "" {
		return false
	}
	stored := l.ChallengeToken
	if IsHashedChallengeToken(stored) {
		presented = hashToken(presented)
	}
	return subtle.ConstantTimeCompare([]byte(stored), []byte(presented)) == 1
}
