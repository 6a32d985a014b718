package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ioTimeout bounds every dial and every command of a Conn.
const ioTimeout = 10 * time.Second

// ReplyError is an error reply of the server ("-NOAUTH ...", "-MOVED ...",
// "-NOPERM ..."): the text after the "-", whose first word is the error
// code.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// Code returns the first word of the error reply ("ERR", "NOAUTH", "MOVED", ...).
func (e ReplyError) Code() string {
	code, _, _ := strings.Cut(string(e), " ")
	return code
}

// Conn is a minimal RESP2 connection for tests: it sends commands as
// arrays of bulk strings and reads one reply per command. Each command is
// bounded by a 10 s deadline. A Conn is not safe for concurrent use.
type Conn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr over network ("tcp" or "unix") without
// authenticating, over TLS when cfg is not nil, and closes the connection
// at cleanup. A TLS 1.3 server that rejects the client certificate, or a
// TLS server reached in plain text, is only noticed by the first Do.
func Dial(t testing.TB, network, addr string, cfg *tls.Config) (*Conn, error) {
	t.Helper()
	c, err := dial(network, addr, cfg, ioTimeout)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

func dial(network, addr string, cfg *tls.Config, timeout time.Duration) (*Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var (
		c   net.Conn
		err error
	)
	if cfg != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: cfg}).Dial(network, addr)
	} else {
		c, err = d.Dial(network, addr)
	}
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Do sends one command and returns its reply as text (see Server.Do for
// the rendering). An error reply is returned as a ReplyError; any other
// error means the connection is unusable.
func (c *Conn) Do(args ...string) (string, error) {
	v, err := c.do(args...)
	if err != nil {
		return "", err
	}
	return render(v), nil
}

// do sends one command and returns the reply: string (simple or bulk),
// int64, []any, nil (null), or a ReplyError as the error.
func (c *Conn) do(args ...string) (any, error) {
	if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *Conn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("redistest: malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redistest: bad bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redistest: bad array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := c.read()
			var re ReplyError
			if errors.As(err, &re) { // an error inside an array (EXEC): keep reading
				out[i] = re
				continue
			}
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unexpected reply type %q", kind)
}

// render turns a reply into text: strings as they are, integers in
// decimal, null as "(nil)", arrays as their elements' renderings joined by
// newlines (nested arrays flattened).
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return "(nil)"
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case ReplyError:
		return "-" + string(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = render(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprint(v)
}
