package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// wrap classifies err (from operation op on the driver key key) into a
// portable sentinel and adds the server address and the key. The result
// also wraps err, so that errors.Is sees context.DeadlineExceeded. Redis
// replies and network errors carry no credentials; the address is rendered
// without userinfo.
func (s *Store) wrap(op, key string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("redis %s: %s %q: %w", s.addr, op, key, driver.ErrClosed)
	}
	hint := ""
	if re, ok := rueidis.IsRedisErr(err); ok {
		switch prefixWord(re.Error()) {
		case "NOPERM", "NOAUTH", "WRONGPASS":
			hint = " (check the Redis credentials and the ACL user's rights: see docs/redis.md, \"ACL\")"
		case "CROSSSLOT":
			hint = " (keys of one operation must share a hash tag)"
		}
	}
	return fmt.Errorf("redis %s: %s %q: %w%s: %w", s.addr, op, key, err, hint, classify(err))
}

func prefixWord(msg string) string {
	if i := strings.IndexByte(msg, ' '); i > 0 {
		return msg[:i]
	}
	return msg
}

// classify maps an error of the Redis client to a portable sentinel:
//
//   - OOM (maxmemory reached with noeviction) → ErrCapacity;
//   - CROSSSLOT, wrong type, a script error in the arguments → ErrInvalidArgument;
//   - everything else (connection errors, timeouts, LOADING, BUSY,
//     CLUSTERDOWN, TRYAGAIN, MOVED without a reachable owner, NOAUTH,
//     NOPERM, READONLY replicas) → ErrUnavailable: the request did not
//     succeed and retrying, or fixing the server, may help.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, rueidis.ErrClosing) {
		return driver.ErrUnavailable
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		switch prefixWord(re.Error()) {
		case "OOM":
			return driver.ErrCapacity
		case "CROSSSLOT", "WRONGTYPE":
			return driver.ErrInvalidArgument
		}
	}
	return driver.ErrUnavailable
}

// retryable reports whether a read that failed with err may succeed when
// sent again: connection errors, timeouts of the request (not of the
// caller's context) and transient server states.
func retryable(err error) bool {
	if rueidis.IsRedisNil(err) || errors.Is(err, context.Canceled) || errors.Is(err, driver.ErrCorrupt) {
		return false
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		return re.IsLoading() || re.IsTryAgain() || re.IsClusterDown() || prefixWord(re.Error()) == "BUSY" || prefixWord(re.Error()) == "MASTERDOWN"
	}
	return true
}

// redactErr renders err without the password, should a library ever put
// it in a message.
func redactErr(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "[REDACTED]")
	}
	return msg
}

// brokenConn reports whether err says the connection broke under the
// request (the peer closed or reset it), as opposed to a timeout or a
// refused dial.
func brokenConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
