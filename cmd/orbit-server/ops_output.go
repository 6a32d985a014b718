package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbit-go/orbit"
)

// The JSON forms of the operator commands. Field names are stable (a
// contract of docs/cli.md): fields may be added, never renamed or removed.
// Times are RFC 3339 in UTC. No secret (a node's challenge token) has a
// field.

// nodeJSON is one node of `nodes list` and `nodes get`.
type nodeJSON struct {
	Namespace        string            `json:"namespace"`
	Key              string            `json:"key"`
	URL              string            `json:"url"`
	Status           string            `json:"status"`
	AddressableTypes []string          `json:"addressable_types"`
	MaxAddressables  int               `json:"max_addressables"`
	Tags             map[string]string `json:"tags"`
	ExpiresAt        time.Time         `json:"expires_at"`
	Incarnation      uint64            `json:"incarnation"`
	Owner            string            `json:"owner"`
}

func nodeToJSON(n orbit.NodeInfo) nodeJSON {
	types := n.Capabilities.AddressableTypes
	if types == nil {
		types = []string{}
	}
	tags := n.Capabilities.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return nodeJSON{
		Namespace: n.ID.Namespace, Key: n.ID.Key, URL: n.URL, Status: n.Status.String(),
		AddressableTypes: types, MaxAddressables: n.Capabilities.MaxAddressables, Tags: tags,
		ExpiresAt: n.Lease.ExpiresAt.UTC(), Incarnation: n.Lease.Incarnation, Owner: n.Owner,
	}
}

// leaseJSON is one addressable lease of `leases list`, `leases get` and
// `locate` (which adds "placed").
type leaseJSON struct {
	Namespace       string    `json:"namespace"`
	Type            string    `json:"type"`
	Key             string    `json:"key"`
	KeyKind         string    `json:"key_kind"`
	Node            string    `json:"node"`
	NodeURL         string    `json:"node_url"`
	Epoch           uint64    `json:"epoch"`
	NodeIncarnation uint64    `json:"node_incarnation"`
	CreatedAt       time.Time `json:"created_at"`
	RenewAt         time.Time `json:"renew_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	Placed          *bool     `json:"placed,omitempty"`
}

func leaseToJSON(l orbit.AddressableLease) leaseJSON {
	key, kind := keyParts(l.Reference.Key)
	return leaseJSON{
		Namespace: l.Reference.Namespace, Type: l.Reference.Type, Key: key, KeyKind: kind,
		Node: l.Node.Key, NodeURL: l.NodeURL, Epoch: l.Epoch, NodeIncarnation: l.NodeIncarnation,
		CreatedAt: l.CreatedAt.UTC(), RenewAt: l.RenewAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(),
	}
}

// keyParts renders a key as its value ("" for none) and its kind, the
// values of --key-kind.
func keyParts(k orbit.AddressableKey) (value, kind string) {
	switch k.Kind() {
	case orbit.KeyString:
		return k.StringValue(), "string"
	case orbit.KeyInt32:
		return strconv.FormatInt(k.IntValue(), 10), "int32"
	case orbit.KeyInt64:
		return strconv.FormatInt(k.IntValue(), 10), "int64"
	}
	return "", "none"
}

// refArg renders a reference the way the commands take it: TYPE/KEY for a
// string key, TYPE/i32:N or TYPE/i64:N for integer keys, TYPE for none.
func refArg(r orbit.AddressableReference) string {
	switch r.Key.Kind() {
	case orbit.KeyString:
		return r.Type + "/" + r.Key.StringValue()
	case orbit.KeyNone:
		return r.Type
	}
	return r.Type + "/" + r.Key.String()
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cell makes a table cell of s: "-" when empty, control characters
// (which would break the columns) shown as '?'.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// expiresIn renders the time left until t at now: to a tenth of a second
// below 10 s, to the second above.
func expiresIn(t, now time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired"
	}
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// writeNodesTable prints nodes, one row each, under a header.
func writeNodesTable(w io.Writer, nodes []orbit.NodeInfo, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAMESPACE\tKEY\tSTATUS\tURL\tTYPES\tEXPIRES_IN\tINCARNATION\tOWNER")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", cell(n.ID.Namespace), cell(n.ID.Key), n.Status,
			cell(n.URL), cell(strings.Join(n.Capabilities.AddressableTypes, ",")), expiresIn(n.Lease.ExpiresAt, now),
			n.Lease.Incarnation, cell(n.Owner))
	}
	return tw.Flush()
}

// writeLeasesTable prints leases, one row each, under a header; placed,
// when not nil, adds the PLACED column (locate).
func writeLeasesTable(w io.Writer, leases []orbit.AddressableLease, placed []bool, now time.Time) error {
	tw := newTable(w)
	header := "NAMESPACE\tADDRESSABLE\tNODE\tNODE_URL\tEPOCH\tEXPIRES_IN"
	if placed != nil {
		header += "\tPLACED"
	}
	fmt.Fprintln(tw, header)
	for i, l := range leases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s", cell(l.Reference.Namespace), cell(refArg(l.Reference)),
			cell(l.Node.Key), cell(l.NodeURL), l.Epoch, expiresIn(l.ExpiresAt, now))
		if placed != nil {
			fmt.Fprintf(tw, "\t%s", yesNo(placed[i]))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
