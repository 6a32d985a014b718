package server

import (
	"context"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WithAudit records the server's state-changing operations (joins,
// leaves, placements, takeovers, abandons, refused renewals) on a; nil (the
// default) records none. The caller keeps ownership: Stop does not close
// it, so close it (an *audit.Log flushes then) after Stop. When a is a
// prometheus.Collector (an *audit.Log is), it is registered with the
// server's metrics.
func (b *Builder) WithAudit(a audit.Auditor) *Builder {
	if l, ok := a.(*audit.Log); ok && l == nil {
		a = nil // Open returns a nil *Log for sink = "off"
	}
	b.audit = a
	return b
}

// setupAudit takes the Builder's auditor; it runs in Build once the
// metrics registry exists.
func (s *Server) setupAudit(b *Builder) error {
	s.audit = b.audit
	if c, ok := s.audit.(prometheus.Collector); ok {
		if err := s.prom.Register(c); err != nil {
			return err
		}
	}
	// The status page's ring of recent events sits in front of the
	// auditor from the start, before any provider can report to it.
	s.statusAuditRing()
	return nil
}

// audited records e with the outcome of err and returns err unchanged, so
// a handler can write `return nil, s.audited(ctx, e, err)`. A request
// refused as malformed (InvalidArgument) before naming a valid target is
// counted by the request metrics, not audited: use audited only once the
// target is known.
func (s *Server) audited(ctx context.Context, e audit.Event, err error) error {
	if s.audit != nil {
		s.audit.Record(ctx, e.WithError(err))
	}
	return err
}

// auditedHolder is audited for a holder's request (renew, abandon) whose
// parsing may have failed: a malformed request is not audited.
func (s *Server) auditedHolder(ctx context.Context, e audit.Event, err error) error {
	if status.Code(err) == codes.InvalidArgument {
		return err
	}
	return s.audited(ctx, e, err)
}

// nodeEvent is the event of kind about node id.
func nodeEvent(kind audit.Kind, id orbit.NodeID) audit.Event {
	return audit.Event{Kind: kind, Namespace: id.Namespace, Node: id.Key}
}

// leaseEvent is the event of kind about ref held (or to be held) by node.
func leaseEvent(kind audit.Kind, ref orbit.AddressableReference, node orbit.NodeID) audit.Event {
	return audit.Event{Kind: kind, Namespace: ref.Namespace, Reference: ref.String(), Node: node.Key}
}

// providerEvent audits what a provider did on its own: a composite
// provider's failover or failback (a registry the caller opened and passed
// with WithRegistry reports nothing here).
func (s *Server) providerEvent(e persistence.ProviderEvent) {
	if s.audit == nil {
		return
	}
	kind := audit.Failback
	if e.Kind == "failover" {
		kind = audit.Failover
	}
	s.audit.Record(context.Background(), audit.Event{Kind: kind, Outcome: audit.OK, Identity: "server",
		From: e.From, To: e.To, Reason: e.Reason, Count: int64(e.Generation)})
}
