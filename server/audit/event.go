// Package audit is the Orbit server's audit log: one structured JSON line
// per state-changing operation (a join, a placement, a takeover, a refused
// renewal...), naming who did it (identity and peer address), on what
// (namespace, reference, node), the epochs before and after and the
// outcome.
//
// Events are recorded without blocking the caller: Record puts them in a
// bounded queue that one goroutine encodes and writes to the sink (stderr,
// or a file rotated by lumberjack). When the queue is full the event is
// dropped and counted (orbit_server_audit_events_dropped_total), and the
// next line written is an "audit.dropped" event carrying the count, so a
// gap in the log is visible in the log itself. Close writes what is queued
// and closes the file.
//
// Successful renewals are not events: the server counts them in a metric.
package audit

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind names what happened; it is the "event" field of a line.
type Kind string

// Event kinds. The node and addressable kinds are recorded by the server;
// the administrative and composite kinds are for the code that performs
// those operations (a migration command, an administrative API, the
// composite provider's failover hook), through an Auditor.
const (
	// NodeJoin: a node joined (Node, Incarnation of the new incarnation).
	NodeJoin Kind = "node.join"
	// NodeLeave: a node left (Count: the leases it released).
	NodeLeave Kind = "node.leave"
	// NodeRenewRefused: a node lease renewal was refused (wrong token,
	// unknown or lapsed node). Successful renewals are only counted.
	NodeRenewRefused Kind = "node.renew"
	// Place: an addressable was placed where it had no lease
	// (EpochAfter: the new epoch).
	Place Kind = "addressable.place"
	// Takeover: an addressable was taken over from a holder that is gone
	// (PreviousNode and EpochBefore: the previous holder and its epoch).
	Takeover Kind = "addressable.takeover"
	// Abandon: a holder released an addressable (EpochBefore: the epoch
	// it released).
	Abandon Kind = "addressable.abandon"
	// RenewRefused: an addressable lease renewal was refused (wrong
	// token, stale epoch, another holder).
	RenewRefused Kind = "addressable.renew"
	// AdminRemove: an administrator removed a node or a lease.
	AdminRemove Kind = "admin.remove"
	// Migration: leases were copied from one provider to another
	// (From, To: provider names; Count: leases copied).
	Migration Kind = "admin.migrate"
	// Failover: a composite provider switched from its primary to a
	// secondary (From, To: child names).
	Failover Kind = "composite.failover"
	// Failback: a composite provider returned to its primary.
	Failback Kind = "composite.failback"
	// Dropped: the queue was full and Count events were not recorded.
	Dropped Kind = "audit.dropped"
)

// Outcome is how an operation ended.
type Outcome string

// Outcomes.
const (
	// OK: the operation was done.
	OK Outcome = "ok"
	// Refused: the request was refused for what it asked (bad input, a
	// wrong token, a stale epoch, a conflict, no permission).
	Refused Outcome = "refused"
	// Failed: the server could not do it (backend error, timeout).
	Failed Outcome = "failed"
)

// Event is one audit record. Zero fields are left out of the line.
type Event struct {
	// Time of the operation; Record sets it from its clock when zero.
	Time time.Time
	// Kind of operation.
	Kind Kind
	// Outcome, with Code and Reason for a refusal or a failure.
	Outcome Outcome
	// Code is the gRPC status code name of a refusal or failure.
	Code string
	// Reason is the status message of a refusal or failure (why, for a
	// composite switch); it never holds a credential (the server's
	// messages never do).
	Reason string
	// Identity is the caller (auth.Identity.String(): "certificate:NAME",
	// "token:NAME" or "anonymous"); Record sets it from the context when
	// empty, with Peer.
	Identity string
	// Peer is the caller's network address.
	Peer string
	// Namespace of the node or the addressable.
	Namespace string
	// Reference is the addressable ("namespace/type/key"), for addressable
	// events.
	Reference string
	// Node is the key of the node concerned: the joiner, the holder, the
	// new holder of a takeover.
	Node string
	// Incarnation of Node when known (the new incarnation of a join, the
	// holder's of a placement).
	Incarnation uint64
	// PreviousNode is the holder a takeover took the addressable from.
	PreviousNode string
	// EpochBefore is the lease's epoch before the operation (0: none).
	EpochBefore uint64
	// EpochAfter is the lease's epoch after it (0: none, e.g. released).
	EpochAfter uint64
	// From and To name providers (migration) or composite children
	// (failover, failback).
	From, To string
	// Count: leases released on leave, copied by a migration, events
	// dropped; the switch generation of a composite switch.
	Count int64
}

// Auditor records events. Record must not block on I/O and must be safe
// for concurrent use; ctx supplies the caller's identity when the event
// names none.
type Auditor interface {
	Record(ctx context.Context, e Event)
}

// Discard is an Auditor that records nothing.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, Event) {}

// OutcomeOf classifies err: nil is OK; a status the caller caused
// (InvalidArgument, NotFound, AlreadyExists, PermissionDenied,
// Unauthenticated, FailedPrecondition, Aborted, OutOfRange,
// ResourceExhausted) is Refused; anything else is Failed. It returns the
// status code name and message for Event.Code and Event.Reason.
func OutcomeOf(err error) (Outcome, string, string) {
	if err == nil {
		return OK, "", ""
	}
	st, ok := status.FromError(err)
	if !ok {
		code := codes.Unknown
		switch {
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		}
		return Failed, code.String(), err.Error()
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
		codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.ResourceExhausted:
		return Refused, st.Code().String(), st.Message()
	}
	return Failed, st.Code().String(), st.Message()
}

// WithError returns e with Outcome, Code and Reason set from err.
func (e Event) WithError(err error) Event {
	e.Outcome, e.Code, e.Reason = OutcomeOf(err)
	return e
}
