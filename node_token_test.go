package orbit_test

import (
	"strings"
	"testing"

	"github.com/orbit-go/orbit"
)

// A stored token is a digest; the clear token matches it, the digest itself
// does not (a leaked backup is not a credential), and legacy clear records
// still match their token.
func TestChallengeTokenHashing(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	stored := orbit.HashChallengeToken(token)
	if !strings.HasPrefix(stored, "sha256:") || strings.Contains(stored, token) {
		t.Fatalf("stored form %q", stored)
	}
	if again := orbit.HashChallengeToken(stored); again != stored {
		t.Fatalf("hashing is not idempotent: %q -> %q", stored, again)
	}
	hashed := orbit.NodeLease{ChallengeToken: stored}
	for _, tc := range []struct {
		presented string
		want      bool
	}{{token, true}, {stored, false}, {"", false}, {token + "x", false}} {
		if got := hashed.TokenMatches(tc.presented); got != tc.want {
			t.Errorf("hashed lease: TokenMatches(%q) = %v, want %v", tc.presented, got, tc.want)
		}
	}
	legacy := orbit.NodeLease{ChallengeToken: token}
	if !legacy.TokenMatches(token) || legacy.TokenMatches(stored) || legacy.TokenMatches("other") {
		t.Error("legacy clear record: wrong match")
	}
	if (orbit.NodeLease{}).TokenMatches("") {
		t.Error("empty token matched an empty lease")
	}
}
