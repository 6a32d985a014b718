// Package orbit is the vocabulary that every part of Orbit speaks: node and
// addressable identities, leases, page requests, and the portable errors.
//
// It is a leaf: it imports only the standard library, so the Go client, the
// API conversions, the server and the persistence layer can share these
// types without pulling each other in. Package persistence re-exports them
// under the same names (type aliases), so storage code may keep writing
// persistence.NodeID; code that talks to a server should import this package.
//
// Every error returned for bad input wraps ErrInvalidArgument and names the
// field it concerns; every other failure wraps one of the portable sentinels
// (ErrNotFound, ErrConflict, ErrFenced, ...), tested with errors.Is whatever
// backend or transport produced it.
package orbit
