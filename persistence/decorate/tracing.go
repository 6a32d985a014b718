package decorate

import (
	"context"
	"errors"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the persistence spans.
const TracerName = "github.com/orbit-go/orbit/persistence"

// Span attribute keys of a persistence span. Keys and prefixes are storage
// keys (addressable and node identities such as "a/<ns>/<type>/<key>"),
// never a value: a record's payload is not part of any span.
const (
	AttrProvider     = attribute.Key("orbit.persistence.provider")      // provider name
	AttrProviderType = attribute.Key("orbit.persistence.provider_type") // provider type (etcd, redis, memory, ...)
	AttrOperation    = attribute.Key("orbit.persistence.operation")     // driver operation (spanOps)
	AttrOutcome      = attribute.Key("orbit.persistence.outcome")       // "ok" or the portable error code (ErrorCode)
	AttrKey          = attribute.Key("orbit.persistence.key")           // the storage key of a one-key operation
	AttrPrefix       = attribute.Key("orbit.persistence.prefix")        // the prefix (or index label) of a listing
	AttrKeyCount     = attribute.Key("orbit.persistence.key_count")     // keys or operations of a batch or transaction
)

// OutcomeOK is the outcome of an operation that succeeded.
const OutcomeOK = "ok"

// spanOp is a traced driver operation: finer than the metrics' operations
// (a GetMany is its own span, counted as a get).
type spanOp int

const (
	spanGet spanOp = iota
	spanPut
	spanDelete
	spanList
	spanTxn
	spanGetMany
	spanApplyMany
	spanListIndex
	spanListExpiring
	numSpanOps
)

// spanOpNames are the values of AttrOperation; a span is named
// "persistence." + its operation.
var spanOpNames = [numSpanOps]string{"get", "put", "delete", "list", "txn", "get_many", "apply_many", "list_index", "list_expiring"}

// tracing is the span state of a traced Metrics: the tracer and, per
// operation, the span name and the attributes every span of it carries
// (built once, so that a span costs no attribute formatting).
type tracing struct {
	tracer trace.Tracer
	kind   trace.SpanKind
	names  [numSpanOps]string
	attrs  [numSpanOps][]attribute.KeyValue
}

// SetTracerProvider makes the store trace its operations with tp: every
// driver operation (get, put, delete, list, txn and the batch, index and
// expiry listings) that runs in a context carrying a span gets a child span
// with the provider's name and type, the operation, its outcome ("ok" or the
// error code) and the key, the prefix or the key count; errors other than
// not_found and conflict (outcomes, not failures) set the span's status to
// Error with the code only (a driver's message could name an endpoint).
// Operations without a span in their context (background sweeps, health)
// are not traced, so traces are the requests'. nil turns tracing off: then
// an operation costs one pointer comparison more than untraced.
//
// Call it before the store is used: it is not synchronised with operations.
func (m *Metrics) SetTracerProvider(tp trace.TracerProvider) {
	if tp == nil {
		m.tracing = nil
		return
	}
	typ := m.ops[0].labels[1]
	t := &tracing{tracer: tp.Tracer(TracerName), kind: trace.SpanKindClient}
	if _, ok := m.inner.(driver.InProcess); ok {
		t.kind = trace.SpanKindInternal
	}
	for op := range numSpanOps {
		t.names[op] = "persistence." + spanOpNames[op]
		t.attrs[op] = []attribute.KeyValue{AttrProvider.String(m.name), AttrProviderType.String(typ), AttrOperation.String(spanOpNames[op])}
	}
	m.tracing = t
}

// start begins the span of op as a child of ctx's span, with extra (the
// key, prefix or count) attribute; it returns a nil span when ctx carries
// no span (then nothing is allocated).
func (t *tracing) start(ctx context.Context, op spanOp, extra attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	ctx, sp := t.tracer.Start(ctx, t.names[op], trace.WithSpanKind(t.kind), trace.WithAttributes(t.attrs[op]...))
	if sp.IsRecording() {
		sp.SetAttributes(extra)
	}
	return ctx, sp
}

// end ends sp (nil: untraced) with the outcome of err.
func end(sp trace.Span, err error) {
	if sp == nil {
		return
	}
	if err == nil {
		sp.SetAttributes(AttrOutcome.String(OutcomeOK))
	} else {
		code := ErrorCode(err)
		sp.SetAttributes(AttrOutcome.String(code))
		if !errors.Is(err, driver.ErrNotFound) && !errors.Is(err, driver.ErrConflict) {
			sp.SetStatus(codes.Error, code)
		}
	}
	sp.End()
}

// The traced operations: the untraced ones of metrics.go inside a span.

func (m *Metrics) tracedGet(ctx context.Context, key string) (driver.Entry, error) {
	ctx, sp := m.tracing.start(ctx, spanGet, AttrKey.String(key))
	t := m.begin()
	e, err := m.inner.Get(ctx, key)
	m.done(m.ops[idxGet], t, err)
	end(sp, err)
	return e, err
}

func (m *Metrics) tracedPut(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	ctx, sp := m.tracing.start(ctx, spanPut, AttrKey.String(key))
	t := m.begin()
	v, err := m.inner.Put(ctx, key, value, cond)
	m.done(m.ops[idxPut], t, err)
	end(sp, err)
	return v, err
}

func (m *Metrics) tracedDelete(ctx context.Context, key string, cond driver.Condition) error {
	ctx, sp := m.tracing.start(ctx, spanDelete, AttrKey.String(key))
	t := m.begin()
	err := m.inner.Delete(ctx, key, cond)
	m.done(m.ops[idxDelete], t, err)
	end(sp, err)
	return err
}

func (m *Metrics) tracedList(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	ctx, sp := m.tracing.start(ctx, spanList, AttrPrefix.String(prefix))
	t := m.begin()
	p, err := m.inner.List(ctx, prefix, opts)
	m.done(m.ops[idxList], t, err)
	end(sp, err)
	return p, err
}

func (m *Metrics) tracedTxn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	ctx, sp := m.tracing.start(ctx, spanTxn, AttrKeyCount.Int(len(ops)))
	t := m.begin()
	v, err := m.txn.Txn(ctx, ops)
	m.done(m.ops[idxTxn], t, err)
	end(sp, err)
	return v, err
}

func (m *Metrics) tracedPutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	ctx, sp := m.tracing.start(ctx, spanPut, AttrKey.String(key))
	t := m.begin()
	v, err := m.put.PutWithOptions(ctx, key, value, cond, opts)
	m.done(m.ops[idxPut], t, err)
	end(sp, err)
	return v, err
}

func (m *Metrics) tracedGetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	ctx, sp := m.tracing.start(ctx, spanGetMany, AttrKeyCount.Int(len(keys)))
	t := m.begin()
	es, err := m.batch.GetMany(ctx, keys)
	m.done(m.ops[idxGet], t, err)
	end(sp, err)
	return es, err
}

func (m *Metrics) tracedApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	ctx, sp := m.tracing.start(ctx, spanApplyMany, AttrKeyCount.Int(len(ops)))
	t := m.begin()
	res, err := m.batch.ApplyMany(ctx, ops)
	m.done(m.ops[idxPut], t, err)
	end(sp, err)
	return res, err
}

func (m *Metrics) tracedListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	ctx, sp := m.tracing.start(ctx, spanListIndex, AttrPrefix.String(label))
	t := m.begin()
	p, err := m.index.ListIndex(ctx, label, opts)
	m.done(m.ops[idxList], t, err)
	end(sp, err)
	return p, err
}

func (m *Metrics) tracedListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	ctx, sp := m.tracing.start(ctx, spanListExpiring, AttrPrefix.String(prefix))
	t := m.begin()
	p, err := m.expiry.ListExpiring(ctx, prefix, before, limit)
	m.done(m.ops[idxList], t, err)
	end(sp, err)
	return p, err
}
