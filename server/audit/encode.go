package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends e as one JSON object and a newline. Field order is
// fixed: time, log (always "audit": it tells the line from the server's
// own JSON logs on a shared stderr), event, outcome, code, reason, identity, peer, namespace,
// reference, node, incarnation, previous_node, epoch_before, epoch_after,
// from, to, count; zero fields other than time, event, outcome and
// identity are left out. incarnation is a decimal string (a random 64-bit
// number); epochs and count are JSON numbers.
func appendJSON(b []byte, e *Event) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","log":"audit"`...)
	b = appendStr(b, "event", string(e.Kind), true)
	b = appendStr(b, "outcome", string(e.Outcome), true)
	b = appendStr(b, "code", e.Code, false)
	b = appendStr(b, "reason", e.Reason, false)
	b = appendStr(b, "identity", e.Identity, true)
	b = appendStr(b, "peer", e.Peer, false)
	b = appendStr(b, "namespace", e.Namespace, false)
	b = appendStr(b, "reference", e.Reference, false)
	b = appendStr(b, "node", e.Node, false)
	if e.Incarnation != 0 {
		// A random 64-bit number: a string, as protojson writes it, so
		// that readers decoding numbers as float64 do not round it.
		b = append(b, `,"incarnation":"`...)
		b = strconv.AppendUint(b, e.Incarnation, 10)
		b = append(b, '"')
	}
	b = appendStr(b, "previous_node", e.PreviousNode, false)
	b = appendUint(b, "epoch_before", e.EpochBefore)
	b = appendUint(b, "epoch_after", e.EpochAfter)
	b = appendStr(b, "from", e.From, false)
	b = appendStr(b, "to", e.To, false)
	if e.Count != 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, e.Count, 10)
	}
	return append(b, "}\n"...)
}

func appendStr(b []byte, key, v string, always bool) []byte {
	if v == "" && !always {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return appendQuoted(b, v)
}

func appendUint(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendUint(b, v, 10)
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string: quotes, backslashes and control
// characters escaped, '<', '>', '&', U+2028 and U+2029 escaped as
// encoding/json does, invalid UTF-8 replaced by U+FFFD.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
