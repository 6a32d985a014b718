package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/orbit-go/orbit/persistence/config"
)

// Tokens is a set of bearer token digests (config.TokenDigest: a name and
// the SHA-256 of the token). The tokens themselves are never held.
type Tokens struct {
	digests []config.TokenDigest
}

// NewTokens returns the set of ds.
func NewTokens(ds []config.TokenDigest) *Tokens {
	return &Tokens{digests: append([]config.TokenDigest(nil), ds...)}
}

// Len is the number of digests.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.digests)
}

// Match returns the name of the token whose digest is the SHA-256 of
// presented. Every digest is compared, in constant time (crypto/subtle),
// so the time taken tells nothing about which one nearly matched.
func (t *Tokens) Match(presented string) (name string, ok bool) {
	if t == nil || presented == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(presented))
	for _, d := range t.digests {
		if subtle.ConstantTimeCompare(sum[:], d.Sum[:]) == 1 && !ok {
			name, ok = d.Name, true
		}
	}
	return name, ok
}

// NewToken returns a new random bearer token: 32 bytes from crypto/rand,
// base64url without padding (43 characters).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DigestLine is the configuration entry of token named name:
// NAME:sha256:HEX.
func DigestLine(name, token string) string {
	sum := sha256.Sum256([]byte(token))
	return name + ":sha256:" + hex.EncodeToString(sum[:])
}

// LoadTokenFile reads a file of NAME:sha256:HEX lines; blank lines and
// lines starting with '#' are skipped. An error names the file and the
// line, never the line's content (it may be a token in clear).
func LoadTokenFile(path string) ([]config.TokenDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	var out []config.TokenDigest
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, err := config.ParseTokenDigest(line)
		if err != nil {
			return nil, fmt.Errorf("token file %s:%d: %w", path, n, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return out, nil
}
