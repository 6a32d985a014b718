package persistence

import "github.com/orbit-go/orbit"

// The domain vocabulary lives in package orbit (a leaf that the client and
// the API share); these aliases keep storage code and its callers writing
// persistence.NodeID and so on. See package orbit for the contracts.
type (
	NodeID               = orbit.NodeID
	NodeStatus           = orbit.NodeStatus
	NodeCapabilities     = orbit.NodeCapabilities
	NodeLease            = orbit.NodeLease
	NodeInfo             = orbit.NodeInfo
	KeyKind              = orbit.KeyKind
	AddressableKey       = orbit.AddressableKey
	AddressableReference = orbit.AddressableReference
	AddressableLease     = orbit.AddressableLease
	PageRequest          = orbit.PageRequest
	LeasePage            = orbit.LeasePage
	LeaseConflictError   = orbit.LeaseConflictError
	BulkError            = orbit.BulkError
)

// Node states, limits and page sizes of package orbit.
const (
	NodeStarting = orbit.NodeStarting
	NodeActive   = orbit.NodeActive
	NodeDraining = orbit.NodeDraining
	NodeStopped  = orbit.NodeStopped

	KeyNone   = orbit.KeyNone
	KeyString = orbit.KeyString
	KeyInt32  = orbit.KeyInt32
	KeyInt64  = orbit.KeyInt64

	MaxNamespaceLen = orbit.MaxNamespaceLen
	MaxTypeLen      = orbit.MaxTypeLen
	MaxKeyLen       = orbit.MaxKeyLen
	MaxURLLen       = orbit.MaxURLLen
	MaxTags         = orbit.MaxTags

	DefaultPageSize = orbit.DefaultPageSize
	MaxPageSize     = orbit.MaxPageSize
)

// NoKey, StringKey, Int32Key and Int64Key build keys (see package orbit).
func NoKey() AddressableKey             { return orbit.NoKey() }
func StringKey(s string) AddressableKey { return orbit.StringKey(s) }
func Int32Key(n int32) AddressableKey   { return orbit.Int32Key(n) }
func Int64Key(n int64) AddressableKey   { return orbit.Int64Key(n) }

// HashChallengeToken is the stored form of a node's challenge token (see
// orbit.HashChallengeToken).
func HashChallengeToken(token string) string { return orbit.HashChallengeToken(token) }

// ParseNodeID parses the text form produced by NodeID.String.
func ParseNodeID(s string) (NodeID, error) { return orbit.ParseNodeID(s) }

// ParseNodeStatus parses "starting", "active", "draining" or "stopped".
func ParseNodeStatus(s string) (NodeStatus, error) { return orbit.ParseNodeStatus(s) }

// ParseAddressableKey parses the form produced by AddressableKey.String.
func ParseAddressableKey(s string) (AddressableKey, error) { return orbit.ParseAddressableKey(s) }

// checkIdent validates one identifier (see orbit.ValidateIdentifier).
func checkIdent(field, s string, max int) error { return orbit.ValidateIdentifier(field, s, max) }
